"""Every level flag that has a threshold, just below and just above it, with the threshold read from where the
code keeps it (harness/defaults.py, the spec's defaults, the rule modules' constants), never typed again here.

The level is summarized by the sweep's own summarize_level from worker windows as the master merges them, so each
flag is tested where a sweep sets it. Baseline figures obey every law: 1 user, 100 requests of 10 ms per 1 s
window (Little: 1 in flight), Triton counting the same requests at 9 ms each.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from harness import defaults
from harness.analysis.capacity import RATE_SHORTFALL
from harness.load.arrivals import asked_cv, inter_arrival_cv, schedule
from harness.load.trace import Trace
from harness.record.model import InstanceGroup, Level, SendLag, Slo
from harness.record.server_statistics import StatsSnapshot
from harness.sweep.checks import (
    COUNT_TOLERANCE,
    LITTLE_TOLERANCE,
    SERVER_LATENCY_SLACK_US,
    LevelFigures,
    failed_checks,
)
from harness.sweep.runner import LATE_LAG_MS, summarize_level
from harness.sweep.spec import SweepSpec
from helpers.factories import tally

SPEC = SweepSpec(model="m", instances=(InstanceGroup(),), slo=Slo())
RPS, LATENCY_MS, SERVER_MS = 100, 10.0, 9.0


def level(
    *,
    per_window: tuple[int, ...] = (RPS, RPS, RPS),
    rate: float | None = None,
    spec: SweepSpec = SPEC,
    server_extra: int = 0,
    **window: float,
) -> Level:
    """A level of 1 s windows with these request counts; Triton counts the same (plus server_extra). Send times
    (`sent`) are one window's, repeated a second later in each next window."""
    sent = window.pop("sent", ())
    tallies = [
        tally(n, 1.0, latency_ms=LATENCY_MS, sent=[t + i for t in sent], **window)  # type: ignore[arg-type]
        for i, n in enumerate(per_window)
    ]
    counts = [0, *(sum(per_window[: i + 1]) for i in range(len(per_window)))]
    counts[-1] += server_extra
    snapshots = [StatsSnapshot(success_count=c, success_ns=int(c * SERVER_MS * 1e6)) for c in counts]
    return summarize_level(spec, 1, rate, tallies, snapshots, report_interval_s=defaults.SWEEP_REPORT_INTERVAL_S)


def test_the_baseline_level_has_no_flag() -> None:
    lv = level()
    assert lv.flags == () and lv.inconsistent == () and lv.stable is True and lv.client_saturated is False


# ---- client-saturated: a load generator at or above the saturation CPU share ---------------------------------


def test_the_saturation_threshold_is_the_shared_default() -> None:
    assert SPEC.saturation_cpu == defaults.SATURATION_CPU_PERCENT


@pytest.mark.parametrize("threshold", [defaults.SATURATION_CPU_PERCENT, 50.0])
def test_client_saturated_at_and_above_the_cpu_threshold_only(threshold: float) -> None:
    spec = replace(SPEC, saturation_cpu=threshold)
    below = level(spec=spec, cpu_percent=threshold - 0.5)
    assert "client-saturated" not in below.flags and below.client_saturated is False
    for cpu in (threshold, threshold + 0.5):
        above = level(spec=spec, cpu_percent=cpu)
        assert above.flags == ("client-saturated",) and above.client_saturated is True, cpu


# ---- generator-late: an open-loop send further behind schedule than LATE_LAG_MS --------------------------------


def test_generator_late_only_beyond_the_lag_threshold() -> None:
    at = level(rate=float(RPS), lag_ms=LATE_LAG_MS)
    assert at.flags == () and at.client_saturated is False
    late = level(rate=float(RPS), lag_ms=LATE_LAG_MS + 0.1)
    assert late.flags == ("generator-late",) and late.client_saturated is True
    assert late.max_send_lag_ms == pytest.approx(LATE_LAG_MS + 0.1)


def test_lag_does_not_flag_a_closed_loop_level() -> None:
    assert level(lag_ms=LATE_LAG_MS * 10).flags == ()


# ---- below-offered-rate: an open-loop level that did not get RATE_SHORTFALL of its load ----------------------


def test_below_offered_rate_only_under_the_shortfall() -> None:
    rate = 1000.0  # offered; the windows deliver 100 req/s: the rate that is just met is RPS / RATE_SHORTFALL
    just_met = math.floor(RPS / RATE_SHORTFALL)
    assert level(rate=float(just_met)).flags == ()
    assert level(rate=float(just_met + 1)).flags == ("below-offered-rate",)
    assert "below-offered-rate" in level(rate=rate).flags


