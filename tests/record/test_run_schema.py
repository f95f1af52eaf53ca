"""docs/run.schema.json describes every section a run.json can hold, the `latency` and `search` ones included.

Unit level: a run with every section, written by the run store, validates; each section's fields are the record
model's fields (a field added to the model and not to the schema fails here); and the sections constrain their
values. The real `harness latency` and `harness search` runs are validated in tests/cli (test_latency.py,
test_search.py), the sweep's in tests/sweep/test_sweep.py.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness.record.model import (
    Agreement,
    FleetChoice,
    FleetPart,
    HeldOut,
    LatencyRow,
    PlanCandidate,
    PlanOption,
    PlanResult,
    PlanStep,
    QueueFit,
    Run,
    SearchResult,
    SearchRow,
)
from harness.record.store import RUN_FILE, save_run
from helpers import factories as f

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "run.schema.json").read_text())


def full_run() -> Run:
    """A run with curves, a latency table (one measured and one skipped row) and a search section."""
    latency = (
        LatencyRow("resnet", "float", "triton", "CPU", 1, calls=10, median_ms=4.0, p90_ms=4.5, min_ms=3.9, max_ms=6.0),
        LatencyRow("resnet_int8", "int8", "in-process", "GPU", 2, skipped_reason="no GPU on this host"),
    )
    search = SearchResult(
        mode="quick",
        configurations=(
            SearchRow(
                1,
                "cpu:2x1 mbs8 db500us",
                "CPU",
                capacity_rps=250.0,
                slo_latency_ms=40.0,
                server_cpu_cores=1.9,
                cost_per_million=0.22,
            ),
            SearchRow(2, "gpu:1", "GPU", skipped_reason="skipped"),
        ),
        best_cpu="cpu:2x1 mbs8 db500us",
        best_gpu=None,
        elapsed_s=12.5,
        budget_s=60.0,
        stopped="budget",
    )
    rate_curves = f.rate_run().curves  # open-loop levels: send lag and asked arrivals CV
    run = dataclasses.replace(f.cpu_gpu_run(), latency=latency, search=search, plan=f.plan_run().plan)
    return dataclasses.replace(run, curves=rate_curves + run.curves)


def written(run: Run, folder: Path) -> dict[str, Any]:
    save_run(run, folder)
    return json.loads((folder / RUN_FILE).read_text())


def test_a_run_with_every_section_validates(tmp_path: Path) -> None:
    data = written(full_run(), tmp_path)
    assert len(data["latency"]) == 2 and data["search"]["mode"] == "quick" and len(data["plan"]["steps"]) == 4
    jsonschema.validate(data, SCHEMA)


def test_a_run_without_the_sections_validates(tmp_path: Path) -> None:
    data = written(f.rate_run(), tmp_path)
    assert data["latency"] == [] and data["search"] is None and data["plan"] is None
    jsonschema.validate(data, SCHEMA)


@pytest.mark.parametrize(
    ("definition", "model"),
    [
        ("latency_row", LatencyRow),
        ("agreement", Agreement),
        ("search", SearchResult),
        ("search_row", SearchRow),
        ("plan", PlanResult),
        ("plan_step", PlanStep),
        ("fleet_choice", FleetChoice),
        ("fleet_part", FleetPart),
        ("plan_option", PlanOption),
        ("plan_candidate", PlanCandidate),
        ("queue_fit", QueueFit),
        ("held_out", HeldOut),
    ],
)
def test_each_section_lists_exactly_the_model_fields(definition: str, model: type) -> None:
    fields = {field.name for field in dataclasses.fields(model)}
    schema = SCHEMA["$defs"][definition]
    assert set(schema["properties"]) == fields, f"docs/run.schema.json $defs/{definition} is out of date"
    assert set(schema["required"]) == fields  # asdict writes every field, None included


def test_every_field_of_a_run_is_in_the_schema() -> None:
    assert set(SCHEMA["properties"]) == {field.name for field in dataclasses.fields(Run)}


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("latency row precision", lambda d: d["latency"][0].update(precision="fp8")),
        ("latency row path", lambda d: d["latency"][0].update(path="http")),
        ("latency row without median", lambda d: d["latency"][0].pop("median_ms")),
        ("latency row batch 0", lambda d: d["latency"][0].update(batch_size=0)),
        ("latency row unknown key", lambda d: d["latency"][0].update(mean_ms=4.0)),
        ("latency not a list", lambda d: d.update(latency={})),
        ("search mode", lambda d: d["search"].update(mode="fast")),
        ("search without best_gpu", lambda d: d["search"].pop("best_gpu")),
        ("search row rank 0", lambda d: d["search"]["configurations"][0].update(rank=0)),
        ("search row kind", lambda d: d["search"]["configurations"][0].update(kind="TPU")),
        ("search row negative capacity", lambda d: d["search"]["configurations"][0].update(capacity_rps=-1.0)),
        ("search not an object", lambda d: d.update(search=[])),
        ("plan version", lambda d: d["plan"].update(version=2)),
        ("plan option", lambda d: d["plan"]["options"][0].update(option="TPU only")),
        ("plan fleet of no replicas", lambda d: d["plan"]["steps"][0]["choices"][0]["parts"][0].update(replicas=0)),
        ("plan negative headroom", lambda d: d["plan"].update(headroom=-0.2)),
        ("plan fit of no servers", lambda d: d["plan"]["candidates"][0]["fit"].update(servers=0)),
        ("plan held-out metric", lambda d: d["plan"]["candidates"][0]["held_out"][0].update(metric="p42")),
        ("plan not an object", lambda d: d.update(plan=[])),
        ("send lag without its p99", lambda d: d["curves"][0]["levels"][0]["send_lag_us"].pop("p99")),
        ("negative send lag", lambda d: d["curves"][0]["levels"][0]["send_lag_us"].update(max=-1.0)),
    ],
)
def test_the_sections_constrain_their_values(where: str, change: Any, tmp_path: Path) -> None:
    data = written(full_run(), tmp_path)
    change(data)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, SCHEMA)
