"""Unit tests, no server: the parsers of what users type (SLOs, instance groups, levels, durations, percents, URLs)."""

from __future__ import annotations

import pytest

from harness.cli.parse import (
    parse_instances,
    parse_int_list,
    parse_percent,
    parse_seconds,
    parse_slo,
    parse_url,
    thread_warnings,
)
from harness.errors import ConfigError
from harness.record.model import InstanceGroup, Slo


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p99=100ms", Slo("p99", 100.0)),
        ("p99=100", Slo("p99", 100.0)),  # ms by default
        ("P95<=0.5s", Slo("p95", 500.0)),
        ("p50 = 250us", Slo("p50", 0.25)),
        ("p99.9=20ms", Slo("p999", 20.0)),
        ("p999=20", Slo("p999", 20.0)),
        ("p90=.5", Slo("p90", 0.5)),
    ],
)
def test_parse_slo_good(text: str, expected: Slo) -> None:
    got = parse_slo(text)
    assert got.percentile == expected.percentile
    assert got.limit_ms == pytest.approx(expected.limit_ms)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "PERCENTILE=LIMIT"),
        ("p99", "PERCENTILE=LIMIT"),
        ("100ms", "PERCENTILE=LIMIT"),
        ("p99=fast", "PERCENTILE=LIMIT"),
        ("p99=10min", "PERCENTILE=LIMIT"),
        ("p99=-5ms", "PERCENTILE=LIMIT"),
        ("p98=100ms", "unknown percentile p98"),
        ("p99=0ms", "must be positive"),
    ],
)
def test_parse_slo_bad(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match="--slo") as info:
        parse_slo(text)
    assert says in str(info.value)
    assert "\n" not in str(info.value)


def test_parse_instances_good() -> None:
    assert parse_instances("cpu:1,cpu:2,gpu:1") == [InstanceGroup("CPU", 1), InstanceGroup("CPU", 2), InstanceGroup("GPU", 1)]
    assert parse_instances(" GPU:4 , ") == [InstanceGroup("GPU", 4)]


@pytest.mark.parametrize("text", ["", ",", "cpu", "cpu:0", "cpu:-1", "tpu:1", "cpu:x", "cpu:1,gpu", "1:cpu"])
def test_parse_instances_bad(text: str) -> None:
    with pytest.raises(ConfigError, match="--instances"):
        parse_instances(text)


def test_parse_int_list() -> None:
    assert parse_int_list("1,2,4,8", "--batch-sizes") == [1, 2, 4, 8]
    assert parse_int_list(" 16 ", "--users") == [16]
    for bad in ("", "0", "1,x", "-2", "1.5", "1,,0"):
        with pytest.raises(ConfigError, match="--users"):
            parse_int_list(bad, "--users")


@pytest.mark.parametrize(
    ("text", "seconds"), [("10", 10.0), ("10s", 10.0), ("500ms", 0.5), ("2m", 120.0), (" 1.5 s ", 1.5), (".25", 0.25)]
)
def test_parse_seconds_good(text: str, seconds: float) -> None:
    assert parse_seconds(text, "--duration") == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "ten", "10h", "-1s", "1e3", "s"])
def test_parse_seconds_bad(text: str) -> None:
    with pytest.raises(ConfigError, match="--duration"):
        parse_seconds(text, "--duration")


@pytest.mark.parametrize(("text", "value"), [("10%", 0.10), ("0.1", 0.1), (" 2.5% ", 0.025), ("99%", 0.99)])
def test_parse_percent_good(text: str, value: float) -> None:
    assert parse_percent(text, "--tolerance") == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "abc", "%", "0%", "100%", "150%", "1", "-5%", "0"])
def test_parse_percent_bad(text: str) -> None:
    with pytest.raises(ConfigError, match="--tolerance"):
        parse_percent(text, "--tolerance")


@pytest.mark.parametrize("text", ["127.0.0.1:8001", "localhost:1", "triton.example.com:65535", "[::1]:8001"])
def test_parse_url_good(text: str) -> None:
    assert parse_url(text) == text


@pytest.mark.parametrize("text", ["", "127.0.0.1", ":8001", "host:", "host:0", "host:65536", "host:abc", "host:-1"])
def test_parse_url_bad(text: str) -> None:
    with pytest.raises(ConfigError, match="HOST:PORT"):
        parse_url(text)


def test_parse_instances_with_threads() -> None:
    assert parse_instances("cpu:2x4,cpu:1,gpu:1") == [
        InstanceGroup("CPU", 2, threads=4),
        InstanceGroup("CPU", 1),
        InstanceGroup("GPU", 1),
    ]
    assert str(parse_instances("CPU:2X4")[0]) == "cpu:2x4"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("cpu:2x0", "asks for 0 threads; give at least 1"),
        ("gpu:1x2", "threads are a CPU setting"),
        ("cpu:2x", "is not KIND:COUNT[xTHREADS]"),
        ("cpu:2x-1", "is not KIND:COUNT[xTHREADS]"),
    ],
)
def test_parse_instances_bad_threads(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match="--instances") as info:
        parse_instances(text)
    assert says in str(info.value) and "\n" not in str(info.value)


def test_threads_above_the_host_cores_warn_and_stay_as_asked() -> None:
    groups = parse_instances("cpu:1x8,cpu:2x2")
    warnings = thread_warnings(groups, cores=4)
    assert len(warnings) == 1 and "cpu:1x8 asks for 8 threads" in warnings[0] and "4 cores" in warnings[0]
    assert groups[0].threads == 8
    assert thread_warnings(groups, cores=8) == []
