"""Schedule files (--schedule): perf_analyzer's --request-intervals format and a CSV of send offsets, read into the
gaps both engines replay; a bad file is one line naming its line, before any load."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.load.trace import read_trace
from helpers.processes import harness


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_an_intervals_file_is_microseconds_between_sends(tmp_path: Path) -> None:
    trace = read_trace(write(tmp_path, "intervals.txt", "1000\n# a comment\n\n3000\n0\n4000\n"))
    assert trace.gaps_s == pytest.approx((0.001, 0.003, 0.0, 0.004))
    assert trace.rate == pytest.approx(4 / 0.008)
    assert trace.scaled(1000.0) == pytest.approx((0.0005, 0.0015, 0.0, 0.002))  # twice the file's rate


def test_a_csv_of_offsets_replays_their_spacing_in_its_header_unit(tmp_path: Path) -> None:
    seconds = read_trace(write(tmp_path, "sends.csv", "100.0,a\n100.5,b\n100.75,c\n"))
    assert seconds.gaps_s == pytest.approx((0.5, 0.25))
    millis = read_trace(write(tmp_path, "sends_ms.csv", "offset_ms,model\n0,m\n20,m\n20,m\n50,m\n"))
    assert millis.gaps_s == pytest.approx((0.02, 0.0, 0.03))


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("empty.txt", "", "holds no sends"),
        ("comments.txt", "# nothing\n\n", "holds no sends"),
        ("negative.txt", "100\n-5\n", "line 2: interval in microseconds -5 is negative"),
        ("words.txt", "100\n200\nabc\n", "line 3: 'abc' is not a number"),
        ("nan.txt", "nan\n", "line 1: 'nan' is not a number"),
        ("zeros.txt", "0\n0\n", "add up to 0 s"),
        ("unsorted.csv", "offset_s\n0.0\n0.5\n0.2\n", "line 4: offset 0.2 comes before the previous row's"),
        ("one.csv", "0.0\n", "holds no sends"),
        ("negative.csv", "1.0\n-2.0\n", "line 2: send offset -2.0 is negative"),
    ],
)
def test_a_bad_file_is_refused_naming_its_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as refused:
        read_trace(write(tmp_path, name, text))
    assert "\n" not in str(refused.value) and name in str(refused.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read it"):
        read_trace(tmp_path / "nowhere.txt")


@pytest.mark.parametrize("command", ["sweep", "ui"])
def test_harness_refuses_a_bad_schedule_in_one_line_before_any_load(tmp_path: Path, command: str) -> None:
    """No server is started (nothing listens at --url): the file is refused first, in one line, exit status 2."""
    bad = write(tmp_path, "intervals.txt", "1000\n2000\n-3\n")
    result = harness(command, "--url", "127.0.0.1:9", "--model", "fixed_delay", "--schedule", bad, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"harness {command}: error: --schedule {bad} line 3: interval in microseconds -3 is negative"
    ]


def test_harness_sweep_refuses_a_bad_arrival_process_in_one_line(tmp_path: Path) -> None:
    result = harness("sweep", "--url", "127.0.0.1:9", "--model", "fixed_delay", "--rate", "10", "--arrivals", "gamma:0")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "--arrivals 'gamma:0' is not an arrival process" in line