# ---- unstable: the last 3 windows' throughput (or p99) beyond the stability tolerance of their mean ---------


def test_unstable_only_beyond_the_stability_tolerance() -> None:
    spread = SPEC.stability * RPS  # requests per 1 s window
    inside = round(spread) - 1
    outside = round(spread) + 1
    stable = level(per_window=(RPS - inside, RPS, RPS + inside))
    assert stable.stable is True and stable.flags == ()
    unstable = level(per_window=(RPS - outside, RPS, RPS + outside))
    assert unstable.stable is False and unstable.flags == ("unstable",)


def test_the_saturation_threshold_is_the_sweep_commands_to_set() -> None:
    """`harness sweep --saturation-cpu 50` flags a level at 50 % of a core; without it, the shared default; 0 is one
    line naming the flag (a threshold no process is ever below would flag every level)."""
    from harness.cli.main import build_parser
    from harness.cli.sweep_flags import spec_from_args
    from harness.errors import ConfigError

    def parsed(*flags: str) -> SweepSpec:
        return spec_from_args(build_parser().parse_args(["sweep", "--model", "m", *flags]))

    assert parsed().saturation_cpu == defaults.SATURATION_CPU_PERCENT
    spec = parsed("--saturation-cpu", "50")
    assert level(spec=spec, cpu_percent=55.0).flags == ("client-saturated",)
    assert level(spec=SPEC, cpu_percent=55.0).flags == ()
    with pytest.raises(ConfigError, match="--saturation-cpu must be a CPU percent above 0"):
        parsed("--saturation-cpu", "0")


def test_the_stability_default_is_the_sweep_commands() -> None:
    """`harness sweep` without --stability builds a spec with the same tolerance as SweepSpec's default."""
    from harness.cli.main import build_parser  # the command's own parsing
    from harness.cli.sweep_flags import spec_from_args

    assert spec_from_args(build_parser().parse_args(["sweep", "--model", "m"])).stability == SPEC.stability


# ---- inconsistent: the self-checks at each tolerance ---------------------------------------------------------

GOOD = LevelFigures(
    mode="concurrency",
    users=4,
    achieved_rps=400.0,
    mean_ms=10.0,
    requests=1200,
    failures=0,
    server_request_us=None,
    server_successes=None,
    report_interval_s=defaults.SWEEP_REPORT_INTERVAL_S,
)


@pytest.mark.parametrize("side", [1, -1])
def test_littles_law_tolerance(side: int) -> None:
    """users = throughput x mean latency, within LITTLE_TOLERANCE of the users."""

    def at(share: float) -> tuple[str, ...]:
        return failed_checks(replace(GOOD, achieved_rps=400.0 * (1 + side * share)))

    assert at(LITTLE_TOLERANCE * 0.99) == ()
    (text,) = at(LITTLE_TOLERANCE * 1.01)
    assert text.startswith("littles-law: 4 users")


def test_server_latency_slack() -> None:
    client_us = GOOD.mean_ms * 1000.0
    assert failed_checks(replace(GOOD, server_request_us=client_us + SERVER_LATENCY_SLACK_US)) == ()
    (text,) = failed_checks(replace(GOOD, server_request_us=client_us + SERVER_LATENCY_SLACK_US + 1.0))
    assert text.startswith("server-latency:")


def test_server_count_tolerance_on_both_sides() -> None:
    """allowed = COUNT_TOLERANCE of the larger count + the requests in flight at both edges (2 x 4 users) + what a
    report straddling an edge holds (throughput x report interval) + 2."""
    client = GOOD.requests
    edges = 2 * GOOD.users + GOOD.achieved_rps * GOOD.report_interval_s + 2
    fewer = math.floor(COUNT_TOLERANCE * client + edges)  # Triton counted fewer: the client's count is the larger
    assert failed_checks(replace(GOOD, server_successes=client - fewer)) == ()
    (text,) = failed_checks(replace(GOOD, server_successes=client - fewer - 1))
    assert text.startswith(f"server-count: the client counted {client} successful requests")
    more = math.floor((COUNT_TOLERANCE * client + edges) / (1 - COUNT_TOLERANCE))  # d <= tol * (client + d) + edges
    assert failed_checks(replace(GOOD, server_successes=client + more)) == ()
    (text,) = failed_checks(replace(GOOD, server_successes=client + more + 1))
    assert text.startswith("server-count:")


