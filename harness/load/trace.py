"""Recorded traffic to replay (`--schedule FILE`): read and checked once, before any load.

Two formats, told apart by the file's suffix:
- perf_analyzer's `--request-intervals` file: one interval in microseconds per line, the gap before each send;
- `.csv`: one send per row, its offset in the first column, in seconds (a header row is allowed; a header cell
  ending in `_ms` or `_us` says milliseconds or microseconds); the sends' spacing is replayed, from the first on.
Blank lines and lines starting with `#` are skipped. The gaps are replayed in a loop, as perf_analyzer does, at
the file's own rate, or time-scaled to a level's rate (the shape, and so the CV, kept). A bad file (empty,
negative or non-numeric values, offsets out of order) is refused in one line that names the line.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError

_UNITS = {"_us": 1e-6, "_ms": 1e-3}


@dataclass(frozen=True)
class Trace:
    gaps_s: tuple[float, ...]  # between consecutive sends; the first is the gap before the first send
    source: str = ""

    @property
    def rate(self) -> float:
        """The file's own rate: sends per second of its gaps."""
        return len(self.gaps_s) / sum(self.gaps_s)

    def scaled(self, rate: float) -> tuple[float, ...]:
        """The gaps time-scaled to `rate` (the file's own gaps where rate is not positive)."""
        if not rate > 0:
            return self.gaps_s
        factor = self.rate / rate
        return tuple(gap * factor for gap in self.gaps_s)


def read_trace(path: str | Path) -> Trace:
    """The file's gaps, or ConfigError naming the file, the line and the fix."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--schedule {path}: cannot read it ({exc}); give a readable text file") from exc
    gaps = _offsets_gaps(path, text) if path.suffix.lower() == ".csv" else _interval_gaps(path, text)
    if not gaps:
        raise ConfigError(
            f"--schedule {path} holds no sends; give one interval in microseconds per line, or a .csv of send "
            "offsets (two rows at least)"
        )
    if sum(gaps) <= 0:
        raise ConfigError(f"--schedule {path}: its gaps add up to 0 s; it asks for an infinite rate")
    return Trace(tuple(gaps), str(path))


def _rows(text: str) -> list[tuple[int, str]]:
    """(line number, line) of the lines that carry a value."""
    return [
        (number, line.strip())
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _number(path: Path, number: int, cell: str, what: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ConfigError(f"--schedule {path} line {number}: {cell!r} is not a number; each line is one {what}")
    if value < 0:
        raise ConfigError(f"--schedule {path} line {number}: {what} {cell} is negative")
    return value


def _interval_gaps(path: Path, text: str) -> list[float]:
    return [_number(path, number, line, "interval in microseconds") * 1e-6 for number, line in _rows(text)]


def _offsets_gaps(path: Path, text: str) -> list[float]:
    rows = _rows(text)
    unit = 1.0
    if rows and not _is_number(_first_cell(rows[0][1])):
        header = _first_cell(rows[0][1]).lower()
        unit = next((scale for suffix, scale in _UNITS.items() if header.endswith(suffix)), 1.0)
        rows = rows[1:]
    offsets: list[float] = []
    for number, line in rows:
        offset = _number(path, number, _first_cell(line), "send offset") * unit
        if offsets and offset < offsets[-1]:
            raise ConfigError(
                f"--schedule {path} line {number}: offset {_first_cell(line)} comes before the previous row's; "
                "sort the rows by send offset"
            )
        offsets.append(offset)
    return [b - a for a, b in zip(offsets, offsets[1:], strict=False)]


def _first_cell(line: str) -> str:
    return next(csv.reader([line]), [""])[0].strip() if line else ""


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
