"""A level checks itself against laws and against the server: figures that disagree are flagged, not trusted.

Three checks, each independent of the code that produced the figures:
- little's law (closed loop): `users` requests are always in flight, so users = throughput x mean latency.
  A generator that idles between a reply and the next send, drops results or miscounts time breaks it.
- server latency: a request cannot take less time at the client than Triton says it spent on it
  (Level.server_us.request), so the client's mean latency is at least the server's mean request time.
- server count: the requests the client counted over the measured windows are those Triton counted as
  successes between the statistics snapshots around the same windows, give or take the requests in flight
  at the window edges and the part of a worker report that straddles an edge.
No other tool checks its own figures this way; a failing level gets the flag `inconsistent` and names the
failing checks. Pure: no I/O, no Locust, no gRPC.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness import defaults

LITTLE_TOLERANCE = 0.05  # relative: the engine's turnaround between a reply and the next send is not latency
SERVER_LATENCY_SLACK_US = 50.0  # windows and snapshots are taken a moment apart
COUNT_TOLERANCE = 0.02  # relative, on top of the requests in flight at the two window edges


@dataclass(frozen=True)
class LevelFigures:
    """What the checks compare: the client's figures of a level and Triton's over the same windows."""

    mode: str  # "concurrency" or "rate"
    users: int  # closed loop: requests kept in flight
    achieved_rps: float
    mean_ms: float
    requests: int  # client: successes and failures over the counted windows
    failures: int
    server_request_us: float | None  # Triton's mean request time over those windows
    server_successes: int | None  # Triton's success count between the snapshots around them
    report_interval_s: float = defaults.SWEEP_REPORT_INTERVAL_S  # how far a worker report can straddle a window edge


def littles_law(figures: LevelFigures) -> str | None:
    if figures.mode != "concurrency" or figures.users <= 0 or figures.requests == 0:
        return None
    in_flight = figures.achieved_rps * figures.mean_ms / 1000.0
    if abs(in_flight - figures.users) <= LITTLE_TOLERANCE * figures.users:
        return None
    return (
        f"littles-law: {figures.users} users but throughput x mean latency = {in_flight:.3g} in flight "
        f"({figures.achieved_rps:.4g} req/s x {figures.mean_ms:.4g} ms)"
    )


def server_latency(figures: LevelFigures) -> str | None:
    server_us = figures.server_request_us
    if server_us is None or figures.requests == figures.failures:
        return None
    client_us = figures.mean_ms * 1000.0
    if client_us + SERVER_LATENCY_SLACK_US >= server_us:
        return None
    return f"server-latency: client mean {client_us:.0f} us is below Triton's mean request time {server_us:.0f} us"


def server_count(figures: LevelFigures) -> str | None:
    if figures.server_successes is None:
        return None
    client = figures.requests - figures.failures
    in_flight = figures.users if figures.mode == "concurrency" else figures.achieved_rps * figures.mean_ms / 1000.0
    straddle = figures.achieved_rps * figures.report_interval_s
    allowed = COUNT_TOLERANCE * max(client, figures.server_successes) + 2 * in_flight + straddle + 2
    if abs(client - figures.server_successes) <= allowed:
        return None
    return (
        f"server-count: the client counted {client} successful requests, Triton {figures.server_successes} "
        f"over the same windows (allowed difference {allowed:.0f})"
    )


def failed_checks(figures: LevelFigures) -> tuple[str, ...]:
    """Each failing check as 'name: what disagreed'; empty when the level is consistent."""
    found = (littles_law(figures), server_latency(figures), server_count(figures))
    return tuple(text for text in found if text is not None)
