"""Between open-loop levels the runner waits out Triton's queue: an overloaded level leaves seconds of requests
queued when its senders stop, and the next level must not start on them.

The rule (harness.sweep.rules.queue_drained, drain_poll_s) at its edges; the runner's wait on a fake server whose
backlog drains at a known rate (the control client and the driver are the runner's seams); and for real on
`fixed_delay`, where a level at half its capacity after an overloaded one must see no queue (queueing theory:
constant arrivals below capacity never wait).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from harness.record.model import InstanceGroup, Slo
from harness.record.server_statistics import StatsSnapshot
from harness.sweep.rules import DRAIN_POLL_S, drain_poll_s, queue_drained
from harness.sweep.runner import LevelRunner
from harness.sweep.spec import SweepSpec
from helpers.processes import HARNESS, RUN_TIMEOUT_S

POLL_NS = int(DRAIN_POLL_S * 1e9)


def counters(success: int, queue_ns: int = 0, compute_ns: int = 0, executions: int = 0) -> StatsSnapshot:
    return StatsSnapshot(success_count=success, queue_ns=queue_ns, compute_infer_ns=compute_ns, execution_count=executions)


def test_no_completion_over_a_poll_is_an_empty_queue() -> None:
    assert queue_drained(counters(10, 5 * POLL_NS), counters(10, 5 * POLL_NS), DRAIN_POLL_S) is True
    assert queue_drained(counters(10), counters(11, POLL_NS), DRAIN_POLL_S) is False


def test_completions_that_waited_a_poll_are_a_backlog_and_short_waits_are_other_traffic() -> None:
    before = counters(100, 0)
    assert queue_drained(before, counters(110, 10 * POLL_NS), DRAIN_POLL_S) is False  # a poll each: a backlog
    assert queue_drained(before, counters(110, 10 * POLL_NS - 10), DRAIN_POLL_S) is True  # just under
    assert queue_drained(before, counters(110, 10 * 1_000), DRAIN_POLL_S) is True  # 1 us each: a shared server's
    # the waits of this poll only: the counters are cumulative, a long backlog before it is past
    assert queue_drained(counters(100, 50 * POLL_NS), counters(110, 50 * POLL_NS + 10 * 1_000), DRAIN_POLL_S) is True


def test_the_poll_is_at_least_two_batches_long() -> None:
    assert drain_poll_s(counters(0)) == DRAIN_POLL_S  # nothing executed yet
    assert drain_poll_s(counters(40, compute_ns=int(0.01e9) * 4, executions=4)) == DRAIN_POLL_S  # 10 ms batches
    assert drain_poll_s(counters(8, compute_ns=int(0.5e9) * 2, executions=2)) == 1.0  # 0.5 s ones: exactly two


class BacklogServer:
    """Triton's counters while `backlog` requests are served at `rate`, each having waited in the queue as long as
    the whole backlog takes (the queue's delay when the senders stopped); also the driver (a clock, no sleeping)."""

    def __init__(self, backlog: int, rate: float) -> None:
        self.backlog, self.rate, self.now, self.looks = backlog, rate, 0.0, 0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def statistics(self, model: str, timeout_s: float = 15.0) -> StatsSnapshot:
        self.looks += 1
        served = min(self.backlog, int(self.rate * self.now))
        return counters(
            served, served * int(self.backlog / self.rate * 1e9), compute_ns=served * int(1e9 / self.rate), executions=served
        )


def drain(server: BacklogServer, timeout_s: float = 30.0) -> float:
    spec = SweepSpec(model="m", instances=(InstanceGroup(),), slo=Slo(), request_timeout_s=timeout_s)
    runner = LevelRunner(spec, control=server, driver=server, progress=lambda _: None, name="cpu:1")  # type: ignore[arg-type]
    runner._drain()
    return server.now


def test_the_runner_waits_until_the_backlog_is_served() -> None:
    """400 requests served at 100 req/s: 4 s, then one quiet poll."""
    waited = drain(BacklogServer(backlog=400, rate=100.0))
    assert 4.0 <= waited <= 4.0 + 2 * DRAIN_POLL_S


def test_an_empty_queue_costs_one_poll() -> None:
    assert drain(BacklogServer(backlog=0, rate=100.0)) == pytest.approx(DRAIN_POLL_S)


def test_the_wait_is_bounded_by_the_request_timeout() -> None:
    """A backlog longer than the request timeout: the client gave those requests up; the level goes on."""
    assert drain(BacklogServer(backlog=10_000, rate=100.0), timeout_s=3.0) == pytest.approx(3.0, abs=DRAIN_POLL_S)


@pytest.mark.integration
def test_a_level_after_an_overloaded_one_starts_on_an_empty_queue(triton_url: str, tmp_path: Path) -> None:
    """fixed_delay (one instance, ~10 ms): 250 req/s for ~2 s queues ~3 s of requests; the 40 req/s level after it
    is at rho ~0.4 with constant arrivals, where nothing waits: latency ~ the service time, Triton's queue ~ 0."""
    result = subprocess.run(
        [
            *HARNESS,
            "sweep",
            "--url",
            triton_url,
            "--model",
            "fixed_delay",
            "--instances",
            "cpu:1",
            "--rate",
            "250,40",
            "--workers",
            "1",
            "--warmup",
            "0.5s",
            "--window",
            "0.5s",
            "--max-windows",
            "3",
            "--output",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    over, after = json.loads((tmp_path / "run" / "run.json").read_text())["curves"][0]["levels"]
    assert "below-offered-rate" in over["flags"] and over["server_us"]["queue"] > 5e5  # it did queue (> 0.5 s)
    service_ms = after["server_us"]["compute_infer"] / 1000.0
    assert after["server_us"]["queue"] < 0.2 * service_ms * 1000.0, after["server_us"]
    assert after["latency_ms"]["p99"] < 3 * service_ms, after["latency_ms"]
    assert after["achieved_rps"] == pytest.approx(40, rel=0.1)
