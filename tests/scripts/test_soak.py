"""scripts/soak.py's verdict, on hand-made phases (the soak itself runs for minutes: docs/benchmarks.md): memory that
grows by 10 % or more, requests Triton served but the client did not count beyond those in flight at the edges, a
count above Triton's, a failure or a failed check each fail the soak; its repository copy really has the delay
and instance count asked for."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "soak.py"


@pytest.fixture(scope="module")
def soak() -> ModuleType:
    spec = importlib.util.spec_from_file_location("soak_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def phase(soak: ModuleType, served: int = 30_000, **level: Any) -> Any:
    """A closed-loop phase at concurrency 2, 500 req/s: it may lose up to 2 x 2 users + 500 (a second) + 2."""
    values = {"concurrency": 2, "achieved_rps": 500.0, "requests": 30_000, "failures": 0, "flags": [], "inconsistent": []}
    values["latency_ms"] = {"mean": 4.0}
    values.update(level)
    return soak.Phase(
        "closed", [], 500.0, level=values, triton_successes=served, master_mb=(100.0, 105.0), workers_mb=((80.0, 84.0),)
    )


def test_a_flat_soak_that_lost_nothing_passes(soak: ModuleType) -> None:
    assert soak.judge(phase(soak), 0) == ()
    assert soak.judge(phase(soak, served=30_000 + 506), 0) == ()  # in flight at the start and stop: the bound


def test_each_criterion_fails_the_soak(soak: ModuleType) -> None:
    grown = phase(soak)
    grown.workers_mb = ((80.0, 88.0),)  # +10 %
    assert soak.judge(grown, 0) == ("worker 0 memory 80.0 -> 88.0 MB",)
    assert soak.judge(phase(soak, served=30_000 + 507), 0) == ("client counted 30000, Triton 30507",)
    assert soak.judge(phase(soak, served=29_999), 0) == ("client counted 30000, Triton 29999",)
    assert soak.judge(phase(soak, failures=1, first_error="UNAVAILABLE"), 0)[0] == "1 failed requests: UNAVAILABLE"
    assert soak.judge(phase(soak, inconsistent=["server-count: ..."]), 0) == ("flags [], failed checks ['server-count: ...']",)
    assert soak.judge(phase(soak), 5) == ("the sweep exited with 5",)


def test_the_repository_copy_has_the_delay_and_instances_asked_for(soak: ModuleType, tmp_path: Path) -> None:
    config = (soak.repository_with_delay(tmp_path, 4.0, 3) / "fixed_delay" / "config.pbtxt").read_text()
    assert 'key: "delay_ms" value: { string_value: "4" }' in config
    assert "instance_group [ { kind: KIND_CPU count: 3 } ]" in config
