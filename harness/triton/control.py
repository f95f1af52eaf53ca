"""The control client: model repository, metadata, config and statistics calls to Triton over gRPC, or over HTTP
(KServe v2 REST: `protocol="http"`, for a --url given as an HTTP endpoint under --protocol http).

The only module (with the lean load client) that imports tritonclient. Server errors become ModelError or
ServerError carrying Triton's own message. Over HTTP the calls go through tritonclient.http behind the gRPC
client's signatures and answer shapes (`_HttpApi`), so every method below has one body for both protocols; an
endpoint that does not answer KServe v2's health and model routes (a gRPC port, another web server) is a
ServerError naming the fix before anything else is asked of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from harness.errors import ConfigError, GpuUnavailable, ModelError, ServerError
from harness.record.server_statistics import StatsSnapshot
from harness.triton.repository import is_model_name

# Triton datatype -> numpy dtype for the inputs we generate.
NUMPY_DTYPES = {
    "FP32": np.float32,
    "FP16": np.float16,
    "FP64": np.float64,
    "INT64": np.int64,
    "INT32": np.int32,
    "INT16": np.int16,
    "INT8": np.int8,
    "UINT8": np.uint8,
    "BOOL": np.bool_,
}
# A name no model can have (repository_models() hides '_' folders): unloading it changes nothing anywhere.
_MODE_PROBE_MODEL = "_harness_model_control_probe"
_NOT_EXPLICIT_MARKER = "not allowed if polling is enabled"  # Triton's answer in `none` and `poll` modes alike
_UNREACHABLE = ("unavailable", "failed to connect", "deadline exceeded", "connection refused", "socket closed")
# Triton's answers to a KIND_GPU instance group on a server without a usable GPU (it answered: not unreachable).
NO_GPU_MARKERS = ("no gpus are available", "no cuda device", "gpu instance requested but", "cuda driver")
NO_GPU = "no GPU on this server (Triton: {reason}); measure CPU instances (--instances cpu:N) or use a server with a GPU"


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str
    shape: tuple[int, ...]  # as the server declares it, batch dimension included when max_batch_size > 0


@dataclass(frozen=True)
class ModelSpec:
    name: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    max_batch_size: int


# The longest a statistics call waits: a hung server must not hold a sweep for the load timeout.
STATISTICS_TIMEOUT_S = 15.0


NOT_KSERVE_HTTP = (
    "{url} does not speak KServe v2 over HTTP ({reason}); with --protocol http give Triton's HTTP port (8000 by "
    "default), or use --protocol grpc for its gRPC port"
)


class ControlClient:
    def __init__(self, url: str, timeout_s: float = 300.0, protocol: str = "grpc") -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.protocol = protocol
        self.file_configs: dict[str, dict[str, Any]] = {}  # harness.triton.variants' memo: configs of the files
        try:
            self._client: Any = _HttpApi(url, timeout_s) if protocol == "http" else grpcclient.InferenceServerClient(url=url)
        except InferenceServerException as exc:
            raise ServerError(f"cannot create a {protocol} client for {url}: {exc.message()}") from exc

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def server_version(self) -> str:
        metadata = self._call(self._client.get_server_metadata, as_json=True, client_timeout=10)
        return str(metadata.get("version", ""))

    def check_reachable(self) -> None:
        if self.protocol == "http":
            return self._client.check_kserve(self.url)
        try:
            live = self._client.is_server_live(client_timeout=10)
        except InferenceServerException as exc:
            raise ServerError(f"Triton at {self.url} is unreachable ({exc.message()}); start it or fix --url") from exc
        if not live:
            raise ServerError(f"Triton at {self.url} answers but is not live")

    def repository_models(self) -> list[tuple[str, str]]:
        """(name, state) of every model the server's repository holds, loaded or not ('_shared' folders are not)."""
        index = self._call(self._client.get_model_repository_index, as_json=True)
        models = index.get("models", [])
        return sorted((m["name"], m.get("state") or "UNAVAILABLE") for m in models if is_model_name(m["name"]))

    def is_ready(self, model: str) -> bool:
        return bool(self._call(self._client.is_model_ready, model))

    def model_spec(self, model: str) -> ModelSpec:
        metadata = self._call(self._client.get_model_metadata, model, as_json=True, model=model)
        config = self.model_config(model)
        return ModelSpec(
            name=model,
            inputs=tuple(_tensor(t) for t in metadata.get("inputs", [])),
            outputs=tuple(_tensor(t) for t in metadata.get("outputs", [])),
            max_batch_size=int(config.get("max_batch_size", 0)),
        )

    def model_config(self, model: str) -> dict[str, Any]:
        return dict(self._call(self._client.get_model_config, model, as_json=True, model=model)["config"])

    def load(self, model: str, config: dict[str, Any] | None = None) -> None:
        """Load (or reload) a model, with a config override when given: the repository's files stay untouched."""
        override = json.dumps(config) if config is not None else None
        self._call(self._client.load_model, model, config=override, client_timeout=self.timeout_s, model=model)

    def explicit_model_control(self) -> bool:
        """Whether the server takes load/unload requests (--model-control-mode=explicit).

        Triton exposes no mode; it answers a load or unload in `none` and `poll` modes with one fixed refusal.
        Unloading a name no model can have asks that question without touching any model.
        """
        try:
            self.unload(_MODE_PROBE_MODEL)
        except ModelError as exc:
            if _NOT_EXPLICIT_MARKER in str(exc):
                return False
            raise
        return True

    def unload(self, model: str) -> None:
        self._call(self._client.unload_model, model, model=model)

    def statistics(self, model: str, timeout_s: float = STATISTICS_TIMEOUT_S) -> StatsSnapshot:
        # A bounded wait: a hung server must not hold the sweep for the load timeout
        raw = self._call(self._client.get_inference_statistics, model, as_json=True, client_timeout=timeout_s, model=model)
        entries = raw.get("model_stats", [])
        return _snapshot(entries[0]) if entries else StatsSnapshot()

    def infer(self, model: str, inputs: dict[str, np.ndarray], outputs: list[str] | None = None) -> dict[str, np.ndarray]:
        """One synchronous request (used for checks, not under load)."""
        module: Any = httpclient if self.protocol == "http" else grpcclient
        request = [_infer_input(module, name, array) for name, array in inputs.items()]
        wanted = [module.InferRequestedOutput(name) for name in outputs] if outputs else None
        result = self._call(self._client.infer, model, request, outputs=wanted, client_timeout=self.timeout_s, model=model)
        response = result.get_response() if self.protocol == "http" else result.get_response(as_json=True)
        return {out["name"]: result.as_numpy(out["name"]) for out in response.get("outputs", [])}

    def _call(self, method: Any, *args: Any, model: str | None = None, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except OSError as exc:  # tritonclient.http's connection errors are the socket's own
            raise ServerError(f"Triton at {self.url} is unreachable ({exc}); start it or fix --url") from exc
        except InferenceServerException as exc:
            message = " ".join((exc.message() or str(exc)).split())  # one line: backend tracebacks span several
            lowered = message.lower().replace("unavailable state", "")  # a model's state, not the server's
            if any(marker in lowered for marker in NO_GPU_MARKERS):
                raise GpuUnavailable(NO_GPU.format(reason=_triton_reason(message))) from exc
            if any(marker in lowered for marker in _UNREACHABLE):
                raise ServerError(f"Triton at {self.url} is unreachable ({message}); start it or fix --url") from exc
            where = f"model {model!r}: " if model else ""
            raise ModelError(f"{where}{message}") from exc


class _HttpApi:
    """tritonclient.http behind the calls ControlClient makes of tritonclient.grpc, answering in the gRPC client's
    as_json shapes; per-call timeouts become the connection's (tritonclient.http has none per call)."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self._client = httpclient.InferenceServerClient(
            url=url, connection_timeout=min(timeout_s, 10.0), network_timeout=timeout_s
        )

    def close(self) -> None:
        self._client.close()

    def check_kserve(self, url: str) -> None:
        """KServe v2's liveness route answers 200: else a ServerError saying what the endpoint is not."""
        try:
            ready = self._client.is_server_live()
        except OSError as exc:
            if isinstance(exc, ConnectionRefusedError):
                raise ServerError(f"Triton at {url} is unreachable ({exc}); start it or fix --url") from exc
            raise ServerError(NOT_KSERVE_HTTP.format(url=url, reason=f"GET /v2/health/live: {exc}")) from exc
        except Exception as exc:  # an HTTP/2-only gRPC port answers HTTP/1.1 with bytes no HTTP parser takes
            reason = f"GET /v2/health/live: {type(exc).__name__} {exc}".strip()
            raise ServerError(NOT_KSERVE_HTTP.format(url=url, reason=reason)) from exc
        if not ready:
            raise ServerError(NOT_KSERVE_HTTP.format(url=url, reason="GET /v2/health/live did not answer 200"))

    def get_server_metadata(self, as_json: bool = True, client_timeout: float | None = None) -> Any:
        return self._client.get_server_metadata()

    def is_server_live(self, client_timeout: float | None = None) -> bool:
        return bool(self._client.is_server_live())

    def get_model_repository_index(self, as_json: bool = True) -> dict[str, Any]:
        return {"models": self._client.get_model_repository_index()}

    def is_model_ready(self, model: str) -> bool:
        return bool(self._client.is_model_ready(model))

    def get_model_metadata(self, model: str, as_json: bool = True) -> Any:
        return self._client.get_model_metadata(model)

    def get_model_config(self, model: str, as_json: bool = True) -> dict[str, Any]:
        return {"config": self._client.get_model_config(model)}

    def load_model(self, model: str, config: str | None = None, client_timeout: float | None = None) -> None:
        self._client.load_model(model, config=config)

    def unload_model(self, model: str) -> None:
        self._client.unload_model(model)

    def get_inference_statistics(self, model: str, as_json: bool = True, client_timeout: float | None = None) -> Any:
        return self._client.get_inference_statistics(model)

    def infer(
        self, model: str, inputs: list[Any], outputs: list[Any] | None = None, client_timeout: float | None = None
    ) -> Any:
        return self._client.infer(model, inputs, outputs=outputs)


def _triton_reason(message: str) -> str:
    """Triton's reason without its wrapping: "load failed for model 'm': version 1 is at READY state: <reason>;"."""
    return message.rsplit(" state: ", 1)[-1].strip().rstrip(";").strip()


def _tensor(data: dict[str, Any]) -> TensorSpec:
    return TensorSpec(name=data["name"], datatype=data["datatype"], shape=tuple(int(d) for d in data.get("shape", [])))


def _infer_input(module: Any, name: str, array: np.ndarray) -> Any:
    """tritonclient's InferInput of `module` (tritonclient.grpc or .http) holding `array`."""
    datatype = next((k for k, v in NUMPY_DTYPES.items() if np.dtype(v) == array.dtype), None)
    if datatype is None:
        raise ModelError(f"input {name!r}: unsupported dtype {array.dtype}")
    tensor = module.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array)
    return tensor


