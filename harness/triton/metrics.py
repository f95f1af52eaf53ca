"""Server evidence per level: Triton's Prometheus metrics and, for a server the harness started, the OS's view
of the tritonserver process and its backend stubs.

A snapshot is taken at each window boundary, next to Triton's statistics; a level's figures are the difference
between the snapshots that frame its counted windows. The Prometheus text is parsed by prometheus_client (the
only import of it in the harness), never by hand. What the server does not expose stays None, never 0: a
GPU-less server has no `nv_gpu_*` families, a remote server has no process we can read. A metrics port that does
not answer is not an error: the probe remembers why (once) and every figure from it stays None.

An endpoint that answers may still be another server's: without --metrics-url a `--url` sweep reads HOST:8002,
where a colleague's Triton or an NGC container's default ports may listen. So each level proves ownership: the
endpoint's count of the model's successful requests must move as Triton's statistics (read over gRPC, from the
server under test) did over the same windows. Until it has, and for good once it has not, the endpoint's figures
(GPU, power, energy) stay None, and the reason is said once.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace
from typing import Callable

import psutil
from prometheus_client.parser import text_string_to_metric_families

DEFAULT_METRICS_PORT = 8002  # Triton's default --metrics-port
MIB = 1024 * 1024
# The endpoint's and the statistics' counts are read a moment apart, so they may differ by what completed in
# between: within max(SLACK, FRACTION of the requests served) they agree; fewer than 2 * SLACK served tells nothing.
OWNERSHIP_SLACK = 2
OWNERSHIP_FRACTION = 0.1
_SUCCESS = "nv_inference_request_success"  # Triton's per-model count of successful requests, all batch sizes
_ENDPOINT_FIELDS = ("gpu_utilization", "gpu_memory_mb", "power_w", "energy_j_per_1k")  # read from the endpoint
_GPU_FAMILIES = ("nv_gpu_utilization", "nv_gpu_memory_used_bytes", "nv_gpu_power_usage", "nv_energy_consumption")

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class MetricsSnapshot:
    """What the server and the OS said at one instant. `samples` maps a sample name to (labels, value) pairs."""

    at_s: float
    samples: dict[str, tuple[tuple[Labels, float], ...]] = field(default_factory=dict, hash=False)
    cpu_s: dict[int, float] | None = field(default=None, hash=False)  # per PID: user + system seconds
    rss_bytes: int | None = None

    def total(self, name: str, **match: str) -> float | None:
        """Sum of a sample over the label sets matching `match`; None when the server has no such sample."""
        values = [v for labels, v in self.samples.get(name, ()) if _matches(labels, match)]
        return sum(values) if values else None

    def values(self, name: str) -> list[float]:
        return [v for _, v in self.samples.get(name, ())]


@dataclass(frozen=True)
class ServerMetrics:
    """One level's server evidence; the field names are the Level's (harness.record.model.Level)."""

    server_cpu_cores: float | None = None
    server_memory_mb: float | None = None
    gpu_utilization: float | None = None
    gpu_memory_mb: float | None = None
    power_w: float | None = None
    energy_j_per_1k: float | None = None


def parse_metrics(text: str) -> dict[str, tuple[tuple[Labels, float], ...]]:
    """Prometheus text exposition -> {metric name as Triton writes it: ((labels, value), ...)}.

    prometheus_client names a counter's samples `<family>_total` (OpenMetrics style) while Triton writes
    `nv_inference_count`: samples of a family's value are keyed by the family's name, others by their own."""
    found: dict[str, list[tuple[Labels, float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = family.name if sample.name in (family.name, f"{family.name}_total") else sample.name
            found.setdefault(name, []).append((tuple(sorted(sample.labels.items())), float(sample.value)))
    return {name: tuple(pairs) for name, pairs in found.items()}


def default_metrics_url(grpc_url: str) -> str:
    """A remote server's metrics endpoint when none is given: the gRPC host on Triton's default metrics port."""
    host = grpc_url.rpartition(":")[0] or grpc_url
    return f"{host}:{DEFAULT_METRICS_PORT}"


class ServerProbe:
    """Takes snapshots of one server: its metrics endpoint (host:port, or None) and its process tree (PID or None).

    `problem` holds the first reason a source gave nothing (said once through `warn`, kept for the run).
    """

    def __init__(
        self,
        metrics_url: str | None,
        pid: int | None,
        model: str,
        timeout_s: float = 2.0,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.metrics_url, self.pid, self.model, self.timeout_s = metrics_url, pid, model, timeout_s
        self.problem: str | None = None
        self._warn = warn
        self._metrics_down = metrics_url is None
        self.owned: bool | None = None  # whether the endpoint proved to be the server under test (None: not yet)

    def level_metrics(self, before: MetricsSnapshot, after: MetricsSnapshot, served: int) -> ServerMetrics:
        """A level's evidence between two snapshots, given `served`: the model's successful requests over the same
        interval by Triton's statistics. The endpoint's figures are kept only from an endpoint proved ours."""
        figures = server_metrics(before, after, self.model)
        if not self._metrics_down and self.owned is not False:
            verdict = same_server(before, after, served, self.model)
            if verdict is False:
                self.owned = False
                counted = _delta(before, after, _SUCCESS, model=self.model)
                self._say(
                    f"server metrics: {self.metrics_url} is not the endpoint of the server under test: its count "
                    f"of {self.model!r} requests moved by {_count(counted)} while the server's statistics counted "
                    f"{served}; GPU, power and energy figures are null for this run (give this server's "
                    "--metrics-url)"
                )
            elif verdict:
                self.owned = True
        if self.owned:
            return figures
        return replace(figures, **dict.fromkeys(_ENDPOINT_FIELDS))

    def snapshot(self) -> MetricsSnapshot:
        at = time.monotonic()
        cpu, rss = self._process_tree()
        return MetricsSnapshot(at_s=at, samples=self._scrape(), cpu_s=cpu, rss_bytes=rss)

    def _scrape(self) -> dict[str, tuple[tuple[Labels, float], ...]]:
        if self._metrics_down:
            return {}
        url = f"http://{self.metrics_url}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as response:
                return parse_metrics(response.read().decode("utf-8", errors="replace"))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            # One failure and the port is left alone: a dead port would cost a timeout at every window.
            self._metrics_down = True
            self._say(
                f"server metrics: {url} did not answer ({_reason(exc)}); CPU/GPU/power figures from Triton "
                "are null for this run (give a reachable --metrics-url)"
            )
            return {}

    def _process_tree(self) -> tuple[dict[int, float] | None, int | None]:
        if self.pid is None:
            return None, None
        try:
            root = psutil.Process(self.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error as exc:
            self._say(f"server process {self.pid}: cannot be read ({exc}); server CPU and memory are null")
            return None, None
        cpu: dict[int, float] = {}
        rss = 0
        for process in processes:
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    cpu[process.pid] = times.user + times.system
                    rss += process.memory_info().rss
            except psutil.Error:
                continue  # a stub that ended between listing and reading
        return cpu, rss

    def _say(self, message: str) -> None:
        if self.problem is None:
            self.problem = message
            if self._warn is not None:
                self._warn(message)


def same_server(before: MetricsSnapshot, after: MetricsSnapshot, served: int, model: str) -> bool | None:
    """Whether the endpoint counted `model`'s successful requests as the server under test did (`served`) over
    the same interval (pure): True, False, or None when too few were served to tell."""
    if served < 2 * OWNERSHIP_SLACK:
        return None
    counted = _delta(before, after, _SUCCESS, model=model)
    if counted is None:  # the endpoint does not serve this model at all
        return False
    return abs(counted - served) <= max(OWNERSHIP_SLACK, OWNERSHIP_FRACTION * served)


def server_metrics(before: MetricsSnapshot, after: MetricsSnapshot, model: str) -> ServerMetrics:
    """The evidence of the interval between two snapshots (pure)."""
    wall = after.at_s - before.at_s
    return ServerMetrics(
        server_cpu_cores=_cpu_cores(before, after, wall),
        server_memory_mb=None if after.rss_bytes is None else round(after.rss_bytes / MIB, 1),
        gpu_utilization=_mean_gauge(before, after, "nv_gpu_utilization", mean_over_gpus=True, digits=4),
        gpu_memory_mb=_scaled(after.total("nv_gpu_memory_used_bytes"), 1 / MIB),
        power_w=_mean_gauge(before, after, "nv_gpu_power_usage", mean_over_gpus=False, digits=2),
        energy_j_per_1k=_energy_per_1k(before, after, model),
    )


def _cpu_cores(before: MetricsSnapshot, after: MetricsSnapshot, wall: float) -> float | None:
    """CPU seconds used per wall second by the process tree; a process born in the interval counts in full."""
    if before.cpu_s is None or after.cpu_s is None or wall <= 0:
        return None
    used = sum(max(0.0, seconds - before.cpu_s.get(pid, 0.0)) for pid, seconds in after.cpu_s.items())
    return round(used / wall, 3)


def _mean_gauge(before: MetricsSnapshot, after: MetricsSnapshot, name: str, mean_over_gpus: bool, digits: int) -> float | None:
    """A gauge Triton samples on its own clock: the mean of its readings at both ends, per GPU mean or sum."""
    readings = []
    for snap in (before, after):
        values = snap.values(name)
        if values:
            readings.append(sum(values) / len(values) if mean_over_gpus else sum(values))
    return round(sum(readings) / len(readings), digits) if readings else None


def _energy_per_1k(before: MetricsSnapshot, after: MetricsSnapshot, model: str) -> float | None:
    joules = _delta(before, after, "nv_energy_consumption")
    inferences = _delta(before, after, "nv_inference_count", model=model)
    if joules is None or not inferences:
        return None
    return round(joules / inferences * 1000, 3)


def _delta(before: MetricsSnapshot, after: MetricsSnapshot, name: str, **match: str) -> float | None:
    start, end = before.total(name, **match), after.total(name, **match)
    return None if start is None or end is None else end - start


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else round(value * factor, 1)


def _matches(labels: Labels, match: dict[str, str]) -> bool:
    present = dict(labels)
    return all(present.get(k) == v for k, v in match.items())


def _count(value: float | None) -> str:
    return "nothing (no such model there)" if value is None else f"{value:.0f}"


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", None) or exc) or type(exc).__name__
