"""What a sweep measures: the spec built from `harness sweep` flags (pure data)."""

from __future__ import annotations

from dataclasses import dataclass

from harness import defaults
from harness.record.model import InstanceGroup, Slo


@dataclass(frozen=True)
class SweepSpec:
    model: str
    instances: tuple[InstanceGroup, ...]
    slo: Slo
    concurrency: tuple[int, ...] | None = None  # None: auto search (unless rates are given)
    rates: tuple[float, ...] | None = None  # open loop; () with rate_auto: capacity search
    rate_auto: bool = False
    batch_size: int = 1
    max_batch_size: int | None = None
    dynamic_batching: bool | None = None
    queue_delay_us: int | None = None
    warmup_s: float = 2.0
    window_s: float = 2.0
    max_windows: int = 6
    stability: float = 0.10
    workers: int = 1
    label: str = ""
    saturation_cpu: float = defaults.SATURATION_CPU_PERCENT
    max_concurrency: int = 256
    arrivals: str = "constant"
    seed: int = 0
    expect_workers: int | None = None  # external workers the sweep's master waits for; None: local children
    master_bind: str = "127.0.0.1"
    master_port: int = 0  # 0: a free port, or Locust's 5557 with expect_workers
    expect_workers_max_wait_s: float = 120.0
    request_timeout_s: float = 30.0  # a request unanswered this long fails: how a hung server is caught
    input_data: str = ""  # --input-data: requests cycle through this data's entries; "": seeded random tensors
    shapes: tuple[str, ...] = ()  # --shape NAME:DIMS, for the variable dimensions of --input-data

    @property
    def mode(self) -> str:
        return "rate" if (self.rates or self.rate_auto) else "concurrency"
