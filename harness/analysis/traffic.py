"""The traffic a plan serves: one peak rate all day, or a day (or more) of equal time steps from a CSV.

The file: an optional header line `time,rps`, then one `time,rps` line per step. `time` is HH:MM or HH:MM:SS
(within one day, rising) or an ISO 8601 date-time such as 2025-03-01T08:00 (across days; without a zone it is
read as UTC); every row uses the same form. `rps` is requests per second, 0 or more. Each row stands for the step
from its time to the next row's; the steps are all as long as the first two rows say (5 min, 1 h, ...), so a
missing row is a gap, not a long step: a plan needs each step's rate. Blank lines are skipped. Bad input is one
ConfigError line naming the line number and the fix.

Pure: the caller reads the file and hands over its text.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from harness.errors import ConfigError

DAY_S = 86_400.0
HEADER = ("time", "rps")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_FORMAT_HELP = "write HH:MM, HH:MM:SS or an ISO 8601 date-time such as 2025-03-01T08:00"


@dataclass(frozen=True)
class TrafficStep:
    time: str  # as written ("peak" for a single rate)
    offset_s: float  # from the first step
    rps: float
    line: int = 0  # where the file wrote it (0: not from a file)


@dataclass(frozen=True)
class Traffic:
    steps: tuple[TrafficStep, ...]
    step_s: float

    @property
    def span_s(self) -> float:
        return self.step_s * len(self.steps)

    @property
    def peak_rps(self) -> float:
        return max(s.rps for s in self.steps)


def peak_traffic(rps: float) -> Traffic:
    """One rate around the clock: a single step a day long."""
    if not math.isfinite(rps) or rps <= 0:
        raise ConfigError(f"--traffic {rps!r}: give the peak as a positive number of requests per second, e.g. 150")
    return Traffic((TrafficStep("peak", 0.0, float(rps)),), DAY_S)


def parse_traffic(text: str, source: str) -> Traffic:
    """The steps of a `time,rps` CSV, checked: sorted, evenly spaced, rates numbers of 0 or more."""
    rows = [_row(number, line, source) for number, line in _data_lines(text)]
    if not rows:
        raise ConfigError(f"{source}: no traffic rows; write one `time,rps` line per step, e.g. 08:00,120")
    if len(rows) < 2:
        raise ConfigError(
            f"{source} line {rows[0][0].line}: one row gives no step length; give a row per step (at least two), "
            "or --traffic PEAK_RPS for one rate all day"
        )
    _check_forms(rows, source)
    steps = [step for step, _ in rows]
    length = steps[1].offset_s - steps[0].offset_s
    for before, after in zip(steps, steps[1:], strict=False):
        _check_step(before, after, length, steps[1].line, source)
    first = steps[0].offset_s
    return Traffic(tuple(TrafficStep(s.time, s.offset_s - first, s.rps, s.line) for s in steps), length)


def _data_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of the non-blank lines, without the header."""
    lines = [(n, line.strip()) for n, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1) if line.strip()]
    if lines and tuple(cell.strip().lower() for cell in lines[0][1].split(",")) == HEADER:
        return lines[1:]
    return lines


def _row(number: int, line: str, source: str) -> tuple[TrafficStep, str]:
    """One step and the form its time was written in ("clock" or "iso")."""
    cells = [cell.strip() for cell in line.split(",")]
    if len(cells) != 2:
        raise ConfigError(f"{source} line {number}: {line!r} is not `time,rps`; write one time and one rate, e.g. 08:00,120")
    form, seconds = _time(cells[0], number, source)
    return TrafficStep(cells[0], seconds, _rate(cells[1], number, source), number), form


def _time(text: str, number: int, source: str) -> tuple[str, float]:
    clock = _CLOCK.match(text)
    if clock:
        hours, minutes, seconds = (int(part or 0) for part in clock.groups())
        if hours < 24 and minutes < 60 and seconds < 60:
            return "clock", float(hours * 3600 + minutes * 60 + seconds)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{source} line {number}: time {text!r} is not a time of day or date-time; {_FORMAT_HELP}") from None
    return "iso", (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _rate(text: str, number: int, source: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        raise ConfigError(
            f"{source} line {number}: rps {text!r} is not a number; write requests per second, e.g. 120"
        ) from None
    if not math.isfinite(rate) or rate < 0:
        raise ConfigError(
            f"{source} line {number}: rps {text!r} must be a number of 0 or more; write requests per second, 0 where "
            "there is no traffic"
        )
    return rate


def _check_forms(rows: list[tuple[TrafficStep, str]], source: str) -> None:
    first_form = rows[0][1]
    for step, form in rows:
        if form != first_form:
            raise ConfigError(
                f"{source} line {step.line}: time {step.time!r} is written unlike line {rows[0][0].line}'s "
                f"{rows[0][0].time!r}; write every time the same way (HH:MM, or ISO date-times across days)"
            )


def _check_step(before: TrafficStep, after: TrafficStep, length: float, length_line: int, source: str) -> None:
    gap = after.offset_s - before.offset_s
    if gap <= 0:
        raise ConfigError(
            f"{source} line {after.line}: time {after.time} does not come after line {before.line}'s {before.time}; "
            "sort the rows by time (HH:MM stays within one day: use ISO date-times to pass midnight)"
        )
    if abs(gap - length) > 1e-6:
        raise ConfigError(
            f"{source} line {after.line}: {after.time} is {_duration(gap)} after line {before.line}'s {before.time}, "
            f"but the steps are {_duration(length)} (line {length_line}); give a row for every step, rate 0 where "
            "there is no traffic"
        )


def _duration(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
