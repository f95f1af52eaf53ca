"""--protocol http: the same load over KServe v2 HTTP/REST as over gRPC, checked against queueing theory and Triton's
own counters; and the bad inputs it brings, refused in one line before any load.

fixed_delay serves each request in a known time S (~10 ms) per instance: with N instances and N closed-loop users
the throughput is N/S whatever the protocol, and Triton counts every request the client counted.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.net import LOOPBACK
from harness.record.model import InstanceGroup
from harness.triton.control import ControlClient
from harness.triton.server import LocalServer
from harness.triton.variants import Variant, load_variant
from helpers.processes import harness

QUICK = ["--warmup", "1s", "--window", "1s", "--max-windows", "4", "--workers", "1"]
USERS = 2


def sweep(url: str, folder: Path, *args: str) -> dict:
    result = harness("sweep", "--url", url, "--output", folder, *QUICK, "--model", "fixed_delay", *args, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads((folder / "run.json").read_text())


def served(control: ControlClient) -> int:
    return control.statistics("fixed_delay").success_count


@pytest.fixture()
def fixed_delay(control: ControlClient) -> Iterator[ControlClient]:
    """fixed_delay deployed with USERS CPU instances (the sweeps measure it as deployed: its counters run on)."""
    load_variant(control, "fixed_delay", Variant(InstanceGroup("CPU", USERS)))
    try:
        yield control
    finally:
        control.unload("fixed_delay")


@pytest.mark.integration
def test_http_and_grpc_give_the_same_closed_loop_level_on_fixed_delay(
    triton: LocalServer, fixed_delay: ControlClient, tmp_path: Path
) -> None:
    """The same level (2 users on 2 instances) over each protocol: X ~ N/S with S Triton's own compute time, no
    failure, and the client's count equal to Triton's (the level's own server-count check, and Triton's counter
    over the whole run, warm-up included, at least the counted requests)."""
    levels = {}
    for protocol, url in (("grpc", triton.endpoints.grpc_url), ("http", triton.endpoints.http_url)):
        before = served(fixed_delay)
        run = sweep(url or "", tmp_path / protocol, "--protocol", protocol, "--concurrency", str(USERS))
        assert run["metadata"]["settings"]["protocol"] == protocol
        (level,) = run["curves"][0]["levels"]
        levels[protocol] = level
        assert level["failures"] == 0 and level["inconsistent"] == []
        assert before + level["requests"] <= served(fixed_delay)
        service_s = level["server_us"]["compute_infer"] / 1e6
        assert level["achieved_rps"] == pytest.approx(USERS / service_s, rel=0.15)
    assert levels["http"]["achieved_rps"] == pytest.approx(levels["grpc"]["achieved_rps"], rel=0.1)


@pytest.mark.integration
@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_open_loop_level_over_http_sends_the_offered_rate(
    triton: LocalServer, fixed_delay: ControlClient, tmp_path: Path, workers: str
) -> None:
    """40 req/s at fixed_delay's 2 instances (~0.2 of their capacity) over HTTP, from 1 and from 2 workers:
    achieved == offered, every request counted by Triton, latency about the service time."""
    before = served(fixed_delay)
    url = triton.endpoints.http_url or ""
    run = sweep(url, tmp_path / "open", "--protocol", "http", "--rate", "40", "--workers", workers)
    (level,) = run["curves"][0]["levels"]
    assert level["mode"] == "rate" and level["failures"] == 0 and level["inconsistent"] == []
    assert level["achieved_rps"] == pytest.approx(40, rel=0.15)
    assert before + level["requests"] <= served(fixed_delay)
    assert level["latency_ms"]["p50"] < 3 * level["server_us"]["compute_infer"] / 1000.0


@pytest.mark.integration
def test_the_python_engine_sends_http_too(triton: LocalServer, fixed_delay: ControlClient, tmp_path: Path) -> None:
    """The fallback engine (aiohttp) over HTTP: the same level as the compiled one, every request counted by Triton."""
    before = served(fixed_delay)
    result = harness(
        "sweep", "--url", triton.endpoints.http_url, "--output", tmp_path / "py", *QUICK, "--model", "fixed_delay",
        "--protocol", "http", "--concurrency", str(USERS), env={"HARNESS_LEAN_ENGINE": "python"}, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    run = json.loads((tmp_path / "py" / "run.json").read_text())
    assert run["metadata"]["settings"]["load_engine"] == "python"
    (level,) = run["curves"][0]["levels"]
    assert level["failures"] == 0 and level["inconsistent"] == []
    assert before + level["requests"] <= served(fixed_delay)
    assert level["achieved_rps"] == pytest.approx(USERS / (level["server_us"]["compute_infer"] / 1e6), rel=0.15)


def one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The command failed with one line of error (argparse's usage above it aside), naming each of `needles`."""
    stderr = result.stderr.strip()
    assert result.returncode != 0 and "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if not line.startswith(("usage:", " "))]
    assert len(errors) == 1, stderr
    for needle in needles:
        assert needle in errors[0], stderr
    return errors[0]


def test_an_unknown_protocol_is_refused_in_one_line() -> None:
    one_line_error(harness("sweep", "--url", "127.0.0.1:9", "--model", "identity", "--protocol", "ftp"), "--protocol", "http")


@pytest.mark.integration
def test_http_at_the_grpc_port_is_refused_in_one_line(triton: LocalServer, tmp_path: Path) -> None:
    result = harness(
        "sweep", "--url", triton.endpoints.grpc_url, "--model", "identity", "--protocol", "http", "--output", tmp_path
    )
    one_line_error(result, "does not speak KServe v2 over HTTP", "--protocol grpc")
    assert not (tmp_path / "run.json").exists() or json.loads((tmp_path / "run.json").read_text())["curves"] == []


@pytest.fixture()
def plain_web_server() -> Iterator[str]:
    """A real HTTP server that is not Triton (Python's own file server, on loopback)."""
    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{LOOPBACK}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_at_a_plain_web_server_is_refused_in_one_line(plain_web_server: str, tmp_path: Path) -> None:
    result = harness("sweep", "--url", plain_web_server, "--model", "identity", "--protocol", "http", "--output", tmp_path)
    one_line_error(result, "does not speak KServe v2 over HTTP", "HTTP port")
