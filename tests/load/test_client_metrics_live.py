"""The Prometheus endpoint of a real sweep and of a real `harness ui`, scraped while they run and parsed with
prometheus_client's own text parser: a finished sweep level reads as run.json records it (3 windows per level, so
its requests, failures, rate and percentiles all cover the same windows), the web UI's test as its /latency.json."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from harness.errors import INTERRUPTED_EXIT
from harness.triton.control import ControlClient
from helpers.processes import COMMAND_TIMEOUT_S, HARNESS, harness_ui, owned_process, stop_process
from helpers.prometheus import Samples, sample, scrape

pytestmark = pytest.mark.integration

ENDPOINT = re.compile(r"client metrics for Prometheus: (http://\S+/metrics)")


def value(samples: Samples, name: str, level: str = "", curve: str = "", **extra: str) -> float | None:
    return sample(samples, name, model="identity", curve=curve, level=level, **extra)


def wait_for(pattern: re.Pattern[str], log: Path, process: subprocess.Popen[bytes], timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    while not (match := pattern.search(log.read_text())):
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.1)
    return match.group(1)


def test_a_sweeps_levels_read_as_its_run_records_them(triton_url: str, tmp_path: Path) -> None:
    folder, log = tmp_path / "run", tmp_path / "sweep.out"
    command = [
        *HARNESS,
        "sweep",
        "--url",
        triton_url,
        "--model",
        "identity",
        "--instances",
        "cpu:1",
        "--concurrency",
        "1,2,4",
        "--warmup",
        "0.5s",
        "--window",
        "0.5s",
        "--max-windows",
        "3",
        "--workers",
        "1",
        "--prometheus-port",
        "0",
        "--output",
        str(folder),
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    seen_running: set[str] = set()
    counted: dict[str, float] = {}  # each level's requests at the previous scrape
    last: Samples = {}
    with owned_process(process, "harness sweep"):
        url = wait_for(ENDPOINT, log, process)
        deadline = time.monotonic() + COMMAND_TIMEOUT_S
        while process.poll() is None and time.monotonic() < deadline:
            samples = scrape(url)
            for level in ("1", "2", "3") if samples else ():
                requests = value(samples, "harness_requests_total", level, "cpu:1")
                if requests is not None:
                    assert requests >= counted.get(level, 0.0), "a level's count never goes back"
                    counted[level] = requests
                if value(samples, "harness_level_running", level, "cpu:1") == 1.0:
                    seen_running.add(level)
            last = samples or last
            time.sleep(0.1)
        assert process.wait(timeout=10) == 0, log.read_text()[-2000:]
    assert scrape(url) is None  # the endpoint ends with the sweep
    assert seen_running == {"1", "2", "3"}  # each level was seen live
    levels = json.loads((folder / "run.json").read_text())["curves"][0]["levels"]
    for number, level in enumerate(levels, start=1):
        label = str(number)
        assert len(level["windows"]) == 3  # so every figure of the level covers the same windows
        assert value(last, "harness_level_running", label, "cpu:1") == 0.0  # read after its last window
        assert value(last, "harness_level_users", label, "cpu:1") == level["concurrency"]
        assert value(last, "harness_requests_total", label, "cpu:1") == level["requests"] > 0
        assert value(last, "harness_failures_total", label, "cpu:1") == level["failures"]
        assert value(last, "harness_requests_per_second", label, "cpu:1") == pytest.approx(level["achieved_rps"], abs=1e-3)
        for quantile, name in (("0.5", "p50"), ("0.9", "p90"), ("0.99", "p99")):
            scraped = value(last, "harness_latency_seconds", label, "cpu:1", quantile=quantile)
            assert scraped == pytest.approx(level["latency_ms"][name] / 1000.0, abs=1e-7)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def post(url: str, fields: list[tuple[str, str]] | None = None) -> None:
    data = urllib.parse.urlencode(fields or []).encode()
    urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10).close()


def test_the_web_uis_test_reads_as_its_latency_json(triton_url: str, control: ControlClient, tmp_path: Path) -> None:
    control.load("identity")
    with harness_ui(triton_url, "identity", 2, tmp_path, "--prometheus-port", "0") as (process, web):
        url = wait_for(ENDPOINT, tmp_path / "harness-ui.out", process)
        idle = scrape(url)
        assert idle is not None and value(idle, "harness_requests_total") == 0.0
        assert value(idle, "harness_level_running") == 0.0
        form = [("user_count", "2"), ("spawn_rate", "2"), ("host", triton_url), ("user_classes", "TritonOpenLoopUser")]
        post(f"{web}/swarm", [*form, ("target_rps", "40"), ("model", "identity")])
        deadline = time.monotonic() + 30
        while get_json(f"{web}/latency.json")["requests"] == 0 and time.monotonic() < deadline:
            time.sleep(0.2)  # the first worker reports (each second, once the senders have started)
        live = scrape(url)
        assert live is not None and value(live, "harness_level_running") == 1.0
        assert value(live, "harness_level_users") == 2.0 and value(live, "harness_level_offered_rps") == 40.0
        assert value(live, "harness_requests_total") > 0  # type: ignore[operator]
        post(f"{web}/stop")
        for _ in range(50):  # until the last worker reports are in: the same figures before and after a scrape
            before, samples, after = get_json(f"{web}/latency.json"), scrape(url), get_json(f"{web}/latency.json")
            if before["requests"] == after["requests"] and before["requests"] > 0:
                break
            time.sleep(0.2)
        assert samples is not None and value(samples, "harness_level_running") == 0.0
        assert value(samples, "harness_requests_total") == after["requests"]
        assert value(samples, "harness_failures_total") == after["failures"] == 0
        assert value(samples, "harness_latency_seconds_count") == after["histogram_count"]
        for quantile, name in (("0.5", "p50"), ("0.9", "p90"), ("0.99", "p99")):
            scraped = value(samples, "harness_latency_seconds", quantile=quantile)
            assert scraped == pytest.approx(after["latency_ms"][name] / 1000.0, abs=1e-9)
        assert stop_process(process, signal.SIGTERM) == INTERRUPTED_EXIT
    assert scrape(url) is None
