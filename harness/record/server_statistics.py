"""Triton's cumulative per-model counters as plain data, so pure rules (server deltas) need no gRPC client."""

from __future__ import annotations

from dataclasses import dataclass, fields


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
    models: tuple[tuple[str, StatsSnapshot], ...] = ()  # --mix: each model's own counters (these are their sums)

    def part(self, model: str) -> StatsSnapshot:
        """Model `model`'s own counters in a mix's snapshot (empty when it has none)."""
        return dict(self.models).get(model, StatsSnapshot())


def combined(parts: dict[str, StatsSnapshot]) -> StatsSnapshot:
    """Several models' counters as one snapshot: their sums (what the level's combined figures are checked
    against), each model's own kept in `models`."""
    counters = [f.name for f in fields(StatsSnapshot) if f.name != "models"]
    sums = {name: sum(getattr(p, name) for p in parts.values()) for name in counters}
    return StatsSnapshot(**sums, models=tuple(parts.items()))
