"""Single-request latency probes: one client, one request in flight, on the load generator's lean path.

What a lone user sees (not capacity): used by scripts/model_latency.py and scripts/gpu_check.py.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

import numpy as np

from harness.errors import ModelError
from harness.triton.request import decode_response, infer_method, open_channel, serialize_request


@dataclass(frozen=True)
class ProbeResult:
    calls: int
    median_ms: float
    p90_ms: float
    min_ms: float
    max_ms: float


def percentile(sorted_ms: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, min(len(sorted_ms), math.ceil(q / 100 * len(sorted_ms))))
    return sorted_ms[rank - 1]


def probe(
    url: str, model: str, inputs: dict[str, np.ndarray], calls: int, warmup: int = 10, timeout_s: float = 120.0
) -> ProbeResult:
    """Warm up, then time `calls` sequential requests; checks the outputs carry the batch."""
    payload = serialize_request(model, inputs)
    batch = next(iter(inputs.values())).shape[0]
    channel = open_channel(url)
    try:
        infer = infer_method(channel)
        for _ in range(max(warmup, 1)):
            response = infer(payload, timeout=timeout_s)
        outputs = decode_response(response)
        if any(array.shape[0] != batch for array in outputs.values()):
            raise ModelError(f"{model}: outputs do not carry the batch of {batch}")
        samples = []
        for _ in range(calls):
            started = time.perf_counter_ns()
            infer(payload, timeout=timeout_s)
            samples.append((time.perf_counter_ns() - started) / 1e6)
    finally:
        channel.close()
    return summarize(samples)


def summarize(samples: list[float]) -> ProbeResult:
    """Median, p90, min and max of a list of call times in milliseconds."""
    ordered = sorted(samples)
    return ProbeResult(len(ordered), statistics.median(ordered), percentile(ordered, 90), ordered[0], ordered[-1])
