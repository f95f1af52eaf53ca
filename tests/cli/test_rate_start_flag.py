"""`harness sweep --rate auto --rate-start RPS|probe`: where the capacity search starts (no server)."""

from __future__ import annotations

import pytest

from harness.cli.main import build_parser
from harness.cli.sweep_flags import spec_from_args
from harness.errors import ConfigError
from harness.sweep.spec import SweepSpec
from helpers.processes import harness


def _spec(*argv: str) -> SweepSpec:
    return spec_from_args(build_parser().parse_args(["sweep", "--model", "m", *argv]))


def test_the_search_starts_from_the_closed_loop_probe_unless_told() -> None:
    assert _spec("--rate", "auto").rate_start is None
    assert _spec("--rate", "auto", "--rate-start", "probe").rate_start is None
    assert _spec("--rate", "auto", "--rate-start", " Probe ").rate_start is None
    assert _spec("--rate", "auto", "--rate-start", "2.5").rate_start == 2.5
    assert _spec("--rate", "auto", "--rate-start", "1000").rate_start == 1000.0


@pytest.mark.parametrize("text", ["0", "-5", "nan", "inf", "abc", "10,20", ""])
def test_a_start_that_is_no_positive_rate_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match=rf"--rate-start: '{text}' is not a positive rate; give one in requests/s"):
        _spec("--rate", "auto", "--rate-start", text)


@pytest.mark.parametrize("levels", [(), ("--rate", "100,200"), ("--concurrency", "1,2")])
def test_a_start_without_the_rate_search_is_refused(levels: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError, match="--rate-start 50 starts the capacity search: give --rate auto too"):
        _spec(*levels, "--rate-start", "50")


def test_a_bad_start_is_one_line_before_anything_starts() -> None:
    result = harness("sweep", "--model", "fixed_delay", "--rate", "auto", "--rate-start", "-1", timeout=60)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "harness sweep: error: --rate-start: '-1' is not a positive rate; give one in requests/s (e.g. 50), or 'probe' to "
        "start where a closed-loop probe gets"
    ]
