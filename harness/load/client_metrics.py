"""Client metrics for Prometheus, served by the Locust master (`--prometheus-port`): what the load generator measured,
per model, from the workers' merged histograms (harness.load.aggregate), so percentiles are exact, never averaged.

Every figure is labelled model, curve and level. A run of several models (--mix a=3,b=1) has a series per model
(its part of the merged histograms) beside the whole, which is labelled with the mix ("a=3,b=1").

A sweep or search gives each level a series of its own (level "1", "2"... in the order measured, curve as reports
name it) that counts the level's measured windows only, warm-up excluded, and keeps its last values after the level
ends: a finished level reads as run.json records it (requests and failures over its windows; with 3 windows its
rate and percentiles too). `harness ui` (or `locust -f`) has one series with empty curve and level, counting the
running test since its start (a new test starts it again from 0: a counter reset, which Prometheus' rate() allows
for).

    harness_requests_total, harness_failures_total     counters: completed requests (failures included), failures
    harness_requests_per_second                        each worker's requests over its own time, summed (as a level's
                                                       achieved_rps)
    harness_latency_seconds{quantile="0.5|0.9|0.99"}   exact percentiles; _count and _sum as a summary has them
    harness_level_users, harness_level_offered_rps     the load asked for: users (closed loop), the open-loop rate
    harness_level_running                              1 for the level (or test) running now, else 0

No Locust and no gevent here (prometheus_client's own server thread is a greenlet in a gevent-patched process).
"""

from __future__ import annotations

import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import start_http_server
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from harness.errors import LoadError
from harness.load.aggregate import Tally
from harness.net import LOOPBACK

QUANTILES = (0.5, 0.9, 0.99)
LABELS = ("model", "curve", "level")
LATENCY = "harness_latency_seconds"


@dataclass
class LevelSeries:
    """One level's (or one interactive test's) figures, as one set of labels."""

    model: str
    curve: str = ""
    level: str = ""
    users: int = 0
    offered_rps: float | None = None  # open loop only
    running: bool = True
    tally: Tally = field(default_factory=Tally)

    def labels(self) -> list[str]:
        return [self.model, self.curve, self.level]

    def parts(self) -> list[LevelSeries]:
        """A mix's models (--mix), each a series of its own part of the tally, labelled with its name (the whole
        is labelled with the mix); users and rate stay the whole's."""
        return [
            LevelSeries(model, self.curve, self.level, self.users, self.offered_rps, self.running, part)
            for model, part in sorted(self.tally.models.items())
        ]


class LoadCollector(Collector):
    """The series `read` returns at each scrape, as Prometheus metric families."""

    def __init__(self, read: Callable[[], Sequence[LevelSeries]]) -> None:
        self._read = read

    def collect(self) -> Iterable[Metric]:
        series = list(self._read())
        requests = CounterMetricFamily("harness_requests", "Requests completed (failures included)", labels=LABELS)
        failures = CounterMetricFamily("harness_failures", "Requests failed", labels=LABELS)
        rate = GaugeMetricFamily("harness_requests_per_second", "Requests completed per second", labels=LABELS)
        latency = Metric(LATENCY, "Client latency: exact percentiles of the merged histograms", "summary")
        users = GaugeMetricFamily("harness_level_users", "Users asked for (closed loop: concurrency)", labels=LABELS)
        offered = GaugeMetricFamily("harness_level_offered_rps", "Open-loop rate asked for, requests/s", labels=LABELS)
        running = GaugeMetricFamily("harness_level_running", "1 for the level running now, else 0", labels=LABELS)
        for s in (part for whole in series for part in (whole, *whole.parts())):
            labels, tally = s.labels(), s.tally
            requests.add_metric(labels, tally.requests)
            failures.add_metric(labels, tally.failures)
            rate.add_metric(labels, tally.rps)
            _add_summary(latency, dict(zip(LABELS, labels, strict=True)), tally)
            users.add_metric(labels, s.users)
            if s.offered_rps is not None:
                offered.add_metric(labels, s.offered_rps)
            running.add_metric(labels, 1.0 if s.running else 0.0)
        return [requests, failures, rate, latency, users, offered, running]


def _add_summary(metric: Metric, labels: dict[str, str], tally: Tally) -> None:
    hist = tally.hist
    for quantile in QUANTILES:
        metric.add_sample(LATENCY, {**labels, "quantile": f"{quantile:g}"}, _seconds(hist.percentile_ms(quantile * 100)))
    metric.add_sample(f"{LATENCY}_count", labels, float(hist.count))
    metric.add_sample(f"{LATENCY}_sum", labels, _seconds(hist.summary().mean * hist.count))


def _seconds(ms: float) -> float:
    return round(ms / 1000.0, 9)  # whole nanoseconds: 0.000137, not 0.00013700000000000002


class LevelLog:
    """A sweep's levels as the driver runs them: each one's measured windows folded in, kept after it ends."""

    def __init__(self) -> None:
        self.levels: list[LevelSeries] = []

    def start(self, model: str, curve: str, users: int, offered_rps: float | None) -> None:
        self.stop()
        self.levels.append(LevelSeries(model, curve, str(len(self.levels) + 1), users, offered_rps))

    def stop(self) -> None:
        for level in self.levels:
            level.running = False

    def add(self, window: Tally) -> None:
        """A measured window of the current level (a copy: the sweep may merge more into its own)."""
        if not self.levels:
            return
        tally = self.levels[-1].tally
        tally.merge(window)
        for worker in tally.workers.values():  # open-loop send times matter per window, not here
            worker.sent = array.array("d")

    def series(self) -> list[LevelSeries]:
        return list(self.levels)


def endpoint_url(bind: str, port: int) -> str:
    """Where this machine scrapes an endpoint listening on bind:port (every address: through loopback)."""
    host = LOOPBACK if bind in ("", "0.0.0.0", "::") else bind
    return f"http://{host}:{port}/metrics"


class MetricsEndpoint:
    """prometheus_client's HTTP server for one collector, on its own registry (never the process-wide one)."""

    def __init__(self, collector: Collector, bind: str, port: int) -> None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(collector)
        try:
            self._server, self._thread = start_http_server(port, addr=bind, registry=registry)
        except OSError as exc:
            raise LoadError(
                f"cannot serve Prometheus metrics on {bind}:{port} ({exc.strerror or exc}); give a free "
                "--prometheus-port (0 picks one)"
            ) from None
        self.port = int(self._server.server_port)
        self.url = endpoint_url(bind, self.port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> MetricsEndpoint:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
