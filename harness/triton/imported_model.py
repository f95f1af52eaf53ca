"""The Python-backend model of a file brought in by `harness import-model` (copied there as 1/model.py).

It loads the file beside it (TorchScript, torch.export program or ONNX, as 1/harness_model.json says) on the
device of its instance (model_instance_kind / model_instance_device_id, through serving.pick_device, as the bundled
models do), and runs one forward pass per execute() over every request's inputs, concatenated on the batch
dimension when the model batches. Never imported by the harness itself: it runs inside Triton's stub.
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
        threads = configure_threads()
        name = args.get("model_name", "model")
        device = pick_device(args.get("model_instance_kind", "CPU"), args.get("model_instance_device_id", 0), name)
        self.run = _runner(manifest["format"], os.path.join(here, manifest["file"]), device, threads)

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


def _runner(fmt: str, path: str, device: Any, threads: int) -> Any:
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

    def run(inputs: list[np.ndarray]) -> list[np.ndarray]:
        with torch.inference_mode():
            result = module(*[torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in inputs])
        results = result if isinstance(result, (tuple, list)) else (result,)
        return [r.detach().cpu().numpy() for r in results]

    return run
