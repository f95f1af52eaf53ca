"""Instance-group and batching variants of a model, loaded through Triton's repository API (config override),
or the model as a running server already serves it ("deployed": nothing is loaded or unloaded).

The model's files are never edited: the effective config is the repository's config with the instance group
and batching replaced, passed to `load` as a JSON override. Only that needs explicit model control; reading a
deployed model's config works in every mode.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from harness.errors import ConfigError, GpuUnavailable, ModelError, UnknownModel
from harness.record.model import InstanceGroup
from harness.triton.control import ControlClient

# Intra-op threads per instance, carried in the config's parameters: the key Triton's PyTorch backend reads, and
# the bundled models' serving.py too (model_repository/_nets/serving.py).
THREADS_PARAMETER = "INTRA_OP_THREAD_COUNT"


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
    base = _file_config(control, model)
    try:
        control.load(model, variant_config(base, variant))
    except GpuUnavailable:  # the control client says what Triton said, and the fix
        _load_from_files(control, model)  # a failed reload may leave the old version serving
        raise
    return control.model_config(model)


def _file_config(control: ControlClient, model: str) -> dict[str, Any]:
    """The repository's own config of `model` as Triton completes it (not a previous variant's): loaded from its
    files and read back once per control client, i.e. once per sweep or search, then remembered. A model load
    costs seconds (mnist_cnn 3-5 s here, torch in the backend stub); every variant paid it twice."""
    if model not in control.file_configs:
        _load_from_files(control, model)
        control.file_configs[model] = control.model_config(model)
    return control.file_configs[model]


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
    count = sum(int(g.get("count", 1)) for g in groups if g.get("kind", "KIND_CPU") == groups[0].get("kind", "KIND_CPU"))
    return InstanceGroup(kind="GPU" if kind == "GPU" else "CPU", count=count, threads=configured_threads(config))


def configured_threads(config: dict[str, Any]) -> int | None:
    """The intra-op threads a loaded config asks for, None when it names none (the model's default)."""
    value = ((config.get("parameters") or {}).get(THREADS_PARAMETER) or {}).get("string_value", "")
    return int(value) if str(value).isdigit() and int(value) > 0 else None


def check_deployment(control: ControlClient, model: str, groups: tuple[InstanceGroup, ...]) -> None:
    """Before any load: a deployed curve needs the model serving; an override needs explicit model control."""
    if any(g.source == "deployed" for g in groups) and not control.is_ready(model):
        raise ModelError(
            f"model {model!r} is not loaded on {control.url}; load it there, or give --instances "
            "to have the harness load it (needs --model-control-mode=explicit)"
        )
    if any(g.source == "override" for g in groups) and not control.explicit_model_control():
        raise ConfigError(
            f"--instances reloads {model!r}, which Triton at {control.url} refuses: start it with "
            "--model-control-mode=explicit, or drop --instances to measure the model as deployed"
        )


def served_config(control: ControlClient, model: str) -> dict[str, Any]:
    """The config of a model as the server serves it: read, never loaded."""
    if not control.is_ready(model):
        raise ModelError(f"model {model!r} is not loaded on {control.url}; load it there first")
    return control.model_config(model)


def served_groups(config: dict[str, Any]) -> list[InstanceGroup]:
    """Every instance group of a served config, as deployed (Triton fills in kind and count when a config omits them)."""
    groups = config.get("instance_group") or [{}]
    return [
        InstanceGroup(
            kind="GPU" if str(g.get("kind", "KIND_CPU")).endswith("GPU") else "CPU",
            count=int(g.get("count", 1)),
            source="deployed",
        )
        for g in groups
    ]


def served_name(config: dict[str, Any]) -> str:
    """A curve's name from its served configuration: groups, batching and backend, e.g.
    'deployed cpu:2, max_batch_size 64, dynamic batching, python'."""
    groups = "+".join(str(g) for g in served_groups(config))
    batching = "dynamic batching" if "dynamic_batching" in config else "no dynamic batching"
    backend = config.get("backend") or config.get("platform") or "unknown backend"
    return f"deployed {groups}, max_batch_size {int(config.get('max_batch_size', 0))}, {batching}, {backend}"


def served_group(config: dict[str, Any]) -> InstanceGroup:
    """The curve's instance group: the served groups' total count, of the first group's kind."""
    group = reported_group(config)
    return InstanceGroup(kind=group.kind, count=group.count, source="deployed", threads=group.threads)
