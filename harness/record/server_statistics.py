"""Triton's cumulative per-model counters as plain data, so pure rules (server deltas) need no gRPC client."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StatsSnapshot:
    """Cumulative counters of Triton's statistics API for one model (nanoseconds and counts)."""

    success_count: int = 0
    success_ns: int = 0
    queue_ns: int = 0
    compute_input_ns: int = 0
    compute_infer_ns: int = 0
    compute_output_ns: int = 0
    inference_count: int = 0
    execution_count: int = 0
