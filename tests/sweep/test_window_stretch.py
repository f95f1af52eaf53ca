"""Window stretching: a window with too few requests for its rate and p99 to mean something is measured longer.

The rule (harness.sweep.rules.window_needs_more) at each edge of its thresholds, read from the module; the level
runner's loop on a fake driver (the driver is the runner's seam: it sleeps and hands over what arrived); and once
for real on `fixed_delay`, where the offered rate says how many requests an unstretched window would hold.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from harness.load.aggregate import Tally
from harness.record.model import InstanceGroup, Slo
from harness.sweep.rules import MIN_WINDOW_REQUESTS, WINDOW_STRETCH, window_needs_more
from harness.sweep.runner import LevelRunner
from harness.sweep.spec import SweepSpec
from helpers.factories import tally
from helpers.processes import HARNESS, RUN_TIMEOUT_S

WINDOW_S = 2.0
TIMEOUT_S = 30.0
CAP_S = WINDOW_STRETCH * WINDOW_S


def test_a_window_with_enough_requests_is_not_stretched() -> None:
    assert window_needs_more(MIN_WINDOW_REQUESTS, WINDOW_S, WINDOW_S, TIMEOUT_S) is False
    assert window_needs_more(MIN_WINDOW_REQUESTS - 1, WINDOW_S, WINDOW_S, TIMEOUT_S) is True


def test_a_window_is_stretched_up_to_its_cap_and_no_further() -> None:
    few = MIN_WINDOW_REQUESTS - 1
    assert window_needs_more(few, CAP_S - 0.01, WINDOW_S, TIMEOUT_S) is True
    assert window_needs_more(few, CAP_S, WINDOW_S, TIMEOUT_S) is False
    assert window_needs_more(1, CAP_S, WINDOW_S, TIMEOUT_S) is False  # one request: the cap still holds


def test_an_empty_window_waits_for_the_request_timeout() -> None:
    """Nothing answered yet: the requests in flight may be slow, not lost; past the timeout they count as failed."""
    assert window_needs_more(0, CAP_S, WINDOW_S, TIMEOUT_S) is True
    assert window_needs_more(0, TIMEOUT_S + WINDOW_S - 0.01, WINDOW_S, TIMEOUT_S) is True
    assert window_needs_more(0, TIMEOUT_S + WINDOW_S, WINDOW_S, TIMEOUT_S) is False


def test_the_cap_scales_with_the_window() -> None:
    assert window_needs_more(10, 4.9, 1.0, TIMEOUT_S) is True
    assert window_needs_more(10, 5.0, 1.0, TIMEOUT_S) is False
    assert window_needs_more(10, 9.9, 2.0, TIMEOUT_S) is True


class SteadyDriver:
    """Requests complete at `rps`; take_window hands over those since the previous call (a clock, no sleeping)."""

    def __init__(self, rps: float) -> None:
        self.rps, self.now, self.taken_at, self.slept = rps, 0.0, 0.0, []

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept.append(seconds)

    def take_window(self) -> Tally:
        span, self.taken_at = self.now - self.taken_at, self.now
        return tally(round(self.rps * span), span)


def _window(rps: float, window_s: float) -> tuple[Tally, SteadyDriver]:
    spec = SweepSpec(model="m", instances=(InstanceGroup(),), slo=Slo(), window_s=window_s, request_timeout_s=TIMEOUT_S)
    driver = SteadyDriver(rps)
    runner = LevelRunner(spec, control=None, driver=driver, progress=lambda _: None, name="cpu:1")  # type: ignore[arg-type]
    return runner._window(), driver


def test_the_runner_stretches_by_half_windows_until_enough_requests() -> None:
    """20 req/s, 1 s windows: 20 requests after 1 s, then 30, 40, and 50 after 2.5 s, well within the 5 s cap."""
    window, driver = _window(rps=20.0, window_s=1.0)
    assert window.requests == 50 and window.span_s == pytest.approx(2.5)
    assert sum(driver.slept) == pytest.approx(2.5)


def test_the_runner_stops_at_the_cap_with_too_few_requests() -> None:
    """4 req/s, 1 s windows: 20 requests when the 5 s cap ends the window."""
    window, driver = _window(rps=4.0, window_s=1.0)
    assert window.requests == 20 and window.span_s == pytest.approx(WINDOW_STRETCH * 1.0)


def test_the_runner_does_not_stretch_a_busy_window() -> None:
    window, driver = _window(rps=100.0, window_s=1.0)
    assert window.requests == 100 and sum(driver.slept) == pytest.approx(1.0)


@pytest.mark.integration
def test_a_slow_open_loop_level_gets_stretched_windows(triton_url: str, tmp_path: Path) -> None:
    """fixed_delay at 40 req/s offered (constant arrivals, far below its 100 req/s capacity, so every request is
    answered): a 0.5 s window holds 20 requests, too few, so each counted window is stretched until it holds at
    least MIN_WINDOW_REQUESTS (about 1.25 s at 40 req/s), within WINDOW_STRETCH windows plus one worker report."""
    rate, window_s = 40.0, 0.5
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
            f"{rate:g}",
            "--workers",
            "1",
            "--warmup",
            "0.5s",
            "--window",
            f"{window_s}s",
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
    (level,) = json.loads((tmp_path / "run" / "run.json").read_text())["curves"][0]["levels"]
    assert len(level["windows"]) == 3
    for window in level["windows"]:
        assert window["requests"] >= MIN_WINDOW_REQUESTS, level["windows"]
        assert MIN_WINDOW_REQUESTS / rate * 0.8 <= window["duration_s"] <= WINDOW_STRETCH * window_s + 0.5, window
        assert window["achieved_rps"] == pytest.approx(rate, rel=0.1)  # the stretched window's rate is still right
