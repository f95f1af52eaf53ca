"""Integration: the bundled models served by the real tritonserver, real gRPC inference, config-override variants."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from harness.errors import GpuUnavailable, ModelError
from harness.record.model import InstanceGroup
from harness.triton.control import NO_GPU, ControlClient, make_inputs
from harness.triton.server import LocalServer
from harness.triton.variants import Variant, load_variant, reported_group

pytestmark = pytest.mark.integration

# model -> (input name, input datatype, per-item input shape, output name, per-item output shape, calls per batch)
MODELS = {
    "mnist_cnn": ("image", "FP32", (1, 28, 28), "logits", (10,), 3),
    "mnist_cnn_int8": ("image", "FP32", (1, 28, 28), "logits", (10,), 3),
    "sentiment": ("tokens", "INT64", (64,), "logits", (2,), 3),
    "resnet50": ("image", "FP32", (3, 224, 224), "logits", (1000,), 2),
    "identity": ("INPUT0", "FP32", (16,), "OUTPUT0", (16,), 3),
    "fixed_delay": ("INPUT0", "FP32", (1,), "OUTPUT0", (1,), 3),
}
ECHO_MODELS = {"identity", "fixed_delay"}  # OUTPUT0 == INPUT0


def heavy_if_resnet(model: str) -> object:
    """resnet50 takes its stub most of a minute to build here: left to the full run (marker `heavy`)."""
    return pytest.param(model, marks=pytest.mark.heavy) if model == "resnet50" else model


@pytest.fixture()
def loaded(control: ControlClient, request: pytest.FixtureRequest) -> Iterator[str]:
    """The parametrized model, loaded from its files; unloaded afterwards to keep the server's memory small."""
    name = request.param
    control.load(name)
    try:
        yield name
    finally:
        control.unload(name)


@pytest.mark.parametrize("loaded", [heavy_if_resnet(name) for name in MODELS], indirect=True)
def test_model_serves_deterministic_inference(control: ControlClient, loaded: str) -> None:
    name = loaded
    input_name, datatype, in_shape, output_name, out_shape, calls = MODELS[name]
    assert control.is_ready(name)
    spec = control.model_spec(name)
    assert [(t.name, t.datatype, t.shape) for t in spec.inputs] == [(input_name, datatype, (-1, *in_shape))]
    assert [t.name for t in spec.outputs] == [output_name]
    assert spec.max_batch_size >= 2

    for batch in (1, 2):
        inputs = make_inputs(spec, batch, seed=batch)
        assert inputs[input_name].shape == (batch, *in_shape)
        results = [control.infer(name, inputs) for _ in range(calls)]
        first = results[0]
        assert list(first) == [output_name]
        logits = first[output_name]
        assert logits.shape == (batch, *out_shape)
        assert logits.dtype == np.float32
        assert np.isfinite(logits).all()
        for later in results[1:]:
            assert np.array_equal(later[output_name], logits), f"{name}: same input, different output"
        if name in ECHO_MODELS:
            assert np.array_equal(logits, inputs[input_name])
        elif batch == 2:
            assert not np.array_equal(logits[0], logits[1]), f"{name}: two different items gave the same logits"


def test_two_cpu_instances_via_override_leave_files_untouched(control: ControlClient, repository: Path) -> None:
    config_file = repository / "mnist_cnn" / "config.pbtxt"
    on_disk = config_file.read_bytes()
    try:
        effective = load_variant(control, "mnist_cnn", Variant(InstanceGroup("CPU", 2)))
        assert reported_group(effective) == InstanceGroup("CPU", 2)
        assert reported_group(control.model_config("mnist_cnn")) == InstanceGroup("CPU", 2)
        # The rest of the repository config is kept.
        assert effective["max_batch_size"] == 64
        assert effective["dynamic_batching"]["max_queue_delay_microseconds"] == "500"
        spec = control.model_spec("mnist_cnn")
        out = control.infer("mnist_cnn", make_inputs(spec, 2, seed=7))
        assert out["logits"].shape == (2, 10)
        assert config_file.read_bytes() == on_disk
    finally:
        control.unload("mnist_cnn")
    assert config_file.read_bytes() == on_disk


def _loads_of(server: LocalServer, model: str) -> int:
    return server.log_path.read_text(errors="replace").count(f'"loading: {model}:')