def test_a_failed_check_flags_the_level_and_names_itself() -> None:
    """Through the sweep: Triton counting far more successes than the client saw is a level flag."""
    lv = level(server_extra=RPS)
    assert lv.flags == ("inconsistent",) and len(lv.inconsistent) == 1
    assert lv.inconsistent[0].startswith("server-count: the client counted 300 successful requests, Triton 400")


# ---- dropped sends: counted on the level (the cap is the engines'; tests/load/test_arrivals_engines.py) -------


def test_dropped_sends_of_the_counted_windows_reach_the_level() -> None:
    tallies = [tally(RPS, 1.0, latency_ms=LATENCY_MS, dropped=d) for d in (7, 1, 2, 3)]  # 4 windows: last 3 count
    counts = [RPS * i for i in range(5)]
    snapshots = [StatsSnapshot(success_count=c, success_ns=int(c * SERVER_MS * 1e6)) for c in counts]
    lv = summarize_level(SPEC, 1, float(RPS), tallies, snapshots)
    assert lv.dropped == 6 and lv.requests == 3 * RPS


def test_littles_law_holds_at_exactly_its_tolerance() -> None:
    users = round(1 / LITTLE_TOLERANCE)  # the tolerance is then exactly one request in flight
    assert LITTLE_TOLERANCE * users == 1.0
    exact = replace(GOOD, users=users, achieved_rps=(users + 1) * 100.0, mean_ms=10.0)
    assert failed_checks(exact) == ()


@pytest.mark.parametrize(("users", "requests", "asked"), [(0, 1200, False), (4, 0, False), (1, 1200, True), (1, 1, True)])
def test_littles_law_is_asked_of_every_closed_loop_level_with_users_and_requests(
    users: int, requests: int, asked: bool
) -> None:
    """In flight: 400 req/s x 10 ms = 4, so 1 user breaks the law; without users or requests it is not asked."""
    figures = replace(GOOD, users=users, requests=requests)
    assert any(text.startswith("littles-law") for text in failed_checks(figures)) is asked


def test_server_count_in_open_loop_allows_what_is_in_flight_by_littles_law() -> None:
    """Open loop: the requests in flight at an edge are throughput x mean latency (100 req/s x 200 ms = 20), not
    the senders (1)."""
    rate = replace(GOOD, mode="rate", users=1, achieved_rps=100.0, mean_ms=200.0, requests=3000)
    edges = 2 * 20 + rate.achieved_rps * rate.report_interval_s + 2
    fewer = math.floor(COUNT_TOLERANCE * rate.requests + edges)
    assert failed_checks(replace(rate, server_successes=rate.requests - fewer)) == ()
    (text,) = failed_checks(replace(rate, server_successes=rate.requests - fewer - 1))
    assert text.startswith("server-count:")


def test_server_count_in_closed_loop_allows_the_users_in_flight() -> None:
    """Closed loop: every user has a request in flight at an edge (20 here), whatever throughput x latency says."""
    closed = replace(GOOD, users=20)  # 400 req/s x 10 ms = 4 by Little's law, which this level breaks
    edges = 2 * 20 + closed.achieved_rps * closed.report_interval_s + 2
    fewer = math.floor(COUNT_TOLERANCE * closed.requests + edges)
    counted = [
        t for t in failed_checks(replace(closed, server_successes=closed.requests - fewer)) if t.startswith("server-count")
    ]
    assert counted == []
    counted = [
        t for t in failed_checks(replace(closed, server_successes=closed.requests - fewer - 1)) if t.startswith("server-count")
    ]
    assert len(counted) == 1


def test_dropped_sends_flag_the_level_from_the_first_drop() -> None:
    """A send skipped at the in-flight cap means the level did not offer what it says: flagged, not only counted."""
    assert level(rate=float(RPS), dropped=0).flags == ()
    dropped = level(rate=float(RPS), dropped=1)
    assert dropped.flags == ("dropped-sends",) and dropped.dropped == 3 and dropped.client_saturated is False


def test_a_poisson_draw_below_the_offered_rate_is_not_a_shortfall() -> None:
    """Offered 120 req/s; the schedules drew 100 sends a second (all answered): sampling noise over 3 s allows a
    draw down to 120 - DRAW_NOISE_SIGMAS * sqrt(120 / 3) ~ 101 req/s, so the level got the load its schedules offered.
    The same windows with no record of the sends (nominal rate only) fall short, as does a draw far below 200."""
    sends = [i / RPS for i in range(RPS)]  # one window's send times
    drawn = level(rate=120.0, sent=sends)
    assert drawn.scheduled_rps == RPS and drawn.flags == ()
    assert level(rate=120.0).flags == ("below-offered-rate",) and level(rate=120.0).scheduled_rps is None
    assert level(rate=200.0, sent=sends).flags == ("below-offered-rate",)
    with_drops = level(rate=120.0, sent=sends[:-10], dropped=10)  # dropped at the cap: drawn, not sent
    # the 10 sends dropped in a row also left a gap in what was sent: not the constant stream asked for
    assert with_drops.scheduled_rps == RPS and with_drops.flags == ("dropped-sends", "arrivals-cv-off")


