"""Open-loop load against a model with a known service time (fixed_delay: ~10 ms per request, one instance).

Below capacity the achieved rate equals the offered rate; above it, latency measured from the intended send
time grows with the queue, while a closed loop at the same instance shows no such growth.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.triton.control import ControlClient, make_inputs
from harness.triton.request import decode_response, infer_method, open_channel, serialize_request
from helpers.processes import harness

ROOT = Path(__file__).resolve().parents[2]
QUICK = ["--warmup", "1s", "--window", "1s", "--max-windows", "4", "--workers", "1", "--instances", "cpu:1"]


def sweep(triton_url: str, folder: Path, *args: str) -> dict:
    result = harness("sweep", "--url", triton_url, "--output", folder, *QUICK, *args, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads((folder / "run.json").read_text())


@pytest.mark.integration
def test_open_loop_rates_below_and_above_capacity(triton_url: str, tmp_path: Path) -> None:
    # ~0.4x and ~1.6x one instance's capacity (1 / ~10.3 ms); the service time S itself is read from Triton's
    # compute time at the lower level, which is what the latencies are held to.
    low, high = 40, 160
    run = sweep(triton_url, tmp_path / "open", "--model", "fixed_delay", "--rate", f"{low},{high}")
    below, above = run["curves"][0]["levels"]
    service_ms = below["server_us"]["compute_infer"] / 1000.0
    assert 0.35 * 1000.0 / service_ms <= low <= 0.45 * 1000.0 / service_ms  # the rates are where they are meant
    assert below["mode"] == above["mode"] == "rate" and below["concurrency"] is None
    assert below["offered_rps"] == low and above["offered_rps"] == high
    # below capacity: the server keeps up, achieved == offered, latency ~ service time
    assert below["achieved_rps"] == pytest.approx(low, rel=0.15)
    assert below["latency_ms"]["p50"] < 3 * service_ms
    assert "below-offered-rate" not in below["flags"]
    # above capacity: the server answers at its capacity, the queue grows, and so does latency from intent
    assert above["achieved_rps"] < 0.9 * high and "below-offered-rate" in above["flags"]
    assert above["achieved_rps"] == pytest.approx(1000.0 / service_ms, rel=0.15)
    assert above["latency_ms"]["p50"] > 5 * service_ms
    assert above["latency_ms"]["p99"] > 6 * service_ms


@pytest.mark.integration
def test_late_sends_are_counted_when_the_generator_cannot_keep_up(triton_url: str, tmp_path: Path) -> None:
    # 30,000 req/s from one Python process on a shared 2-core machine: far beyond what it can send on time.
    run = sweep(triton_url, tmp_path / "late", "--model", "identity", "--rate", "30000")
    level = run["curves"][0]["levels"][0]
    assert level["late_sends"] > 0 and level["max_send_lag_ms"] > 2.0
    # late by more than 10 ms at most (generator-late), or most sends behind their spacing (send-lag): either way
    # the generator, not the server, limited the level
    assert {"generator-late", "send-lag"} & set(level["flags"]) and level["client_saturated"] is True


def rate_auto(triton_url: str, folder: Path, model: str, slo: str) -> dict:
    """The `--rate auto` curve, checked for what every search must show: its capacity is one of its probes."""
    curve = sweep(triton_url, folder, "--model", model, "--rate", "auto", "--slo", slo)["curves"][0]
    assert curve["capacity"]["at_rate"] in [p["offered_rps"] for p in curve["probes"]]
    return curve


def probes_seen(curve: dict) -> list[tuple[float, float, float]]:
    return [(p["offered_rps"], p["achieved_rps"], p["latency_ms"]["p99"]) for p in curve["probes"]]


@pytest.mark.integration
def test_rate_auto_finds_one_over_the_service_time(triton_url: str, tmp_path: Path) -> None:
    """On fixed_delay (one instance, ~10 ms per request, deterministic) `--rate auto` at p99 60 ms lands within
    15 % of queueing theory (one instance serves 1 / service time, Triton's compute time) and of what a
    closed-loop sweep sustains at the same SLO (one user keeps the one instance busy)."""
    slo = "p99=60ms"
    closed = sweep(triton_url, tmp_path / "closed", "--model", "fixed_delay", "--concurrency", "1", "--slo", slo)
    reference = closed["curves"][0]["capacity"]["max_rps_within_slo"]
    curve = rate_auto(triton_url, tmp_path / "auto", "fixed_delay", slo)
    found = curve["capacity"]["max_rps_within_slo"]
    service_ms = closed["curves"][0]["levels"][0]["server_us"]["compute_infer"] / 1000.0
    assert found == pytest.approx(1000.0 / service_ms, rel=0.15), probes_seen(curve)
    assert found == pytest.approx(reference, rel=0.15), probes_seen(curve)
    assert curve["probes"][0]["offered_rps"] > 0.3 * reference


# Open-loop capacity at a p99 SLO is held below the open loop's saturated throughput, measured by a separate sweep at
# 1.5x what 64 closed-loop users get (the server falls behind and serves all it can): no open loop meets an SLO above
# that. How far below depends on the machine: near saturation an open loop's p99 is set by stalls (a few ms of CPU
# taken by the generator or the OS leave a queue that takes rho / (1 - rho) times as long to drain), and mnist_cnn's
# dynamic batching serves more under overload (full queue, big batches) than with a short queue. The closed loop is
# no reference on this 2-core machine: its throughput reached 4,300-5,500 req/s, the open loop's 3,800-5,300 (its
# generator takes more of the shared CPU: client CPU 28-31 % against 17-24 %), and its capacity at the SLO jumps
# with the doubling concurrency (4,130 at 32 users, 4,858 at 64). Measured here (2026-11-29), found / saturated:
# 0.62, 0.77, 0.85, 0.88, 0.90, 0.97 at p99 20 ms; 0.75, 0.80 at 50 ms. So this catches a search that lands at half
# or less (one that halves on noise, or starts far below: also the first-probe bound); bisecting to the boundary is
# pinned by the unit tests (tests/sweep/test_rules.py) and fixed_delay's theory bound above. (A CI run once found
# 0.69 of the closed loop's SLO capacity: its probes after an overloaded one started on that one's backlog, since
# fixed by the runner's queue drain, tests/sweep/test_queue_drain.py.) Above 1: the search's probes passed at a
# rate the saturation sweep did not reach, so that sweep was held back (1.07 in a full run while a compiler ran on
# the same 2 cores); 1.25 still catches a search that reports a rate the server cannot serve.
OPEN_LOOP_SHARE = (0.5, 1.25)
OPEN_LOOP_SLO = "p99=50ms"


@pytest.mark.integration
def test_rate_auto_on_a_fast_cpu_bound_model_lands_below_saturation_and_near_it(triton_url: str, tmp_path: Path) -> None:
    short = ("--model", "mnist_cnn", "--window", "0.5s")
    closed = sweep(triton_url, tmp_path / "closed", *short, "--concurrency", "64")["curves"][0]["levels"][0]
    over = sweep(triton_url, tmp_path / "over", *short, "--rate", f"{1.5 * closed['achieved_rps']:.0f}")
    (saturation,) = over["curves"][0]["levels"]
    assert "below-offered-rate" in saturation["flags"]  # the server fell behind: it served all it could
    curve = rate_auto(triton_url, tmp_path / "auto", "mnist_cnn", OPEN_LOOP_SLO)
    found, saturated = curve["capacity"]["max_rps_within_slo"], saturation["achieved_rps"]
    low, high = OPEN_LOOP_SHARE
    assert low * saturated <= found <= high * saturated, (saturated, probes_seen(curve))
    assert curve["probes"][0]["offered_rps"] > 0.3 * saturated


@pytest.mark.integration
@pytest.mark.parametrize(
    "model",
    ["mnist_cnn", "mnist_cnn_int8", "sentiment", pytest.param("resnet50", marks=pytest.mark.heavy), "identity"],
)
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


def bursty_intervals(path: Path) -> Path:
    """perf_analyzer's --request-intervals format: bursts of 5 sends 1 ms apart, every 50 ms (100 req/s, CV 1.8)."""
    path.write_text("\n".join(["1000"] * 4 + ["46000"]) + "\n")
    return path


@pytest.mark.integration
@pytest.mark.parametrize("shape", ["gamma", "schedule"])
def test_bursty_and_replayed_arrivals_are_sent_with_their_cv(triton_url: str, tmp_path: Path, shape: str) -> None:
    """`--arrivals gamma:3 --rate 200` and `--schedule FILE` (at the file's own rate): the CV of the sends the
    workers actually made is within 20 % of the asked one (gamma's CV, or the file's gaps' own, computed here),
    and the level is not flagged. Four instances of fixed_delay (~10 ms each) keep up with either."""
    if shape == "gamma":
        args, asked, rate = ["--arrivals", "gamma:3", "--rate", "200"], 3.0, 200.0
    else:
        gaps = [1.0] * 4 + [46.0]
        mean = sum(gaps) / len(gaps)
        asked = (sum((g - mean) ** 2 for g in gaps) / len(gaps)) ** 0.5 / mean
        args, rate = ["--schedule", str(bursty_intervals(tmp_path / "intervals.txt"))], 100.0
    quick = [a if a != "cpu:1" else "cpu:4" for a in QUICK] + ["--window", "2s"]
    result = harness("sweep", "--url", triton_url, "--output", tmp_path / "run", *quick, "--model", "fixed_delay", *args)
    assert result.returncode == 0, result.stderr[-2000:]
    (level,) = json.loads((tmp_path / "run" / "run.json").read_text())["curves"][0]["levels"]
    assert level["offered_rps"] == pytest.approx(rate)
    assert level["asked_arrivals_cv"] == pytest.approx(asked, abs=1e-3)
    assert level["arrivals_cv"] == pytest.approx(asked, rel=0.2)
    assert "arrivals-cv-off" not in level["flags"] and level["dropped"] == 0
    assert level["send_lag_us"]["p50"] <= level["send_lag_us"]["p99"] <= level["send_lag_us"]["max"]
