"""Unit tests, no server: the user-facing spec parsers, the pure variant config, and Triton log error filtering."""

from __future__ import annotations

import copy
from pathlib import Path

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
from harness.triton.repository import BUNDLED_REPOSITORY, read_config
from harness.triton.server import error_lines
from harness.triton.variants import Variant, reported_group, variant_config

# --- specs -----------------------------------------------------------------------------------------------------


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


# --- variant_config ----------------------------------------------------------------------------------------------


def _mnist() -> dict:
    return read_config(BUNDLED_REPOSITORY, "mnist_cnn")


def test_variant_config_replaces_instance_group_only() -> None:
    base = _mnist()
    before = copy.deepcopy(base)
    config = variant_config(base, Variant(InstanceGroup("CPU", 3)))
    assert config["instance_group"] == [{"kind": "KIND_CPU", "count": 3}]
    assert base == before, "variant_config must not modify its input"
    assert {k: v for k, v in config.items() if k != "instance_group"} == {
        k: v for k, v in base.items() if k != "instance_group"
    }


def test_variant_config_gpu_group_replaces_a_multi_group_config() -> None:
    base = {**_mnist(), "instance_group": [{"kind": "KIND_CPU", "count": 1}, {"kind": "KIND_GPU", "count": 2}]}
    config = variant_config(base, Variant(InstanceGroup("GPU", 1)))
    assert config["instance_group"] == [{"kind": "KIND_GPU", "count": 1}]


def test_variant_config_batching_off_and_max_batch_size() -> None:
    base = _mnist()
    assert "dynamic_batching" in base
    config = variant_config(base, Variant(InstanceGroup("CPU", 1), max_batch_size=8, dynamic_batching=False))
    assert "dynamic_batching" not in config
    assert config["max_batch_size"] == 8
    assert "dynamic_batching" in base and base["max_batch_size"] == 64


def test_variant_config_queue_delay_keeps_other_batching_fields() -> None:
    base = _mnist()
    base["dynamic_batching"]["preferred_batch_size"] = [4, 8]
    config = variant_config(base, Variant(InstanceGroup("CPU", 1), queue_delay_us=1234))
    assert config["dynamic_batching"]["max_queue_delay_microseconds"] == 1234
    assert config["dynamic_batching"]["preferred_batch_size"] == [4, 8]
    assert base["dynamic_batching"]["max_queue_delay_microseconds"] != 1234


def test_variant_config_batching_on_for_a_model_without_it() -> None:
    base = read_config(BUNDLED_REPOSITORY, "fixed_delay")
    assert "dynamic_batching" not in base
    assert variant_config(base, Variant(InstanceGroup("CPU", 1), dynamic_batching=True))["dynamic_batching"] == {}
    config = variant_config(base, Variant(InstanceGroup("CPU", 1), dynamic_batching=True, queue_delay_us=0))
    assert config["dynamic_batching"] == {"max_queue_delay_microseconds": 0}
    assert "dynamic_batching" not in variant_config(base, Variant(InstanceGroup("CPU", 2)))


def test_variant_config_none_keeps_repository_batching() -> None:
    base = _mnist()
    config = variant_config(base, Variant(InstanceGroup("CPU", 1)))
    assert config["dynamic_batching"] == base["dynamic_batching"]
    assert config["max_batch_size"] == base["max_batch_size"]


def test_variant_config_max_batch_size_on_non_batching_model() -> None:
    base = {**_mnist(), "name": "flat", "max_batch_size": 0}
    base.pop("dynamic_batching")
    with pytest.raises(ConfigError, match="no batch dimension") as info:
        variant_config(base, Variant(InstanceGroup("CPU", 1), max_batch_size=8))
    assert "'flat'" in str(info.value)
    # 0 keeps it non-batching: allowed.
    assert variant_config(base, Variant(InstanceGroup("CPU", 1), max_batch_size=0))["max_batch_size"] == 0


# --- error_lines ------------------------------------------------------------------------------------------------

_SAMPLE_LOG = """\
I1128 02:30:34.600000 18886 pinned_memory_manager.cc:273] "Pinned memory pool is created"
W1128 02:30:34.634671 18886 pinned_memory_manager.cc:273] "Unable to allocate pinned system memory"
E1128 02:30:34.634882 18886 server.cc:241] "CudaDriverHelper has not been initialized."
Error: Failed to initialize NVML
W1128 02:30:34.636056 18886 metrics.cc:798] "DCGM unable to start: DCGM initialization error"
+-------+---------+--------+
| Model | Version | Status |
+-------+---------+--------+
E1128 02:30:34.861673 18886 model_repository_manager.cc:1460] "Poll failed for model directory 'mnist_cnn': \
failed to read text proto from /tmp/brk/mnist_cnn/config.pbtxt"
I1128 02:30:35.000000 18886 grpc_server.cc:2558] "Started GRPCInferenceService at 127.0.0.1:8001"
error: creating server: Internal - failed to stat file /nope
"""


def test_error_lines_filters_gpu_less_noise(tmp_path: Path) -> None:
    log = tmp_path / "triton.log"
    log.write_text(_SAMPLE_LOG)
    assert error_lines(log) == [
        "Poll failed for model directory 'mnist_cnn': failed to read text proto from /tmp/brk/mnist_cnn/config.pbtxt",
        "error: creating server: Internal - failed to stat file /nope",
    ]


def test_error_lines_only_noise_or_missing(tmp_path: Path) -> None:
    log = tmp_path / "triton.log"
    log.write_text(
        'E1128 02:30:34.634882 18886 server.cc:241] "CudaDriverHelper has not been initialized."\n'
        "Error: Failed to initialize NVML\n"
        'I1128 02:30:35.000000 18886 server.cc:1] "all good"\n'
    )
    assert error_lines(log) == []
    assert error_lines(tmp_path / "missing.log") == []


def test_variant_config_smaller_max_batch_size_drops_larger_preferred_sizes() -> None:
    base = _mnist()
    base["dynamic_batching"]["preferred_batch_size"] = [4, 16, 64]  # what Triton reports: it fills in [64]
    config = variant_config(base, Variant(InstanceGroup("CPU", 1), max_batch_size=8, queue_delay_us=100))
    assert config["dynamic_batching"] == {"max_queue_delay_microseconds": 100, "preferred_batch_size": [4]}
    base["dynamic_batching"]["preferred_batch_size"] = [64]
    config = variant_config(base, Variant(InstanceGroup("CPU", 1), max_batch_size=8))
    assert "preferred_batch_size" not in config["dynamic_batching"]
    assert base["dynamic_batching"]["preferred_batch_size"] == [64]


# --- threads per CPU instance ------------------------------------------------------------------------------------


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


def test_variant_config_carries_threads_as_a_config_parameter() -> None:
    base = _mnist()
    config = variant_config(base, Variant(InstanceGroup("CPU", 2, threads=4)))
    assert config["instance_group"] == [{"kind": "KIND_CPU", "count": 2}]
    assert config["parameters"]["INTRA_OP_THREAD_COUNT"] == {"string_value": "4"}
    assert variant_config(base, Variant(InstanceGroup("CPU", 2))).get("parameters") == base.get("parameters")
    assert reported_group(config) == InstanceGroup("CPU", 2, threads=4)
    assert reported_group(variant_config(base, Variant(InstanceGroup("CPU", 2)))) == InstanceGroup("CPU", 2)
