"""Unit tests, no server: the user-facing spec parsers, the pure variant config, and Triton log error filtering."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.record.model import InstanceGroup
from harness.triton.repository import BUNDLED_REPOSITORY, read_config
from harness.triton.server import error_lines
from harness.triton.variants import Variant, reported_group, variant_config

# --- specs -----------------------------------------------------------------------------------------------------


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


def test_variant_config_carries_threads_as_a_config_parameter() -> None:
    base = _mnist()
    config = variant_config(base, Variant(InstanceGroup("CPU", 2, threads=4)))
    assert config["instance_group"] == [{"kind": "KIND_CPU", "count": 2}]
    assert config["parameters"]["INTRA_OP_THREAD_COUNT"] == {"string_value": "4"}
    assert variant_config(base, Variant(InstanceGroup("CPU", 2))).get("parameters") == base.get("parameters")
    assert reported_group(config) == InstanceGroup("CPU", 2, threads=4)
    assert reported_group(variant_config(base, Variant(InstanceGroup("CPU", 2)))) == InstanceGroup("CPU", 2)