def _ns(stats: dict[str, Any], key: str) -> int:
    return int(stats.get(key, {}).get("ns", 0))


def _snapshot(entry: dict[str, Any]) -> StatsSnapshot:
    stats = entry.get("inference_stats", {})
    return StatsSnapshot(
        success_count=int(stats.get("success", {}).get("count", 0)),
        success_ns=_ns(stats, "success"),
        queue_ns=_ns(stats, "queue"),
        compute_input_ns=_ns(stats, "compute_input"),
        compute_infer_ns=_ns(stats, "compute_infer"),
        compute_output_ns=_ns(stats, "compute_output"),
        inference_count=int(entry.get("inference_count", 0)),
        execution_count=int(entry.get("execution_count", 0)),
    )


def make_inputs(
    spec: ModelSpec, batch_size: int, seed: int = 0, shapes: dict[str, tuple[int, ...]] | None = None
) -> dict[str, np.ndarray]:
    """Seeded random inputs shaped and typed as the model declares, with the batch dimension set. Variable
    dimensions take their size from `shapes` (--shape, batch dimension excluded), else a fixed, modest 16."""
    check_batch_size(spec, batch_size)
    check_shapes(spec, shapes or {})
    rng = np.random.default_rng(seed)
    inputs = {}
    for tensor in spec.inputs:
        declared = per_entry_shape(tensor, spec)
        dims = list((shapes or {}).get(tensor.name) or [d if d > 0 else 16 for d in declared])
        if spec.max_batch_size:
            dims.insert(0, batch_size)
        inputs[tensor.name] = _random_array(rng, tensor.datatype, tuple(dims), tensor.name)
    return inputs


