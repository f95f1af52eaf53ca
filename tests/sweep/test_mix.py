"""Two models served together (--mix) end to end: real Triton, real Locust master and workers, the `harness sweep`
and `harness ui` commands. Held to what the harness does not compute itself: Triton's own per-model statistics
(read here), the mix's weights as typed, and queueing theory on fixed_delay (one instance of ~10 ms: X = 1 / S,
latency = S for one user, and Little's law in flight = users).
"""

from __future__ import annotations

import json
import signal
import time
import urllib.parse
import urllib.request
from pathlib import Path

import jsonschema
import pytest

from harness.errors import INTERRUPTED_EXIT
from harness.record.model import Level
from harness.record.store import load_run
from harness.triton.control import ControlClient
from harness.triton.server import LocalServer
from helpers.processes import harness, harness_ui, stop_process

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "run.schema.json").read_text())
MODELS = ("fixed_delay", "identity")
MIX = ["--model", "fixed_delay,identity", "--mix", "fixed_delay=3,identity=1", "--instances", "cpu:1"]
LEVEL = ["--warmup", "1s", "--window", "2s", "--max-windows", "3", "--stability", "99%"]  # 3 windows, all counted
SHARE = 0.05  # the Done-when: served shares match the mix within 5 %


def mixed_sweep(triton: LocalServer, control: ControlClient, folder: Path, *args: str) -> tuple[Level, dict[str, int]]:
    """One level of the mix; its record, and what Triton itself served of each model during the whole command
    (both unloaded first: the sweep loads them afresh, their statistics from zero)."""
    _unload(control)
    server = ["--url", triton.endpoints.grpc_url, "--metrics-url", str(triton.endpoints.metrics_url)]
    result = harness("sweep", *server, "--output", folder, *MIX, *LEVEL, *args, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads((folder / "run.json").read_text())
    jsonschema.validate(data, SCHEMA)
    assert "server_metrics_note" not in data["metadata"]["settings"]  # the endpoint proven the server's, per model
    served = {m: control.statistics(m).success_count for m in MODELS}
    (curve,) = load_run(folder).curves
    assert curve.mix == {"fixed_delay": 3.0, "identity": 1.0} and curve.model == "fixed_delay"
    (level,) = curve.levels
    assert list(level.models) == list(MODELS) and level.failures == 0 and level.inconsistent == ()
    return level, served


def _unload(control: ControlClient) -> None:
    for model in MODELS:
        control.unload(model)
    deadline = time.monotonic() + 30
    while any(n in MODELS and s == "READY" for n, s in control.repository_models()) and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_open_loop_mix_serves_each_model_its_share_and_triton_counts_the_same(
    triton: LocalServer, control: ControlClient, tmp_path: Path, workers: str
) -> None:
    """80 req/s split 3:1 (60 on fixed_delay, 20 on identity), constant arrivals: below fixed_delay's ~97 req/s
    capacity, so each model is served what it is sent."""
    rate = ["--rate", "80", "--arrivals", "constant", "--workers", workers]
    level, served = mixed_sweep(triton, control, tmp_path / "open", *rate)
    for model, weight in (("fixed_delay", 0.75), ("identity", 0.25)):
        part = level.models[model]
        assert part.offered_rps == pytest.approx(80 * weight)
        # the served share, by the client's rates and by Triton's own count (over the whole command, warm-up
        # included). Rates, not the windows' request counts: each model's engine reports over its own spans, so
        # with 2 workers a 2 s window can count a few more of one model's requests (131 of 493 = 0.266 measured
        # once, at 20.06 of 80.14 req/s = 0.250)
        share = part.achieved_rps / level.achieved_rps
        assert abs(share - weight) <= SHARE * weight, (model, part.achieved_rps, level.achieved_rps)
        assert abs(served[model] / sum(served.values()) - weight) <= SHARE * weight, (model, served)
        assert part.achieved_rps == pytest.approx(80 * weight, rel=SHARE)
        # counts: the client's over the counted windows against Triton's over the same windows (the sweep's own
        # statistics), within one report interval of sends at each edge, as the one-model checks allow; and
        # Triton's there are part of what Triton served during the command, as read here
        assert part.server_requests is not None and 0 < part.server_requests <= served[model]
        assert abs(part.requests - part.server_requests) <= 2 * part.achieved_rps * 0.5 + 2, (model, part)
        assert part.inconsistent == ()
    assert sum(p.requests for p in level.models.values()) == level.requests  # the parts make up the whole


def test_a_closed_loop_mix_splits_the_users_by_weight(triton: LocalServer, control: ControlClient, tmp_path: Path) -> None:
    """4 users split 3:1 over 2 workers: 3 keep fixed_delay's one instance busy (X = 1/S whatever the users), 1
    loads identity; Little's law, from measured figures only, finds the users where the split put them."""
    level, served = mixed_sweep(triton, control, tmp_path / "closed", "--concurrency", "4", "--workers", "2")
    slow, fast = level.models["fixed_delay"], level.models["identity"]
    assert (slow.users, fast.users) == (3, 1)
    service_ms = slow.server_us.compute_infer / 1000.0 if slow.server_us else 0.0
    assert 9.5 <= service_ms <= 15.0  # fixed_delay's delay_ms is 10
    assert slow.achieved_rps == pytest.approx(1000.0 / service_ms, rel=0.15)
    for part, users in ((slow, 3), (fast, 1)):
        assert part.achieved_rps * part.latency_ms.mean / 1000.0 == pytest.approx(users, rel=0.1), part
        assert part.server_requests is not None and 0 < part.server_requests <= served[MODELS[users == 1]]
    assert slow.slo_met is True and fast.slo_met is True


def test_harness_ui_serves_a_mix_from_the_web_form(triton: LocalServer, control: ControlClient, tmp_path: Path) -> None:
    """`harness ui --model fixed_delay,identity --mix fixed_delay=1,identity=3`, 4 closed-loop users from the start
    form: fixed_delay gets one, so it runs unqueued (latency = its service time S, X = 1 / S: queueing theory, not
    the split's own figures), identity the other three; latency.json keeps each model's exact figures."""
    for model in MODELS:
        control.load(model)
    url = triton.endpoints.grpc_url
    mix = ("--mix", "fixed_delay=1,identity=3")
    with harness_ui(url, "fixed_delay,identity", 1, tmp_path, *mix) as (process, web):
        form = [("user_count", "4"), ("spawn_rate", "4"), ("host", url), ("user_classes", "TritonUser")]
        data = urllib.parse.urlencode(form).encode()
        with urllib.request.urlopen(urllib.request.Request(f"{web}/swarm", data=data), timeout=10) as response:
            assert json.load(response)["success"]
        time.sleep(4.0)
        with urllib.request.urlopen(f"{web}/latency.json", timeout=10) as response:
            document = json.load(response)
        assert stop_process(process, signal.SIGTERM) == INTERRUPTED_EXIT
    service_ms = control.statistics("fixed_delay").compute_infer_ns / control.statistics("fixed_delay").execution_count / 1e6
    slow, fast = document["models"]["fixed_delay"], document["models"]["identity"]
    assert slow["latency_ms"]["p50"] == pytest.approx(service_ms, abs=2.0)  # one user: no queue (two would double it)
    assert fast["requests"] > slow["requests"] > 0 and slow["failures"] == fast["failures"] == 0
    assert slow["requests"] + fast["requests"] == document["requests"]
