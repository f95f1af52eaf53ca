"""Goodput per level: requests per second that succeeded within the SLO limit (AIPerf's definition), counted exactly
from the histograms of the counted windows, failures never good.

The unit tests build worker windows through the worker's own counters (LoadCounters: what the engines' results
become) and merge them as the master does; the integration test serves a model whose every request takes the
time its input says (or fails where the input is negative) and sends a known cycle of inputs, so the share of good
requests is known before the sweep runs: an independent count, not the histogram's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.record.model import InstanceGroup, Slo
from harness.record.server_statistics import StatsSnapshot
from harness.sweep.runner import summarize_level
from harness.sweep.spec import SweepSpec
from helpers.factories import recorded_window
from helpers.processes import harness
from helpers.recorder import serving

SPEC = SweepSpec(model="m", instances=(InstanceGroup(),), slo=Slo("p99", 100.0))


def test_a_level_counts_its_goodput_over_the_counted_windows_only() -> None:
    """Four 1 s windows; the last three count: 80 good, 15 slow (150 ms > 100) and 5 fast failures in each, so 240 of
    300 requests at 100 req/s: goodput 80 req/s. The first window (every request good) is not counted."""
    counted = [(5.0, False)] * 80 + [(150.0, False)] * 15 + [(2.0, True)] * 5
    tallies = [recorded_window([(5.0, False)] * 100), *(recorded_window(counted) for _ in range(3))]
    snapshots = [StatsSnapshot(success_count=95 * i) for i in range(5)]
    level = summarize_level(SPEC, 1, None, tallies, snapshots)
    assert (level.achieved_rps, level.requests, level.failures) == (100.0, 300, 15)
    assert level.goodput_rps == 80.0
    assert summarize_level(SPEC, 1, None, tallies[:1], snapshots[:2]).goodput_rps == 100.0


def test_goodput_is_not_the_achieved_rate_read_off_a_percentile() -> None:
    """p99 within the limit says 'at least 99 % good', not how many: 2 slow of 299 leave 297 good."""
    tallies = [recorded_window([(5.0, False)] * 99 + [(150.0, False)] * (1 if i else 0)) for i in range(3)]
    level = summarize_level(SPEC, 1, None, tallies, [StatsSnapshot()] * 4)
    assert level.latency_ms.p99 <= SPEC.slo.limit_ms and level.requests == 299
    assert level.goodput_rps == round(299 / 3 * 297 / 299, 3)


# ---- against the server --------------------------------------------------------------------------------------------

# A model that sleeps as many ms as its input says and fails where the input is negative: with the input cycle
# below and one user, every 4 requests are 2 fast ones, one slow (40 ms) and one that fails at once.
DELAY_BY_INPUT = """
import time

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            value = pb_utils.get_input_tensor_by_name(request, "INPUT0").as_numpy()
            delay_ms = float(value.reshape(-1)[0])
            if delay_ms < 0:
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError("refused: negative input")))
                continue
            time.sleep(delay_ms / 1000.0)
            responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("OUTPUT0", value)]))
        return responses
"""
CYCLE_MS = (1.0, 40.0, 1.0, -1.0)  # per request, in turn: good, slow, good, failed
LIMIT_MS = 20.0


@contextmanager
def delay_by_input(url: str) -> Iterator[None]:
    """The model above, served as fixed_delay (same input): one instance, requests executed one at a time."""
    config = {
        "name": "fixed_delay",
        "backend": "python",
        "max_batch_size": 8,
        "input": [{"name": "INPUT0", "data_type": "TYPE_FP32", "dims": [1]}],
        "output": [{"name": "OUTPUT0", "data_type": "TYPE_FP32", "dims": [1]}],
        "instance_group": [{"kind": "KIND_CPU", "count": 1}],
    }
    with serving(url, config, DELAY_BY_INPUT):
        yield


@pytest.mark.integration
def test_goodput_matches_the_share_of_good_requests_the_inputs_set(triton_url: str, tmp_path: Path) -> None:
    """One user sends the input cycle in turn: of every 4 requests 2 succeed within 20 ms (1 ms + overhead), one
    takes 40 ms and one fails at once. So goodput is half the achieved rate, within one request of the cycle's
    phase at each end of the counted windows, and the fast failure is not counted as good."""
    data = tmp_path / "cycle.json"
    data.write_text(json.dumps({"data": [{"INPUT0": [ms]} for ms in CYCLE_MS]}))
    with delay_by_input(triton_url):
        result = harness(
            "sweep", "--url", triton_url, "--model", "fixed_delay", "--input-data", data, "--concurrency", "1",
            "--slo", f"p99={LIMIT_MS:g}ms", "--warmup", "1s", "--window", "1s", "--max-windows", "3",
            "--workers", "1", "--output", tmp_path / "run", timeout=180,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    (level,) = json.loads((tmp_path / "run" / "run.json").read_text())["curves"][0]["levels"]
    requests = level["requests"]
    assert requests >= 100 and level["failures"] == pytest.approx(requests / 4, abs=1)
    good = level["goodput_rps"] / level["achieved_rps"] * requests
    assert good == pytest.approx(requests / 2, abs=2)  # two phase edges, each at most one good request off
    assert level["latency_ms"]["max"] > LIMIT_MS > level["latency_ms"]["p50"]
