"""The traffic a plan serves: a `time,rps` CSV read into equal steps, and every way a file can be wrong refused in
one line that names the line and the fix."""

from __future__ import annotations

import pytest

from harness.analysis.traffic import DAY_S, parse_traffic, peak_traffic
from harness.errors import ConfigError


def test_a_day_of_hours_with_a_header() -> None:
    text = "time,rps\n" + "\n".join(f"{h:02d}:00,{10 * h}" for h in range(24)) + "\n"
    traffic = parse_traffic(text, "day.csv")
    assert traffic.step_s == 3600 and len(traffic.steps) == 24 and traffic.span_s == DAY_S
    assert traffic.steps[5].time == "05:00" and traffic.steps[5].offset_s == 5 * 3600 and traffic.steps[5].rps == 50
    assert traffic.steps[5].line == 7 and traffic.peak_rps == 230


def test_five_minute_steps_without_a_header_and_with_blank_lines() -> None:
    traffic = parse_traffic("08:00:00, 12.5\n\n08:05:00,0\n08:10:00,7\n", "f.csv")
    assert traffic.step_s == 300 and [s.rps for s in traffic.steps] == [12.5, 0.0, 7.0]
    assert [s.offset_s for s in traffic.steps] == [0, 300, 600]


def test_iso_date_times_cross_midnight() -> None:
    text = "time,rps\n2025-03-01T23:00,5\n2025-03-02T00:00,6\n2025-03-02T01:00+00:00,7\n"
    traffic = parse_traffic(text, "f.csv")
    assert traffic.step_s == 3600 and [s.offset_s for s in traffic.steps] == [0, 3600, 7200]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "f.csv: no traffic rows"),
        ("time,rps\n\n", "f.csv: no traffic rows"),
        ("time,rps\n08:00,5\n", "line 2: one row gives no step length"),
        ("08:00,5\n09:00,lots\n", "line 2: rps 'lots' is not a number"),
        ("08:00,5\n09:00,-3\n", "line 2: rps '-3' must be a number of 0 or more"),
        ("08:00,5\n09:00,nan\n", "line 2: rps 'nan' must be a number of 0 or more"),
        ("08:00,5\n25:00,3\n", "line 2: time '25:00' is not a time of day or date-time"),
        ("08:00,5\nnoon,3\n", "line 2: time 'noon' is not a time of day or date-time"),
        ("time,rps\n08:00,5\n09:00,6\n08:30,6\n", "line 4: time 08:30 does not come after line 3's 09:00"),
        ("08:00,5\n08:00,6\n", "line 2: time 08:00 does not come after line 1's 08:00"),
        ("00:00,5\n01:00,6\n03:00,6\n", "line 3: 03:00 is 2 h after line 2's 01:00, but the steps are 1 h (line 2)"),
        ("00:00,5\n00:05,6\n00:15,6\n", "line 3: 00:15 is 10 min after line 2's 00:05, but the steps are 5 min"),
        ("00:00,5\n2025-03-01T01:00,6\n", "line 2: time '2025-03-01T01:00' is written unlike line 1's '00:00'"),
        ("00:00,5,7\n01:00,6\n", "line 1: '00:00,5,7' is not `time,rps`"),
        ("00:00\n01:00,6\n", "line 1: '00:00' is not `time,rps`"),
    ],
)
def test_a_bad_file_is_one_line_naming_where_and_the_fix(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_traffic(text, "f.csv")
    said = str(error.value)
    assert message in said and "\n" not in said
    assert any(fix in said for fix in ("write", "give", "sort")), said  # every message says what to do


def test_a_gap_says_to_write_the_missing_step_with_rate_zero() -> None:
    with pytest.raises(ConfigError, match="give a row for every step, rate 0 where there is no traffic"):
        parse_traffic("00:00,5\n01:00,6\n03:00,6\n", "f.csv")


def test_a_single_peak_lasts_a_day() -> None:
    traffic = peak_traffic(150.0)
    assert traffic.step_s == DAY_S and [(s.time, s.rps) for s in traffic.steps] == [("peak", 150.0)]


@pytest.mark.parametrize("rps", [0.0, -5.0, float("inf"), float("nan")])
def test_a_peak_must_be_a_positive_rate(rps: float) -> None:
    with pytest.raises(ConfigError, match="positive number of requests per second"):
        peak_traffic(rps)
