"""The Python-backend model of a file brought in by `harness import-model` (copied there as 1/model.py).

It loads the file beside it (TorchScript, torch.export program or ONNX, as 1/harness_model.json says) on the
device of its instance (model_instance_kind / model_instance_device_id, through serving.pick_device, as the bundled
models do), and runs one forward pass per execute() over every request's inputs, concatenated on the batch
dimension when the model batches. A variant's manifest may add "autocast" (bfloat16 / float16: the forward pass
runs under torch.autocast, floating outputs come back as float32) and "devices" ("cpu": int8 kernels exist for
CPUs only; "gpu": fp16 pays only there). Runs inside Triton's stub; the harness imports `runner_for` to run a
model folder in-process (the agreement of a variant is measured with the very code Triton runs).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import numpy as np


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        here = os.path.join(args["model_repository"], args.get("model_version") or "1")
        sys.path.insert(0, here)
        from serving import configure_threads, pick_device

        with open(os.path.join(here, "harness_model.json")) as handle:
            manifest = json.load(handle)
        self.inputs = [(t["name"], np.dtype(t["dtype"])) for t in manifest["inputs"]]
        self.outputs = list(manifest["outputs"])
        self.batching = bool(manifest["batching"])
        threads = configure_threads(args)
        name = args.get("model_name", "model")
        kind = args.get("model_instance_kind", "CPU")
        if manifest.get("devices") == "gpu" and kind.upper() != "GPU":
            raise RuntimeError(
                f"{name} is a GPU-only variant ({manifest.get('autocast')} autocast): give it a GPU instance group"
            )
        cpu_only = "dynamic int8 quantization" if manifest.get("devices") == "cpu" else None
        device = pick_device(kind, args.get("model_instance_device_id", 0), name, cpu_only)
        self.run = make_runner(
            manifest["format"], os.path.join(here, manifest["file"]), device, threads, manifest.get("autocast")
        )

    def execute(self, requests: list) -> list:
        import triton_python_backend_utils as pb_utils  # Only exists inside Triton's Python backend stub.

        arrays = [
            [pb_utils.get_input_tensor_by_name(r, n).as_numpy().astype(d, copy=False) for n, d in self.inputs] for r in requests
        ]
        try:
            results = self._forward(arrays)
        except Exception as exc:  # Report to every client rather than crash the stub.
            error = pb_utils.TritonError(f"inference failed: {exc}")
            return [pb_utils.InferenceResponse(error=error) for _ in requests]
        return [
            pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(n, a) for n, a in zip(self.outputs, outs, strict=True)])
            for outs in results
        ]

    def _forward(self, arrays: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
        """Per request, its outputs: one pass over the concatenated batch when the model batches."""
        if not self.batching:
            return [self.run(inputs) for inputs in arrays]
        sizes = [inputs[0].shape[0] for inputs in arrays]
        batch = [np.concatenate([inputs[i] for inputs in arrays], axis=0) for i in range(len(self.inputs))]
        outputs = self.run(batch)
        cuts = np.cumsum(sizes)[:-1]
        split = [np.split(out, cuts, axis=0) for out in outputs]
        return [[np.ascontiguousarray(parts[i]) for parts in split] for i in range(len(arrays))]

    def finalize(self) -> None:
        self.run = None


def runner_for(version_folder: str, device: str = "cpu", threads: int = 1) -> Any:
    """A model folder's version (NAME/1) as a callable, in this process: inputs in order -> outputs in order."""
    import torch

    with open(os.path.join(version_folder, "harness_model.json")) as handle:
        manifest = json.load(handle)
    path = os.path.join(version_folder, manifest["file"])
    return make_runner(manifest["format"], path, torch.device(device), threads, manifest.get("autocast"))


def make_runner(fmt: str, path: str, device: Any, threads: int, autocast: str | None = None) -> Any:
    """inputs (numpy, in order) -> outputs (numpy, in order) for the model file."""
    if fmt == "onnx":
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        providers = (
            [("CUDAExecutionProvider", {"device_id": device.index or 0})] if device.type == "cuda" else ["CPUExecutionProvider"]
        )
        session = onnxruntime.InferenceSession(path, options, providers=providers)
        names = [i.name for i in session.get_inputs()]
        return lambda inputs: session.run(None, dict(zip(names, inputs, strict=True)))
    import torch

    if fmt == "torchscript":
        module = torch.jit.load(path, map_location=device).eval()
    else:
        module = torch.export.load(path).module().to(device)

    dtype = getattr(torch, autocast) if autocast else None

    def run(inputs: list[np.ndarray]) -> list[np.ndarray]:
        tensors = [torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in inputs]
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            result = module(*tensors)
        results = result if isinstance(result, (tuple, list)) else (result,)
        # Under autocast the outputs are bf16/fp16: the config declares what the original answers (float32).
        return [(r.float() if dtype is not None and r.is_floating_point() else r).detach().cpu().numpy() for r in results]

    return run
