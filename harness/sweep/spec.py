"""What a sweep measures: the spec built from `harness sweep` flags (pure data)."""

from __future__ import annotations

from dataclasses import dataclass

from harness import defaults
from harness.load.arrivals import TRACE
from harness.load.trace import Trace
from harness.record.model import Agreement, InstanceGroup, Slo


@dataclass(frozen=True)
class SweepSpec:
    model: str
    instances: tuple[InstanceGroup, ...]
    slo: Slo
    concurrency: tuple[int, ...] | None = None  # None: auto search (unless rates are given)
    rates: tuple[float, ...] | None = None  # open loop; () with rate_auto: capacity search
    rate_auto: bool = False
    rate_start: float | None = None  # --rate-start: the rate search's first probe; None: the closed-loop start probe
    batch_size: int = defaults.BATCH_SIZE
    max_batch_size: int | None = None
    dynamic_batching: bool | None = None
    queue_delay_us: int | None = None
    warmup_s: float = defaults.SWEEP_WARMUP_S
    window_s: float = defaults.SWEEP_WINDOW_S
    max_windows: int = defaults.SWEEP_MAX_WINDOWS
    stability: float = defaults.SWEEP_STABILITY
    workers: int = 1
    label: str = ""
    saturation_cpu: float = defaults.SATURATION_CPU_PERCENT
    max_concurrency: int = defaults.SWEEP_MAX_CONCURRENCY
    arrivals: str = defaults.ARRIVALS
    seed: int = defaults.SEED
    expect_workers: int | None = None  # external workers the sweep's master waits for; None: local children
    master_bind: str = defaults.MASTER_BIND
    master_port: int = 0  # 0: a free port, or Locust's 5557 with expect_workers
    expect_workers_max_wait_s: float = defaults.EXPECT_WORKERS_MAX_WAIT_S
    request_timeout_s: float = defaults.REQUEST_TIMEOUT_S  # a request unanswered this long fails: how a hung server is caught
    input_data: str = ""  # --input-data: requests cycle through this data's entries; "": seeded random tensors
    shapes: tuple[str, ...] = ()  # --shape NAME:DIMS, for the variable dimensions of --input-data
    # --model NAME,NAME_int8 or --model NAME --variants int8,onnx: every model measured, the original first, each
    # under every instance group (one curve per model and group); () measures `model` alone.
    models: tuple[str, ...] = ()
    # (model, its variant.json) of those that are variants, read from a local repository when the flags are parsed
    agreements: tuple[tuple[str, Agreement], ...] = ()
    validate_outputs: bool = False  # --validate-outputs: each variant's responses checked against its original's
    schedule: str = ""  # --schedule FILE: the replayed trace's path, which every worker reads; "": --arrivals
    trace: Trace | None = None  # that file as read (and checked) before any load

    @property
    def all_models(self) -> tuple[str, ...]:
        return self.models or (self.model,)

    def reference_of(self, model: str) -> str:
        """--validate-outputs: the model whose outputs `model`'s responses must agree with ("": none)."""
        agreement = self.agreement_of(model)
        return agreement.original if self.validate_outputs and agreement is not None else ""

    def agreement_of(self, model: str) -> Agreement | None:
        """What a curve of `model` records as its variant: its agreement with the original, None for an original."""
        return dict(self.agreements).get(model)

    # --mix a=3,b=1 with --model a,b: the models served together in each level, with their weights (harness.load.mix);
    # () keeps --model a,b meaning one curve per model
    mix: tuple[tuple[str, float], ...] = ()
    model_slos: tuple[tuple[str, Slo], ...] = ()  # --slo a:p99=50ms,...: a model's own objective; others keep `slo`

    # --instances a=cpu:2,b=gpu:1 with --mix: each model's own group in the mix's one curve; () : --instances for all
    model_instances: tuple[tuple[str, InstanceGroup], ...] = ()

    def group_of(self, model: str, group: InstanceGroup) -> InstanceGroup:
        """The group `model` is deployed on in a curve of `group`: its own (--instances MODEL=...), else `group`."""
        return dict(self.model_instances).get(model, group)

    def slo_of(self, model: str) -> Slo:
        return dict(self.model_slos).get(model, self.slo)

    @property
    def curve_models(self) -> tuple[str, ...]:
        """The models that get curves of their own: each of --model's, or (a mix) the first, naming the mix's curve."""
        return (self.model,) if self.mix else self.all_models

    @property
    def rate_senders(self) -> int:
        """Open-loop senders per level: one per worker, and with a mix one per worker and model."""
        return self.workers * max(len(self.mix), 1)

    prometheus_port: int | None = None  # the master's client metrics for Prometheus; None: not served
    prometheus_bind: str = defaults.PROMETHEUS_BIND
    protocol: str = defaults.PROTOCOL  # --protocol: what the load speaks (run.json settings "protocol")

    @property
    def arrival_kind(self) -> str:
        """What open-loop levels send: --arrivals, or "trace" with --schedule."""
        return TRACE if self.trace else self.arrivals

    @property
    def mode(self) -> str:
        return "rate" if (self.rates or self.rate_auto) else "concurrency"
