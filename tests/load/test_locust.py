"""Real Locust processes against the real Triton: counts, merges, failures, overlap, open loop, `harness ui`.

Locust is only ever run as a subprocess: importing it here would monkey-patch pytest's process for gevent.
Locust's own final figures are read from --json-file (written at shutdown); its CSV is rewritten only once a
second and may miss the last second, so exact comparisons never use it.
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.net import LOOPBACK, free_port
from harness.record.model import InstanceGroup
from harness.triton.control import ControlClient
from harness.triton.repository import read_config, resolve_repository
from harness.triton.server import LocalServer
from harness.triton.variants import Variant, load_variant
from helpers.processes import RUN_TIMEOUT_S, command_lines, harness_ui, stop_process

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CLOSED_LOOP = ROOT / "loadtests" / "triton_grpc.py"
OPEN_LOOP = ROOT / "loadtests" / "triton_grpc_open_loop.py"
REPOSITORY = resolve_repository(None)
LOCUST = [sys.executable, "-m", "locust"]
INTERRUPTED = 130  # harness ui stopped by SIGTERM or Ctrl-C


def locust_args(locustfile: Path, url: str, model: str, out: Path, *extra: str) -> list[str]:
    return [
        *LOCUST,
        "-f",
        str(locustfile),
        "--host",
        url,
        "--model",
        model,
        "--latency-file",
        str(out / "lat.json"),
        "--json-file",
        str(out / "locust"),
        "--csv",
        str(out / "stats"),
        *extra,
    ]


def run_locust(args: list[str], out: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, check=False, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=out)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr[-3000:]
    return result


def ours(out: Path) -> dict[str, Any]:
    return json.loads((out / "lat.json").read_text())


def locust_final(out: Path) -> dict[str, Any]:
    """Locust's own final figures for the one request name (from --json-file, written at shutdown)."""
    entries = json.loads((out / "locust.json").read_text())
    assert len(entries) == 1, entries
    return entries[0]


def csv_aggregated(out: Path) -> dict[str, str]:
    with open(out / "stats_stats.csv", newline="") as handle:
        return next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")


def assert_ordered(latency: dict[str, float]) -> None:
    keys = ("p50", "p90", "p95", "p99", "p999", "max")
    values = [latency[k] for k in keys]
    assert values == sorted(values), dict(zip(keys, values, strict=False))
    assert 0 < latency["min"] <= latency["p50"]


