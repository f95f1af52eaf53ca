"""Deployed curves without a server: the name from a served config, the default of --instances, old runs."""

from __future__ import annotations

from harness.record.model import InstanceGroup, run_from_dict
from harness.triton.variants import served_group, served_groups, served_name

NGC_CONFIG = {
    "name": "resnet",
    "platform": "onnxruntime_onnx",
    "backend": "onnxruntime",
    "max_batch_size": 8,
    "instance_group": [{"kind": "KIND_GPU", "count": 2, "gpus": [0]}, {"kind": "KIND_CPU", "count": 1}],
}


def test_served_name_says_groups_batching_and_backend() -> None:
    assert served_name(NGC_CONFIG) == "deployed gpu:2+cpu:1, max_batch_size 8, no dynamic batching, onnxruntime"
    assert served_groups(NGC_CONFIG) == [InstanceGroup("GPU", 2, "deployed"), InstanceGroup("CPU", 1, "deployed")]
    assert served_group(NGC_CONFIG) == InstanceGroup("GPU", 2, "deployed")
    python = {"backend": "python", "max_batch_size": 0, "dynamic_batching": {}, "instance_group": []}
    assert served_name(python) == "deployed cpu:1, max_batch_size 0, dynamic batching, python"


def test_runs_written_before_source_read_as_overrides() -> None:
    curve = {"model": "m", "instance_group": {"kind": "GPU", "count": 1}, "levels": []}
    run = run_from_dict({"schema_version": 1, "metadata": {}, "slo": {}, "curves": [curve]})
    assert run.curves[0].instance_group == InstanceGroup("GPU", 1, "override")
    assert run.curves[0].configuration == ""
