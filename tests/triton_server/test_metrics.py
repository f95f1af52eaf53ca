"""Server evidence: Prometheus text from Triton (recorded), deltas between snapshots, the process tree, a dead port."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.triton.metrics import (
    MetricsSnapshot,
    ServerProbe,
    default_metrics_url,
    parse_metrics,
    same_server,
    server_metrics,
)
from harness.triton.server import free_port

DATA = Path(__file__).parent / "data"
GPU_TEXT = (DATA / "triton_metrics_gpu.txt").read_text()
CPU_TEXT = (DATA / "triton_metrics_cpu.txt").read_text()  # recorded from this repository's tritonserver 2.51


def _later(
    text: str,
    energy: tuple[float, float],
    count: int,
    util: tuple[float, float],
    power: tuple[float, float],
    successes: int = 2400,
) -> str:
    """The GPU text as a later scrape would read: energy counters, inference and request counts and gauges moved."""
    lines = []
    for line in text.splitlines():
        if line.startswith('nv_inference_request_success{model="mnist_cnn"'):
            line = f'nv_inference_request_success{{model="mnist_cnn",version="1"}} {successes}'
        if line.startswith('nv_energy_consumption{gpu_uuid="GPU-0a1b"}'):
            line = f'nv_energy_consumption{{gpu_uuid="GPU-0a1b"}} {energy[0]}'
        elif line.startswith('nv_energy_consumption{gpu_uuid="GPU-2c3d"}'):
            line = f'nv_energy_consumption{{gpu_uuid="GPU-2c3d"}} {energy[1]}'
        elif line.startswith('nv_inference_count{model="mnist_cnn"'):
            line = f'nv_inference_count{{model="mnist_cnn",version="1"}} {count}'
        elif line.startswith('nv_gpu_utilization{gpu_uuid="GPU-0a1b"}'):
            line = f'nv_gpu_utilization{{gpu_uuid="GPU-0a1b"}} {util[0]}'
        elif line.startswith('nv_gpu_utilization{gpu_uuid="GPU-2c3d"}'):
            line = f'nv_gpu_utilization{{gpu_uuid="GPU-2c3d"}} {util[1]}'
        elif line.startswith('nv_gpu_power_usage{gpu_uuid="GPU-0a1b"}'):
            line = f'nv_gpu_power_usage{{gpu_uuid="GPU-0a1b"}} {power[0]}'
        elif line.startswith('nv_gpu_power_usage{gpu_uuid="GPU-2c3d"}'):
            line = f'nv_gpu_power_usage{{gpu_uuid="GPU-2c3d"}} {power[1]}'
        lines.append(line)
    return "\n".join(lines) + "\n"


def test_parse_keeps_every_sample_with_its_labels() -> None:
    samples = parse_metrics(GPU_TEXT)
    assert samples["nv_gpu_utilization"] == (((("gpu_uuid", "GPU-0a1b"),), 0.9), ((("gpu_uuid", "GPU-2c3d"),), 0.5))
    assert samples["nv_inference_count"] == (
        ((("model", "mnist_cnn"), ("version", "1")), 4000.0),
        ((("model", "identity"), ("version", "1")), 7.0),
    )


def test_gpu_figures_between_two_scrapes() -> None:
    before = MetricsSnapshot(at_s=10.0, samples=parse_metrics(GPU_TEXT))
    # 2 s later: GPU 0 used 300 J, GPU 1 100 J; mnist_cnn did 800 more inferences (identity's count is not ours).
    after_text = _later(GPU_TEXT, energy=(1300.5, 600), count=4800, util=(0.7, 0.3), power=(200, 100))
    after = MetricsSnapshot(at_s=12.0, samples=parse_metrics(after_text))
    got = server_metrics(before, after, "mnist_cnn")
    assert got.energy_j_per_1k == pytest.approx(400 / 800 * 1000)
    assert got.gpu_utilization == pytest.approx(((0.9 + 0.5) / 2 + (0.7 + 0.3) / 2) / 2)
    assert got.power_w == pytest.approx(((120 + 60) + (200 + 100)) / 2)
    assert got.gpu_memory_mb == pytest.approx(3 * 1024)
    assert got.server_cpu_cores is None and got.server_memory_mb is None  # no process tree was read


def test_a_gpu_less_server_gives_nulls_never_zeros() -> None:
    snap = MetricsSnapshot(at_s=1.0, samples=parse_metrics(CPU_TEXT))
    got = server_metrics(snap, MetricsSnapshot(at_s=2.0, samples=parse_metrics(CPU_TEXT)), "identity")
    assert got.gpu_utilization is None and got.gpu_memory_mb is None
    assert got.power_w is None and got.energy_j_per_1k is None


def test_no_inference_in_the_interval_gives_no_energy_per_inference() -> None:
    snap = MetricsSnapshot(at_s=1.0, samples=parse_metrics(GPU_TEXT))
    later = _later(GPU_TEXT, energy=(1100.5, 550), count=4000, util=(0.9, 0.5), power=(120, 60))
    assert server_metrics(snap, MetricsSnapshot(at_s=2.0, samples=parse_metrics(later)), "mnist_cnn").energy_j_per_1k is None


def test_cpu_cores_from_the_process_tree() -> None:
    """A child burns a known amount of CPU (its own clock says when to stop): the tree's delta must match it."""
    burn = "import time, sys\nwhile time.process_time() < 0.6: pass\nprint('done', flush=True)\nsys.stdin.read()\n"
    child = subprocess.Popen([sys.executable, "-c", burn], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        probe = ServerProbe(None, child.pid, "m")
        before = probe.snapshot()
        assert child.stdout is not None and child.stdout.readline().strip() == "done"
        after = probe.snapshot()
    finally:
        child.communicate("", timeout=10)
    got = server_metrics(before, after, "m")
    wall = after.at_s - before.at_s
    used = got.server_cpu_cores * wall  # type: ignore[operator]
    assert 0.6 - (before.cpu_s or {}).get(child.pid, 0.0) <= used + 0.02  # what the child burned after `before`
    assert used <= 0.6 + 0.1  # and not more than it burned in all (plus interpreter start-up)
    assert got.server_memory_mb is not None and got.server_memory_mb > 1
    assert probe.problem is None


def test_a_metrics_port_that_does_not_answer_gives_nulls_and_one_reason() -> None:
    said: list[str] = []
    dead = f"127.0.0.1:{free_port()}"
    probe = ServerProbe(dead, None, "m", timeout_s=0.5, warn=said.append)
    first, second = probe.snapshot(), probe.snapshot()
    assert first.samples == {} and second.samples == {}
    assert len(said) == 1 and dead in said[0] and "did not answer" in said[0]
    assert probe.problem == said[0]
    got = server_metrics(first, second, "m")
    assert got.server_cpu_cores is None and got.gpu_utilization is None and got.energy_j_per_1k is None


def test_a_process_that_is_gone_gives_nulls_and_one_reason() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    time.sleep(0.05)
    said: list[str] = []
    probe = ServerProbe(None, child.pid, "m", warn=said.append)
    snap = probe.snapshot()
    assert snap.cpu_s is None and snap.rss_bytes is None and len(said) == 1


def test_default_metrics_url_is_the_grpc_host_on_port_8002() -> None:
    assert default_metrics_url("triton.example:8001") == "triton.example:8002"
    assert default_metrics_url("10.0.0.5:9001") == "10.0.0.5:8002"


def _level(successes: int) -> tuple[MetricsSnapshot, MetricsSnapshot]:
    """Two scrapes of the GPU text 2 s apart, in which the endpoint counted `successes - 2000` mnist_cnn requests."""
    after = _later(GPU_TEXT, energy=(1300.5, 600), count=4800, util=(0.7, 0.3), power=(200, 100), successes=successes)
    return MetricsSnapshot(at_s=10.0, samples=parse_metrics(GPU_TEXT)), MetricsSnapshot(12.0, parse_metrics(after))


def test_an_endpoint_counting_what_the_statistics_counted_is_the_servers() -> None:
    before, after = _level(successes=2400)  # 400 requests on the endpoint
    assert same_server(before, after, 400, "mnist_cnn") is True
    assert same_server(before, after, 420, "mnist_cnn") is True  # read a moment apart: within 10 %
    assert same_server(before, after, 460, "mnist_cnn") is False
    assert same_server(before, after, 400, "resnet50") is False  # the endpoint has no such model
    assert same_server(before, after, 3, "mnist_cnn") is None  # too few requests to tell
    idle = MetricsSnapshot(12.0, parse_metrics(GPU_TEXT))  # another server, serving the same model, idle
    assert same_server(before, idle, 400, "mnist_cnn") is False


def test_the_endpoints_figures_are_kept_only_once_it_proved_to_be_the_servers() -> None:
    said: list[str] = []
    probe = ServerProbe("127.0.0.1:1", None, "mnist_cnn", warn=said.append)
    before, after = _level(successes=2400)
    undecided = probe.level_metrics(before, after, 2)
    assert undecided.gpu_utilization is None and undecided.energy_j_per_1k is None and probe.owned is None
    owned = probe.level_metrics(before, after, 400)
    assert owned == server_metrics(before, after, "mnist_cnn") and owned.power_w is not None and probe.owned is True
    assert said == []


def test_a_foreign_endpoint_gives_nulls_and_one_warning_naming_metrics_url() -> None:
    said: list[str] = []
    probe = ServerProbe("10.0.0.9:8002", None, "mnist_cnn", warn=said.append)
    before, after = _level(successes=2000)  # the other server served none of the level's 400 requests
    for _ in range(2):
        got = probe.level_metrics(before, after, 400)
        assert (got.gpu_utilization, got.gpu_memory_mb, got.power_w, got.energy_j_per_1k) == (None, None, None, None)
    assert probe.owned is False and len(said) == 1 and probe.problem == said[0]
    assert "10.0.0.9:8002 is not the endpoint of the server under test" in said[0] and "--metrics-url" in said[0]
    assert "moved by 0 while the server's statistics counted 400" in said[0]
    # Once foreign, for the whole run: a later level whose counts happen to agree does not bring it back.
    assert probe.level_metrics(*_level(successes=2400), 400).gpu_utilization is None
