"""A level's self-checks: each one passes on figures that obey it and names itself on figures that do not."""

from __future__ import annotations

from dataclasses import replace

from harness.sweep.checks import LevelFigures, failed_checks

# One ~10 ms instance at concurrency 2: 95 req/s, 21 ms mean (Little: 1.995 in flight), 3 windows of 1 s.
GOOD = LevelFigures(
    mode="concurrency",
    users=2,
    achieved_rps=95.0,
    mean_ms=21.0,
    requests=285,
    failures=0,
    server_request_us=20800.0,
    server_successes=284,
    report_interval_s=0.5,
)


def test_consistent_figures_pass() -> None:
    assert failed_checks(GOOD) == ()


def test_littles_law_names_a_closed_loop_that_does_not_keep_its_users_in_flight() -> None:
    # 2 users but only 1 in flight on average: a generator idling between reply and send, or a lost worker
    (text,) = failed_checks(replace(GOOD, achieved_rps=47.5, server_successes=142, requests=142))
    assert text.startswith("littles-law: 2 users but throughput x mean latency = 0.998 in flight")
    assert failed_checks(replace(GOOD, achieved_rps=91.0)) == ()  # 4 % off: within a few %


def test_littles_law_is_not_asked_of_an_open_loop_level() -> None:
    assert failed_checks(replace(GOOD, mode="rate", users=1, achieved_rps=40.0, requests=120, server_successes=120)) == ()


def test_a_client_faster_than_the_server_is_inconsistent() -> None:
    (text,) = failed_checks(replace(GOOD, server_request_us=25000.0, mean_ms=21.0, achieved_rps=95.0))
    assert text == "server-latency: client mean 21000 us is below Triton's mean request time 25000 us"


def test_request_counts_must_agree_with_triton_within_the_edges() -> None:
    assert failed_checks(replace(GOOD, server_successes=285 - 50)) == ()  # half a report + in flight + 2 %
    (text,) = failed_checks(replace(GOOD, server_successes=285 - 80))
    assert text.startswith("server-count: the client counted 285 successful requests, Triton 205")
    (text,) = failed_checks(replace(GOOD, server_successes=2 * 285))  # counted twice by the server: another client
    assert text.startswith("server-count:")


def test_failures_are_not_successes() -> None:
    (text,) = failed_checks(replace(GOOD, failures=100))
    assert text.startswith("server-count: the client counted 185 successful requests, Triton 284")