def test_batching_variants_effective_config(control: ControlClient, repository: Path, triton: LocalServer) -> None:
    # identity: the same batching config as the torch models (dynamic batching, max_batch_size 64), faster to load.
    config_file = repository / "identity" / "config.pbtxt"
    on_disk = config_file.read_bytes()
    loads_before = _loads_of(triton, "identity")
    try:
        off = load_variant(control, "identity", Variant(InstanceGroup("CPU", 1), max_batch_size=8, dynamic_batching=False))
        assert off["max_batch_size"] == 8
        assert "dynamic_batching" not in off
        assert reported_group(off) == InstanceGroup("CPU", 1)
        spec = control.model_spec("identity")
        assert spec.max_batch_size == 8
        eight = make_inputs(spec, 8)
        assert np.array_equal(control.infer("identity", eight)["OUTPUT0"], eight["INPUT0"])
        with pytest.raises(ModelError, match="batch-size must be <= 8"):
            control.infer("identity", {"INPUT0": np.zeros((9, 16), np.float32)})

        delayed = load_variant(control, "identity", Variant(InstanceGroup("CPU", 1), max_batch_size=8, queue_delay_us=1234))
        assert delayed["max_batch_size"] == 8
        assert int(delayed["dynamic_batching"]["max_queue_delay_microseconds"]) == 1234
        # The repository's [64] (Triton's own default: [max_batch_size]) is above 8, so the variant drops it and
        # Triton fills in its default again: [8] (in every load, Triton 2.51).
        assert [int(s) for s in delayed["dynamic_batching"]["preferred_batch_size"]] == [8]
        assert control.infer("identity", make_inputs(control.model_spec("identity"), 1))["OUTPUT0"].shape == (1, 16)

        # Batching left as the repository has it: the previous variant's max_batch_size 8 does not leak in.
        plain = load_variant(control, "identity", Variant(InstanceGroup("CPU", 1)))
        assert plain["max_batch_size"] == 64
        assert "dynamic_batching" in plain
        assert "max_queue_delay_microseconds" not in plain["dynamic_batching"]  # proto3 JSON leaves out a zero delay
        # Each variant is one load; the files' config was loaded (to read it back) once for the three.
        assert _loads_of(triton, "identity") - loads_before == 1 + 3
    finally:
        control.unload("identity")
    assert config_file.read_bytes() == on_disk


def test_dynamic_batching_on_for_fixed_delay(control: ControlClient, repository: Path) -> None:
    assert b"dynamic_batching" not in (repository / "fixed_delay" / "config.pbtxt").read_bytes()
    try:
        on = load_variant(control, "fixed_delay", Variant(InstanceGroup("CPU", 1), dynamic_batching=True, queue_delay_us=0))
        assert "dynamic_batching" in on
        assert "max_queue_delay_microseconds" not in on["dynamic_batching"]  # proto3 JSON leaves out a zero delay
        x = np.arange(2, dtype=np.float32).reshape(2, 1)
        assert np.array_equal(control.infer("fixed_delay", {"INPUT0": x})["OUTPUT0"], x)
    finally:
        control.unload("fixed_delay")


def test_gpu_variant_on_gpu_less_server_keeps_file_config(control: ControlClient) -> None:
    try:
        # Another variant is loaded when the GPU one is asked for: afterwards the files' config must serve.
        load_variant(control, "identity", Variant(InstanceGroup("CPU", 2), max_batch_size=8, dynamic_batching=False))
        with pytest.raises(GpuUnavailable) as info:
            load_variant(control, "identity", Variant(InstanceGroup("GPU", 1)))
        assert str(info.value) == NO_GPU.format(
            reason="Invalid argument: instance group identity_0 of model identity has kind KIND_GPU but no GPUs are available"
        )
        assert isinstance(info.value, ModelError)
        assert "no GPUs are available" in str(info.value.__cause__)  # Triton's own reason, kept as the cause

        assert control.is_ready("identity")
        config = control.model_config("identity")
        assert reported_group(config) == InstanceGroup("CPU", 1)
        assert config["max_batch_size"] == 64
        assert "dynamic_batching" in config
        inputs = make_inputs(control.model_spec("identity"), 16, seed=3)
        assert np.array_equal(control.infer("identity", inputs)["OUTPUT0"], inputs["INPUT0"])
    finally:
        control.unload("identity")


@pytest.mark.parametrize("loaded_before", [True, False], ids=["reload", "first-load"])
def test_gpu_load_refused_says_what_triton_said(control: ControlClient, loaded_before: bool) -> None:
    """A load with a KIND_GPU group on this GPU-less server: Triton answers (it is reachable, the model is left
    READY or UNAVAILABLE), so the control client says what Triton said, in one line that names the fix, never
    "unreachable"."""
    state = "READY" if loaded_before else "UNAVAILABLE"
    control.load("identity")
    config = {**control.model_config("identity"), "instance_group": [{"kind": "KIND_GPU", "count": 1}]}
    if not loaded_before:
        control.unload("identity")
    try:
        with pytest.raises(ModelError) as info:
            control.load("identity", config)
        message = str(info.value)
        assert "unreachable" not in message and isinstance(info.value, GpuUnavailable), message
        assert message == (
            "no GPU on this server (Triton: Invalid argument: instance group identity_0 of model "
            "identity has kind KIND_GPU but no GPUs are available); measure CPU instances "
            "(--instances cpu:N) or use a server with a GPU"
        )
        assert f"version 1 is at {state} state" in str(info.value.__cause__)  # Triton's whole answer, kept
        assert control.is_ready("identity") is loaded_before
    finally:
        control.unload("identity")
