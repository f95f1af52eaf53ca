"""Shared execute logic for the torch models in the Triton Python backend.

run_batched() and the device/thread choices are plain torch + numpy so tests can call them; only TorchServer's
execute touches triton_python_backend_utils, and it imports it lazily (the module exists only inside Triton's stub).
"""

from __future__ import annotations

import json
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

# A per-request check: returns an error message for a bad array, None for a good one.
Validator = Callable[[np.ndarray], "str | None"]


# The config parameter that names intra-op threads per instance: the name Triton's PyTorch backend reads, so a
# `cpu:2x4` variant means the same to a bundled Python-backend model and to a user's TorchScript model.
THREADS_PARAMETER = "INTRA_OP_THREAD_COUNT"


def configured_threads(args: dict[str, Any]) -> int:
    """Intra-op threads asked for by the model's config (`parameters { key: "INTRA_OP_THREAD_COUNT" ... }`,
    set by the harness's config override), 1 when absent. Triton hands the config as JSON in args."""
    try:
        config = json.loads(args.get("model_config") or "{}")
        value = config.get("parameters", {}).get(THREADS_PARAMETER, {}).get("string_value", "")
    except (TypeError, ValueError, AttributeError):
        return 1
    return int(value) if str(value).isdigit() and int(value) > 0 else 1


def configure_threads(args: dict[str, Any] | None = None) -> int:
    """Set this instance's torch intra-op threads from its config (default 1); returns the count.

    Each Triton instance is its own stub process with its own torch thread pool. One thread per instance makes
    "cpu:N instances" mean N cores' worth of compute, instead of N pools each grabbing every core and thrashing;
    `cpu:NxT` gives each instance T threads, through the config rather than the environment, so every instance of
    a variant gets what run.json records.
    """
    threads = configured_threads(args or {})
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # Only settable once, before any inter-op work; harmless if this process already did.
    return threads


def pick_device(kind: str, device_id: str | int, model_name: str, cpu_only_reason: str | None = None) -> torch.device:
    """Map Triton's instance kind ("CPU", "GPU", ...) and device id to a torch device, failing loudly on a mismatch."""
    if kind.upper() != "GPU":
        return torch.device("cpu")
    if cpu_only_reason:
        raise RuntimeError(f"{model_name} is a CPU-only model ({cpu_only_reason})")
    if not torch.cuda.is_available():
        raise RuntimeError(f"{model_name}: GPU instance requested but torch sees no CUDA device")
    return torch.device(f"cuda:{int(device_id)}")


def run_batched(
    module: nn.Module, arrays: list[np.ndarray], device: torch.device | str = "cpu", dtype: np.dtype | type = np.float32
) -> list[np.ndarray]:
    """Run one forward pass over all requests' arrays (concatenated on dim 0); split the float32 output back.

    One pass per execute() is the point of dynamic batching: Triton hands several requests, the network sees one
    batch. Each returned array has the same leading size as the matching input.
    """
    sizes = [a.shape[0] for a in arrays]
    batch = np.concatenate([np.asarray(a, dtype=dtype) for a in arrays], axis=0)
    with torch.inference_mode():
        out = module(torch.from_numpy(batch).to(device))
    out_np = out.to(torch.float32).cpu().numpy()
    if out_np.shape[0] != batch.shape[0]:
        raise RuntimeError(f"network returned {out_np.shape[0]} rows for a batch of {batch.shape[0]}")
    return [np.ascontiguousarray(part) for part in np.split(out_np, np.cumsum(sizes)[:-1], axis=0)]


class TorchServer:
    """Everything a model.py needs: build once in initialize, then execute(requests) -> responses."""

    def __init__(
        self,
        args: dict[str, Any],
        module: nn.Module,
        input_name: str,
        input_dtype: np.dtype | type,
        output_name: str,
        cpu_only_reason: str | None = None,
        validate: Validator | None = None,
    ) -> None:
        self.threads = configure_threads(args)
        self.name = args.get("model_name", "model")
        self.device = pick_device(
            args.get("model_instance_kind", "CPU"), args.get("model_instance_device_id", 0), self.name, cpu_only_reason
        )
        self.module = module.to(self.device).eval()
        self.input_name, self.input_dtype, self.output_name = input_name, np.dtype(input_dtype), output_name
        self.validate = validate

    def execute(self, requests: list[Any]) -> list[Any]:
        import triton_python_backend_utils as pb_utils  # Only exists inside Triton's Python backend stub.

        arrays = [pb_utils.get_input_tensor_by_name(r, self.input_name).as_numpy() for r in requests]
        # A bad request gets its own error; it must not fail the other clients' requests batched with it.
        errors = [self.validate(a) if self.validate else None for a in arrays]
        invalid = [e is not None for e in errors]
        good = [i for i, bad in enumerate(invalid) if not bad]
        outputs: dict[int, np.ndarray] = {}
        if good:
            try:
                outputs = dict(
                    zip(good, run_batched(self.module, [arrays[i] for i in good], self.device, self.input_dtype), strict=False)
                )
            except Exception as exc:  # Report to every client rather than crash the stub.
                errors = [e or f"{self.name}: inference failed: {exc}" for e in errors]
        # Client mistakes are INVALID_ARG (HTTP 400); a failed forward pass stays INTERNAL (HTTP 500).
        bad_input = getattr(pb_utils.TritonError, "INVALID_ARG", None)  # Absent in old stubs.
        responses = []
        for i, error in enumerate(errors):
            if i in outputs:
                tensor = pb_utils.Tensor(self.output_name, outputs[i])
                responses.append(pb_utils.InferenceResponse(output_tensors=[tensor]))
            elif invalid[i] and bad_input is not None:
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(error, bad_input)))
            else:
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(error)))
        return responses