@pytest.mark.parametrize("engine", ["native", "python"])
def test_headless_single_process_counts_agree_with_locust(
    engine: str, triton_url: str, control: ControlClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_LEAN_ENGINE", engine)  # the compiled engine and its Python fallback alike
    control.load("mnist_cnn")
    result = run_locust(
        locust_args(CLOSED_LOOP, triton_url, "mnist_cnn", tmp_path, "--headless", "-u", "4", "-r", "4", "-t", "4s"), tmp_path
    )
    assert f"load engine: {engine}" in result.stderr
    doc, theirs = ours(tmp_path), locust_final(tmp_path)
    assert doc["requests"] > 0 and doc["failures"] == 0
    assert doc["histogram_count"] == doc["requests"] == theirs["num_requests"]
    assert 0 < int(csv_aggregated(tmp_path)["Request Count"]) <= doc["requests"]  # the CSV lags by up to 1 s
    latency = doc["latency_ms"]
    assert_ordered(latency)
    assert latency["min"] >= theirs["min_response_time"] - 1.0
    assert latency["max"] <= theirs["max_response_time"] + 1.0


def test_master_with_two_workers_merges_exactly(triton_url: str, control: ControlClient, tmp_path: Path) -> None:
    control.load("mnist_cnn")
    port = free_port()
    master = subprocess.Popen(
        locust_args(
            CLOSED_LOOP,
            triton_url,
            "mnist_cnn",
            tmp_path,
            "--headless",
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            "5s",
            "--master",
            "--expect-workers",
            "2",
            "--master-bind-host",
            LOOPBACK,
            "--master-bind-port",
            str(port),
        ),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    worker_args = [
        *LOCUST,
        "-f",
        str(CLOSED_LOOP),
        "--worker",
        "--master-host",
        LOOPBACK,
        "--master-port",
        str(port),
        "--latency-file",
        str(tmp_path / "lat.json"),
    ]
    workers = [
        subprocess.Popen(worker_args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)
    ]
    try:
        output, _ = master.communicate(timeout=RUN_TIMEOUT_S)
        for worker in workers:
            assert worker.wait(timeout=30) == 0
    finally:
        for process in (master, *workers):
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    assert master.returncode == 0 and "Traceback" not in output, output[-3000:]
    doc = ours(tmp_path)
    own = [json.loads((tmp_path / f"lat.worker-{w.pid}.json").read_text()) for w in workers]
    assert len(doc["workers"]) == 2 and all(o["requests"] > 0 for o in own)
    assert doc["requests"] == sum(o["requests"] for o in own) == locust_final(tmp_path)["num_requests"]
    assert doc["histogram_count"] == sum(o["histogram_count"] for o in own) == doc["requests"]
    assert doc["failures"] == sum(o["failures"] for o in own) == 0
    assert_ordered(doc["latency_ms"])


@pytest.mark.parametrize("engine", ["native", "python"])
def test_unknown_model_counts_failures_with_tritons_message(
    engine: str, triton_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_LEAN_ENGINE", engine)
    result = run_locust(
        locust_args(CLOSED_LOOP, triton_url, "no_such_model", tmp_path, "--headless", "-u", "2", "-r", "2", "-t", "3s"),
        tmp_path,
    )
    assert result.returncode == 1  # Locust's exit code when requests failed
    doc = ours(tmp_path)
    assert doc["requests"] > 0 and doc["failures"] == doc["requests"] == locust_final(tmp_path)["num_failures"]
    with open(tmp_path / "stats_failures.csv", newline="") as handle:
        errors = [row["Error"] for row in csv.DictReader(handle)]
    assert errors and all("unknown model" in error and "no_such_model" in error for error in errors), errors


def test_users_in_one_process_overlap_their_requests(triton_url: str, control: ControlClient, tmp_path: Path) -> None:
    """Closed loop, as many server instances as users: nothing queues, so X = users / (S + client overhead).

    S is fixed_delay's delay_ms (its service time, read from the repository); one user at a time could never
    exceed 1 / S. Four overlapping users approach 4 / S and can never pass it."""
    users = 4
    service_s = float(read_config(REPOSITORY, "fixed_delay")["parameters"]["delay_ms"]["string_value"]) / 1000.0
    load_variant(control, "fixed_delay", Variant(InstanceGroup("CPU", users)))  # 4 requests at once on the server
    try:
        run_locust(
            locust_args(
                CLOSED_LOOP, triton_url, "fixed_delay", tmp_path, "--headless", "-u", str(users), "-r", "100", "-t", "4s"
            ),
            tmp_path,
        )
    finally:
        control.load("fixed_delay")
    doc, theirs = ours(tmp_path), locust_final(tmp_path)
    assert doc["failures"] == 0 and doc["latency_ms"]["min"] >= 1000.0 * service_s
    rate = doc["requests"] / (theirs["last_request_timestamp"] - theirs["start_time"])
    ceiling = users / service_s
    # Above 0.6 x the ceiling takes at least three users in flight at once (two could reach 0.5 x at most).
    assert 0.6 * ceiling < rate <= 1.02 * ceiling, (rate, ceiling)


def test_open_loop_keeps_the_target_rate(triton_url: str, control: ControlClient, tmp_path: Path) -> None:
    control.load("identity")
    run_locust(
        locust_args(
            OPEN_LOOP, triton_url, "identity", tmp_path, "--headless", "-u", "2", "-r", "2", "-t", "4s", "--target-rps", "50"
        ),
        tmp_path,
    )
    doc, theirs = ours(tmp_path), locust_final(tmp_path)
    duration = theirs["last_request_timestamp"] - theirs["start_time"]
    assert 0.7 * 50 * duration <= doc["requests"] <= 1.3 * 50 * duration, (doc["requests"], duration)
    assert doc["failures"] == 0
    assert sum(w["dropped"] for w in doc["workers"].values()) == 0


def test_open_loop_without_a_target_rate_says_so_and_sends_nothing(
    triton_url: str, control: ControlClient, tmp_path: Path
) -> None:
    """Never an idle user that looks busy: headless, each open-loop user logs why and stops."""
    control.load("identity")
    result = run_locust(
        locust_args(OPEN_LOOP, triton_url, "identity", tmp_path, "--headless", "-u", "2", "-r", "2", "-t", "2s"), tmp_path
    )
    refusals = [line for line in result.stderr.splitlines() if "TritonOpenLoopUser needs a target rate" in line]
    assert len(refusals) == 2, result.stderr[-3000:]  # one per user
    assert ours(tmp_path)["requests"] == 0
    assert "Traceback" not in result.stderr


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def _listening_addresses(process: psutil.Process) -> set[str]:
    return {c.laddr.ip for c in process.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN}


def test_harness_ui_starts_workers_listens_on_loopback_and_stops_on_ctrl_c(
    triton_url: str, control: ControlClient, tmp_path: Path
) -> None:
    control.load("mnist_cnn")
    with harness_ui(triton_url, "mnist_cnn", 2, tmp_path) as (process, web):
        stats = get_json(f"{web}/stats/requests")
        assert stats["worker_count"] == 2 and len(stats["workers"]) == 2
        with urllib.request.urlopen(f"{web}/latency", timeout=10) as page:  # the old page's address: the tab
            assert page.url == f"{web}/?tab=harness"
        children = psutil.Process(process.pid).children(recursive=True)
        assert len(children) == 3  # the master and two workers
        master = next(c for c, line in command_lines(children) if "--master" in line.split())
        # Web UI and worker port: nothing but loopback unless asked (--web-host, --master-bind).
        assert _listening_addresses(master) == {LOOPBACK}
        assert stop_process(process, signal.SIGINT) == INTERRUPTED
    assert not [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


def post_form(url: str, fields: list[tuple[str, str]]) -> Any:
    data = urllib.parse.urlencode(fields).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as response:
        return json.load(response)


def measured_rate(web: str) -> float:
    """The merged request rate over 4 s of a running test (after 1 s), which is then stopped; none failed."""
    time.sleep(1.0)
    first = get_json(f"{web}/latency.json")["requests"]
    time.sleep(4.0)
    second = get_json(f"{web}/latency.json")
    urllib.request.urlopen(urllib.request.Request(f"{web}/stop", data=b""), timeout=10).close()
    assert second["failures"] == 0
    return (second["requests"] - first) / 4.0


def test_web_ui_form_checks_the_arrivals_and_replays_a_schedule_at_its_own_rate(
    triton_url: str, control: ControlClient, tmp_path: Path
) -> None:
    """The start form's `arrivals` and `schedule` fields: a bad one is refused with its one-line reason before any
    user starts; a good schedule file needs no Target rps and is replayed at its own rate (60 req/s here)."""
    control.load("identity")
    intervals = tmp_path / "intervals.txt"
    intervals.write_text("\n".join(["5000", "5000", "40000"] * 10) + "\n")  # 3 sends per 50 ms: 60 req/s, bursty
    form = [("user_count", "2"), ("spawn_rate", "2"), ("host", triton_url), ("user_classes", "TritonOpenLoopUser")]
    with harness_ui(triton_url, "identity", 1, tmp_path) as (process, web):
        bad = post_form(f"{web}/swarm", [*form, ("target_rps", "40"), ("arrivals", "gamma:0")])
        assert not bad["success"] and "--arrivals 'gamma:0' is not an arrival process" in bad["message"]
        bad = post_form(f"{web}/swarm", [*form, ("schedule", str(tmp_path / "missing.txt"))])
        assert not bad["success"] and "missing.txt: cannot read it" in bad["message"]
        assert get_json(f"{web}/latency.json")["requests"] == 0
        started = post_form(f"{web}/swarm", [*form, ("target_rps", "0"), ("schedule", str(intervals))])
        assert started["success"], started
        rate = measured_rate(web)
        assert 45 <= rate <= 75, rate  # 60 req/s from the file (reports arrive each second)
        assert stop_process(process, signal.SIGTERM) == INTERRUPTED


def test_web_ui_runs_the_open_loop_user_at_the_form_rate(triton_url: str, control: ControlClient, tmp_path: Path) -> None:
    """What a user does in the browser's start form: pick TritonOpenLoopUser, set Target rps, start."""
    control.load("identity")
    with harness_ui(triton_url, "identity", 1, tmp_path) as (process, web):
        started = post_form(
            f"{web}/swarm",
            [
                ("user_count", "2"),
                ("spawn_rate", "2"),
                ("host", triton_url),
                ("user_classes", "TritonOpenLoopUser"),
                ("target_rps", "40"),
                ("model", "identity"),
            ],
        )
        assert started["success"], started
        rate = measured_rate(web)
        assert 25 <= rate <= 55, rate  # 40 req/s offered across both users (reports arrive each second)
        assert stop_process(process, signal.SIGTERM) == INTERRUPTED


def test_web_ui_form_switches_the_load_to_http(triton: LocalServer, control: ControlClient, tmp_path: Path) -> None:
    """The start form's protocol field: a `harness ui` started over gRPC sends its next test over KServe v2 HTTP to
    the HTTP port the form names, every request a success that Triton counted."""
    control.load("identity")
    with harness_ui(triton.endpoints.grpc_url, "identity", 1, tmp_path) as (process, web):
        before = control.statistics("identity").success_count
        form = [("user_count", "2"), ("spawn_rate", "2"), ("user_classes", "TritonUser"), ("model", "identity")]
        started = post_form(f"{web}/swarm", [*form, ("host", triton.endpoints.http_url or ""), ("protocol", "http")])
        assert started["success"], started
        assert measured_rate(web) > 0
        assert control.statistics("identity").success_count - before >= get_json(f"{web}/latency.json")["requests"]
        assert stop_process(process, signal.SIGTERM) == INTERRUPTED
