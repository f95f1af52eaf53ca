"""Instance-group and batching variants of a model, loaded through Triton's repository API (config override).

The model's files are never edited: the effective config is the repository's config with the instance group
and batching replaced, passed to `load` as a JSON override.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from harness.errors import ConfigError, GpuUnavailable, ModelError, UnknownModel
from harness.record.model import InstanceGroup
from harness.triton.control import ControlClient

NO_GPU = "no GPU (the server has no GPU for a KIND_GPU instance group)"
# Intra-op threads per instance, carried in the config's parameters: the key Triton's PyTorch backend reads, and
# the bundled models' serving.py too (model_repository/_nets/serving.py).
THREADS_PARAMETER = "INTRA_OP_THREAD_COUNT"
_NO_GPU_MARKERS = ("no gpus are available", "no cuda device", "gpu instance requested but", "cuda driver")


@dataclass(frozen=True)
class Variant:
    """How to deploy a model for one curve. None means: keep what the repository's config says."""

    group: InstanceGroup
    max_batch_size: int | None = None
    dynamic_batching: bool | None = None
    queue_delay_us: int | None = None


def variant_config(base: dict[str, Any], variant: Variant) -> dict[str, Any]:
    """The repository config with the variant's instance group and batching applied (pure)."""
    config = copy.deepcopy(base)
    config["instance_group"] = [{"kind": f"KIND_{variant.group.kind}", "count": variant.group.count}]
    if variant.group.threads:
        parameters = dict(config.get("parameters") or {})
        parameters[THREADS_PARAMETER] = {"string_value": str(variant.group.threads)}
        config["parameters"] = parameters
    if variant.max_batch_size is not None:
        if int(base.get("max_batch_size", 0)) == 0 and variant.max_batch_size > 0:
            raise ConfigError(f"model {base.get('name')!r} has no batch dimension; --max-batch-size cannot enable one")
        config["max_batch_size"] = variant.max_batch_size
        _drop_preferred_sizes_above(config, variant.max_batch_size)
    if variant.dynamic_batching is False:
        config.pop("dynamic_batching", None)
    elif variant.dynamic_batching or variant.queue_delay_us is not None:
        batching = dict(config.get("dynamic_batching") or {})
        if variant.queue_delay_us is not None:
            batching["max_queue_delay_microseconds"] = variant.queue_delay_us
        config["dynamic_batching"] = batching
    return config


def _drop_preferred_sizes_above(config: dict[str, Any], max_batch_size: int) -> None:
    """Triton rejects a preferred batch size above max_batch_size (and fills in [max_batch_size] itself)."""
    batching = config.get("dynamic_batching")
    if not isinstance(batching, dict) or "preferred_batch_size" not in batching:
        return
    kept = [size for size in batching["preferred_batch_size"] if int(size) <= max_batch_size]
    config["dynamic_batching"] = {**batching, "preferred_batch_size": kept}
    if not kept:
        del config["dynamic_batching"]["preferred_batch_size"]


def load_variant(control: ControlClient, model: str, variant: Variant) -> dict[str, Any]:
    """Load `model` as `variant`; return the effective config Triton reports. GPU-less server: GpuUnavailable."""
    known = dict(control.repository_models())
    if model not in known:
        raise UnknownModel(model, known)
    _load_from_files(control, model)  # the repository's own config, to read it back (not a previous variant's)
    base = control.model_config(model)
    try:
        control.load(model, variant_config(base, variant))
    except ModelError as exc:
        if variant.group.kind == "GPU" and any(m in str(exc).lower() for m in _NO_GPU_MARKERS):
            _load_from_files(control, model)  # a failed reload may leave the old version serving
            raise GpuUnavailable(NO_GPU) from exc
        raise
    return control.model_config(model)


def _load_from_files(control: ControlClient, model: str) -> None:
    """Load `model` with its repository config. Triton keeps serving a loaded model's config override on a plain
    reload (the files did not change), so a loaded model is unloaded first."""
    if control.is_ready(model):
        control.unload(model)
    control.load(model)


def reported_group(config: dict[str, Any]) -> InstanceGroup:
    """The instance group Triton reports for a loaded model (the first group; counts summed per kind)."""
    groups = config.get("instance_group") or []
    if not groups:
        return InstanceGroup()
    kind = str(groups[0].get("kind", "KIND_CPU")).removeprefix("KIND_")
    count = sum(
        int(g.get("count", 1)) for g in groups if g.get("kind", "KIND_CPU") == groups[0].get("kind", "KIND_CPU")
    )
    return InstanceGroup(kind="GPU" if kind == "GPU" else "CPU", count=count, threads=configured_threads(config))


def configured_threads(config: dict[str, Any]) -> int | None:
    """The intra-op threads a loaded config asks for, None when it names none (the model's default)."""
    value = ((config.get("parameters") or {}).get(THREADS_PARAMETER) or {}).get("string_value", "")
    return int(value) if str(value).isdigit() and int(value) > 0 else None