def per_entry_shape(tensor: TensorSpec, spec: ModelSpec) -> tuple[int, ...]:
    """An input's declared shape without the batch dimension (-1: variable)."""
    return tensor.shape[1:] if spec.max_batch_size else tensor.shape


def shape_fits(shape: tuple[int, ...], declared: tuple[int, ...]) -> bool:
    """Whether `shape` is one the declared shape (-1: any size) allows."""
    return len(shape) == len(declared) and all(d == -1 or d == s for s, d in zip(shape, declared, strict=True))


def check_shapes(spec: ModelSpec, shapes: dict[str, tuple[int, ...]]) -> None:
    """--shape names inputs the model has, with shapes their declared ones allow (one line otherwise)."""
    by_name = {t.name: t for t in spec.inputs}
    for name, shape in shapes.items():
        if name not in by_name:
            raise ConfigError(
                f"--shape {name}: model {spec.name!r} has no input {name!r}; its inputs: {', '.join(by_name) or 'none'}"
            )
        declared = per_entry_shape(by_name[name], spec)
        if not shape_fits(shape, declared):
            raise ConfigError(
                f"--shape {name}:{','.join(map(str, shape))}: input {name!r} takes {list(declared)} "
                "(batch dimension excluded; -1: any size)"
            )


def check_batch_size(spec: ModelSpec, batch_size: int) -> None:
    """--batch-size fits the model: 1 for a model that does not batch, at most its max_batch_size otherwise."""
    if spec.max_batch_size == 0 and batch_size != 1:
        raise ModelError(f"model {spec.name!r} does not batch (max_batch_size 0); use --batch-size 1")
    if spec.max_batch_size and batch_size > spec.max_batch_size:
        raise ModelError(f"--batch-size {batch_size} exceeds model {spec.name!r}'s max_batch_size {spec.max_batch_size}")


def _random_array(rng: np.random.Generator, datatype: str, shape: tuple[int, ...], name: str) -> np.ndarray:
    dtype = NUMPY_DTYPES.get(datatype)
    if dtype is None:
        raise ModelError(f"input {name!r} has datatype {datatype}, which the load generator cannot synthesize")
    if np.issubdtype(dtype, np.floating):
        return rng.standard_normal(shape).astype(dtype)
    if dtype is np.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    return rng.integers(0, 100, shape).astype(dtype)  # small ids: valid for any vocabulary or label set
