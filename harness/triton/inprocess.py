"""The same network called directly in this process: the floor a server's single-request latency is compared to.

A bundled model's network is built by `build_<model>()` in the repository's `_nets/nets.py` and run by the same
`run_batched` the Triton stub uses (`_nets/serving.py`), so the two paths differ only by what the server adds
(gRPC, queueing, the stub's shared memory). A model written by `harness import-model` or `harness variants` runs
through the same runtime its Triton stub runs (harness.triton.imported_model.runner_for). Models with neither
(identity, fixed_delay) have no in-process path: the caller records why. torch is imported only when this path is used.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from harness.triton.probe import ProbeResult, summarize


def _load(repository: Path, name: str) -> ModuleType | None:
    path = repository / "_nets" / f"{name}.py"
    if not path.is_file():
        return None
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # nets.py and serving.py import each other's siblings by plain name
    spec = importlib.util.spec_from_file_location(f"harness_nets_{name}", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def builder(repository: Path, model: str) -> Callable[[], Any] | None:
    """The repository's `build_<model>` function, or None when the model has no in-process network."""
    nets = _load(repository, "nets")
    return getattr(nets, f"build_{model}", None) if nets else None


def has_network(repository: Path, model: str) -> bool:
    """Whether the model can run in this process: a bundled builder, or an imported model's file."""
    return _imported(repository, model) or builder(repository, model) is not None


def _imported(repository: Path, model: str) -> bool:
    return (repository / model / "1" / "harness_model.json").is_file()


def gpu_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def time_in_process(
    repository: Path,
    model: str,
    inputs: dict[str, np.ndarray],
    calls: int,
    device: str = "cpu",
    threads: int = 1,
    warmup: int = 10,
) -> ProbeResult:
    """Warm up, then time `calls` forward passes of the model's network on `device`, one at a time."""
    import torch

    torch.set_num_threads(threads)  # as a Triton instance with `threads` intra-op threads
    forward = _forward(repository, model, device, threads)
    arrays = list(inputs.values())
    for _ in range(max(warmup, 1)):
        forward(arrays)
    samples = []
    for _ in range(calls):
        started = time.perf_counter_ns()
        forward(arrays)
        if device != "cpu":
            torch.cuda.synchronize()
        samples.append((time.perf_counter_ns() - started) / 1e6)
    return summarize(samples)


def _forward(repository: Path, model: str, device: str, threads: int) -> Callable[[list[np.ndarray]], Any]:
    """One forward pass over the inputs, by the code the model's Triton stub runs."""
    if _imported(repository, model):
        from harness.triton.imported_model import runner_for

        return runner_for(str(repository / model / "1"), device, threads)
    build = builder(repository, model)
    serving = _load(repository, "serving")
    if build is None or serving is None:
        raise LookupError(f"{model} has no build_{model}() in the repository's _nets/nets.py")
    module = build().to(device).eval()
    return lambda arrays: serving.run_batched(module, arrays[:1], device, arrays[0].dtype)