def test_a_closed_loop_level_records_no_schedule() -> None:
    assert level().scheduled_rps is None


# ---- send-lag and arrivals-cv-off: did the level send the arrivals it asked for -------------------------------


def constant_sends(rate: float = RPS) -> list[float]:
    return [i / rate for i in range(int(rate))]  # one 1 s window's


@pytest.mark.parametrize("rate", [1000.0, 2000.0])
def test_send_lag_flags_a_level_whose_lag_p99_passes_one_gap(rate: float) -> None:
    """99 of 100 sends within the gap 1/rate keep the schedule; the p99 one past it does not (lags under 2 ms are
    exact to the microsecond in the histogram)."""
    gap_us = int(1e6 / rate)
    kept = level(rate=rate, sent=constant_sends(), lags_us=[gap_us] * 99 + [5 * gap_us])
    assert kept.send_lag_us == SendLag(p50=gap_us, p99=gap_us, max=pytest.approx(5 * gap_us, rel=1e-3))
    assert "send-lag" not in kept.flags and kept.client_saturated is False
    behind = level(rate=rate, sent=constant_sends(), lags_us=[gap_us] * 98 + [gap_us + 10] * 2)
    assert behind.send_lag_us is not None and behind.send_lag_us.p99 == gap_us + 10
    # sends wait on no reply: sends behind their spacing are the generator's limit, not the server's
    assert "send-lag" in behind.flags and behind.client_saturated is True


def test_a_closed_loop_level_has_no_send_lag_or_asked_cv() -> None:
    closed = level()
    assert closed.send_lag_us is None and closed.asked_arrivals_cv is None and closed.arrivals_cv is None


@pytest.mark.parametrize(("arrivals", "asked"), [("constant", 0.0), ("poisson", 1.0), ("gamma:3", 3.0)])
def test_the_measured_cv_is_held_to_the_asked_one(arrivals: str, asked: float) -> None:
    """Sends drawn from the asked process pass; evenly spaced sends miss every CV but constant's."""
    spec = replace(SPEC, arrivals=arrivals)
    drawn = [t for t in schedule(float(RPS), arrivals, 1, 3 * RPS)]  # three windows' sends, in order
    windows = [drawn[i * RPS : (i + 1) * RPS] for i in range(3)]
    tallies = [tally(RPS, 1.0, latency_ms=LATENCY_MS, sent=sends) for sends in windows]
    snapshots = [StatsSnapshot(success_count=c, success_ns=int(c * SERVER_MS * 1e6)) for c in (0, 100, 200, 300)]
    sent_as_asked = summarize_level(spec, 1, float(RPS), tallies, snapshots, report_interval_s=0.5)
    assert sent_as_asked.asked_arrivals_cv == asked and "arrivals-cv-off" not in sent_as_asked.flags
    evenly = level(rate=float(RPS), spec=spec, sent=constant_sends())
    assert evenly.arrivals_cv == pytest.approx(0.0, abs=1e-6)
    assert ("arrivals-cv-off" in evenly.flags) == (asked > 0)


def test_a_replayed_schedule_is_held_to_the_files_own_cv(tmp_path: Path) -> None:
    gaps = [0.004, 0.0, 0.0, 0.036]  # bursts of three, 100 sends a second: CV 1.51
    spec = replace(SPEC, trace=Trace(tuple(gaps)), schedule="t.txt")
    replayed = [t for t in schedule(float(RPS), "trace", 0, 3 * RPS, trace=gaps)]
    assert inter_arrival_cv(replayed) == pytest.approx(asked_cv("trace", gaps), rel=0.01)
    ok = level(rate=float(RPS), spec=spec, sent=replayed[:RPS])
    assert ok.asked_arrivals_cv == pytest.approx(asked_cv("trace", gaps), abs=1e-4) and "arrivals-cv-off" not in ok.flags
    assert "arrivals-cv-off" in level(rate=float(RPS), spec=spec, sent=constant_sends()).flags
