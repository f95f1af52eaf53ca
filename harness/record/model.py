"""The run record: small frozen dataclasses that cross module boundaries, and their versioned JSON form.

Schema history (``schema_version``):
  1 - 2026-11: metadata, slo, curves of levels (closed-loop ``concurrency`` and open-loop ``rate`` levels),
      per-level measurement windows, capacity, rate-search probes. Fields were appended within version 1 as the
      harness grew (a reader of the time ignored what it did not know, a newer one fills in defaults); the capacity
      rule changed under it too (the level index, the unstable-level judgement).
  2 - 2026-12: two rules whose recorded results read differently: ``capacity.reached`` (False: a lower bound, the
      highest load measured still met the SLO), and failed requests as evidence with a bound (a level meets its
      SLO with failures up to the failure budget, harness.analysis.capacity.failure_budget; before, one failure
      disqualified it). Appended with it: ``goodput_rps`` per level, ``send_lag_us`` (p50/p99/max) and
      ``asked_arrivals_cv`` per open-loop level, the optional ``plan`` section (`harness plan`,
      with a ``version`` of its own, ``PLAN_VERSION``: its fields follow a queueing model that may change apart from
      the run; a reader refuses a newer plan by name), and the fields listed in docs/run.schema.json. A version 1
      run is read with its capacities decided again by today's rules (harness.analysis.capacity.upgraded), so an
      old run and a new one compare alike.
Appending a field keeps the version: readers ignore what they do not know and fill in a default for what is
missing. A field whose meaning changes, or a rule whose recorded result would read differently, bumps it, with
the reader of the older version beside it. Readers accept every version up to ``SCHEMA_VERSION`` and refuse newer
ones explicitly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.errors import ResultsError

SCHEMA_VERSION = 2
PERCENTILES: tuple[str, ...] = ("p50", "p90", "p95", "p99", "p999")
Mode = Literal["concurrency", "rate"]
Kind = Literal["CPU", "GPU"]  # an instance group's device kind


@dataclass(frozen=True)
class Slo:
    """A latency objective such as p99 <= 100 ms."""

    percentile: str = "p99"
    limit_ms: float = 100.0

    def __str__(self) -> str:
        return f"{self.percentile} <= {self.limit_ms:g} ms"


@dataclass(frozen=True)
class InstanceGroup:
    kind: Kind = "CPU"
    count: int = 1
    # "override": deployed by the harness from --instances; "deployed": measured as the server already serves it.
    # Runs written before this field read as "override" (the only kind there was).
    source: Literal["deployed", "override"] = "override"
    threads: int | None = None  # intra-op threads per instance (cpu:2x4); None: the model's default

    def __str__(self) -> str:
        return f"{self.kind.lower()}:{self.count}" + (f"x{self.threads}" if self.threads else "")


@dataclass(frozen=True)
class Latency:
    """Latency percentiles in milliseconds, from a merged high-resolution histogram."""

    p50: float
    p90: float
    p95: float
    p99: float
    p999: float
    mean: float
    max: float
    min: float = 0.0

    def get(self, percentile: str) -> float:
        return float(getattr(self, percentile))


@dataclass(frozen=True)
class ServerTimes:
    """Triton's own per-request averages over the measured windows, in microseconds."""

    queue: float
    compute_input: float
    compute_infer: float
    compute_output: float
    request: float = 0.0  # Triton's end-to-end request time (success.ns / count)

    @property
    def compute(self) -> float:
        return self.compute_input + self.compute_infer + self.compute_output


@dataclass(frozen=True)
class Window:
    """One measurement window of a level: what the stability rule and significance tests look at."""

    achieved_rps: float
    p99_ms: float
    requests: int
    duration_s: float


@dataclass(frozen=True)
class SendLag:
    """Open loop: how far behind their intended times a level's sends left, in microseconds (exact percentiles
    of the merged per-worker histograms). Latency counts from the intended time, so this lag is part of it."""

    p50: float
    p99: float
    max: float


@dataclass(frozen=True)
class WorkerUse:
    """One load generator's share of a level: where its requests came from and what they cost it."""

    host: str
    engine: str  # "native" or "python"
    cpu_percent: float
    requests: int
    # Its clock minus the master's, measured at the handshake and applied to its schedule and send times; None
    # where no handshake ran (a run written before it, or one process with no separate master).
    clock_offset_ms: float | None = None


@dataclass(frozen=True)
class ModelLevel:
    """One model's part of a level that served several together (--mix): its own exact figures, Triton's
    statistics for it over the same windows, and whether it met its own SLO."""

    weight: float  # its weight in the mix
    requests: int
    failures: int
    achieved_rps: float
    latency_ms: Latency
    share: float = 0.0  # its part of the level's requests (the mix's weight share is the target)
    users: int | None = None  # closed loop: the level's users that loaded this model
    offered_rps: float | None = None  # open loop: its share of the offered rate
    achieved_ips: float = 0.0
    server_requests: int | None = None  # Triton's success count for this model over the counted windows
    server_us: ServerTimes | None = None
    avg_batch: float | None = None
    windows: tuple[Window, ...] = ()
    stable: bool = True
    slo: Slo | None = None  # the objective it was judged against (its own, or the run's)
    slo_met: bool | None = None  # None: not judged (no request)
    first_error: str | None = None
    inconsistent: tuple[str, ...] = ()  # the level's self-checks this model's part failed (also in the level's)
    slo_over: int | None = None  # its requests slower than its SLO's limit (the evidence a rate search weighs)
    slo_sample: int = 0  # its requests judged for slo_over

    def as_level(self, level: Level | None = None) -> Level:
        """This part as a level of its own (in `level`'s mode), for the rules, the charts and levels.csv."""
        return Level(
            concurrency=self.users,
            mode=level.mode if level is not None else ("rate" if self.offered_rps else "concurrency"),
            offered_rps=self.offered_rps,
            achieved_rps=self.achieved_rps,
            achieved_ips=self.achieved_ips,
            requests=self.requests,
            failures=self.failures,
            latency_ms=self.latency_ms,
            stable=self.stable,
            client_saturated=level.client_saturated if level is not None else False,
            server_us=self.server_us,
            avg_batch=self.avg_batch,
            windows=self.windows,
            first_error=self.first_error,
            inconsistent=self.inconsistent,
            slo_over=self.slo_over,
            slo_sample=self.slo_sample,
        )


@dataclass(frozen=True)
class Level:
    """One load level: offered load and what was measured over its measurement windows only."""

    concurrency: int | None
    achieved_rps: float
    requests: int
    failures: int
    latency_ms: Latency
    stable: bool
    client_saturated: bool
    mode: Mode = "concurrency"
    offered_rps: float | None = None
    achieved_ips: float = 0.0  # inferences/s = requests/s x batch size
    server_us: ServerTimes | None = None
    avg_batch: float | None = None
    client_cpu_percent: float = 0.0
    late_sends: int = 0
    max_send_lag_ms: float = 0.0
    dropped: int = 0
    in_flight_end: int = 0
    windows: tuple[Window, ...] = ()
    flags: tuple[str, ...] = ()  # human-readable reasons: "unstable", "client-saturated", "generator-late"...
    first_error: str | None = None
    arrivals_cv: float | None = None  # open loop: inter-arrival CV of the merged actual sends (0 constant, 1 Poisson)
    inconsistent: tuple[str, ...] = ()  # the self-checks this level failed ("littles-law: ..."), see sweep/checks.py
    workers: tuple[WorkerUse, ...] = ()  # which generators sent the level's requests
    # Server evidence over the counted windows (harness.triton.metrics); None where the server does not expose it.
    server_cpu_cores: float | None = None  # CPU time of tritonserver + its backend stubs / wall time
    server_memory_mb: float | None = None  # resident memory of those processes, MiB
    gpu_utilization: float | None = None  # 0..1, mean over the GPUs Triton reports
    gpu_memory_mb: float | None = None  # MiB used, summed over GPUs
    power_w: float | None = None  # summed over GPUs
    energy_j_per_1k: float | None = None  # GPU energy per 1,000 inferences
    slo_over: int | None = None  # requests (of all measured windows) slower than the sweep's SLO limit
    slo_sample: int = 0  # requests judged for slo_over: the confidence bound on the SLO percentile needs both
    # open loop: sends the level's schedules drew (made + dropped at the cap) per second over the counted windows; a
    # Poisson draw differs from offered_rps by sampling noise, which harness.analysis.capacity.delivered allows for
    scheduled_rps: float | None = None
    # requests per second that succeeded within the sweep's SLO limit (AIPerf's goodput), counted exactly from the
    # merged histograms of the counted windows (harness.analysis.capacity.goodput); None in runs written before it
    goodput_rps: float | None = None
    send_lag_us: SendLag | None = None  # open loop: the sends' lag behind schedule (None: closed loop, older runs)
    asked_arrivals_cv: float | None = None  # open loop: the CV the arrival process asked for, arrivals_cv's target
    # --mix: each model's figures, by name, in the mix's order ({} for a level of one model); the level's own
    # figures above are the combined ones
    models: dict[str, ModelLevel] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Capacity:
    """The highest throughput measured within the SLO (stable levels only), and where."""

    max_rps_within_slo: float | None = None
    at_concurrency: int | None = None
    at_rate: float | None = None
    level_index: int | None = None  # which of the curve's levels: stored, so no reader searches for it again
    from_unstable: bool = False  # decided on an unstable level's worst window: evidence with a caveat
    # False: a lower bound (no level at a higher load was measured and throughput still grew); None: recorded
    # before this field (schema 1), decided again when read (harness.record.store)
    reached: bool | None = None


@dataclass(frozen=True)
class Agreement:
    """A variant's agreement with its original (harness.analysis.agreement decides it): what `harness variants`
    writes into the variant's folder (variant.json) and a curve of that variant carries into run.json."""

    variant: str  # "int8", "onnx", "onnx-int8", "bf16", "fp16"
    original: str  # the model it was made from
    inputs: str = ""  # what it was checked on: "seeded random (seed 0, 256 entries)" or "--input-data PATH (N entries)"
    top1: float | None = None  # worst top-1 agreement over classifier-shaped outputs; None: none is one
    max_abs_diff: float = 0.0  # worst over outputs
    mean_abs_diff: float = 0.0  # worst over outputs
    bound: str = ""  # the bound it was judged against, e.g. "top1>=0.99, max-abs=0.01 x max|original|"
    below_bound: bool = False  # written but marked: no verdict recommends it without saying so
    why: str = ""  # which output misses the bound, and by how much


@dataclass(frozen=True)
class Curve:
    """One instance-group configuration of one model: its levels and capacity."""

    model: str
    instance_group: InstanceGroup
    batch_size: int = 1
    skipped_reason: str | None = None
    levels: tuple[Level, ...] = ()
    capacity: Capacity = field(default_factory=Capacity)
    probes: tuple[Level, ...] = ()  # rate-search probes, kept for the report
    model_config: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)
    max_batch_size: int | None = None
    dynamic_batching: bool | None = None
    configuration: str = ""  # a curve measured as deployed is named after the served configuration
    variant: Agreement | None = None  # a variant of another model (its variant.json); None: an original
    # --mix: the models served together in every level and their weights ({}: `model` alone); `model` is the first
    mix: dict[str, float] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Metadata:
    harness_version: str = ""
    git_revision: str = ""
    triton_version: str = ""
    model: str = ""
    label: str = ""
    host: dict[str, Any] = field(default_factory=dict, hash=False)  # cpu_model, cores, memory_gb, gpu, hostname
    versions: dict[str, str] = field(default_factory=dict, hash=False)  # python, locust, tritonclient, torch
    command_line: str = ""
    started_at: str = ""
    ended_at: str = ""
    # warm-up, window, stability, workers, "protocol" (grpc or http; absent before it existed: grpc)...
    settings: dict[str, Any] = field(default_factory=dict, hash=False)
    complete: bool = False  # False while the sweep runs or if it was interrupted
    interrupted: str = ""  # why the run stopped early, one line ("" for a complete or still-running run)


@dataclass(frozen=True)
class LatencyRow:
    """One single-request latency measurement of `harness latency`: one client, one request in flight."""

    model: str
    precision: str  # "float" or "int8" (a sibling model <name>_int8)
    path: str  # "in-process" (torch called directly) or "triton" (gRPC through the server)
    device: str  # "CPU" or "GPU"
    batch_size: int
    calls: int = 0
    median_ms: float | None = None
    p90_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    skipped_reason: str | None = None
    variant: str = ""  # "fp32" (the model itself), "int8", "onnx", "onnx-int8", "bf16"...; "" in older runs
    agreement: str = ""  # its agreement with the original, as harness.analysis.agreement.agreement_text says


@dataclass(frozen=True)
class SearchRow:
    """One configuration of `harness search`, ranked by capacity within the SLO."""

    rank: int
    configuration: str  # "cpu:2x1 mbs8 db500us"
    kind: str  # "CPU" or "GPU"
    capacity_rps: float | None = None
    slo_latency_ms: float | None = None  # the SLO percentile at the capacity level
    server_cpu_cores: float | None = None  # at the level harness.analysis.saturation reads (capacity or highest stable)
    cost_per_million: float | None = None
    skipped_reason: str | None = None


@dataclass(frozen=True)
class SearchResult:
    mode: str  # "quick" or "brute"
    configurations: tuple[SearchRow, ...] = ()
    best_cpu: str | None = None
    best_gpu: str | None = None
    elapsed_s: float = 0.0
    budget_s: float | None = None
    stopped: str = ""  # why the search ended: "done", "budget"


PLAN_VERSION = 1  # the plan section's own version: its fields follow the queueing model, which may change apart


@dataclass(frozen=True)
class QueueFit:
    """One replica of a candidate as a queue (fitted and used by harness.analysis.queueing): `servers` instances
    behind Triton's one FIFO queue; an execution of b requests takes service_ms + per_extra_request_ms * (b - 1),
    gamma distributed with CV service_cv; overhead outside Triton's queue and compute is added per percentile."""

    servers: int
    service_ms: float
    service_cv: float
    batch_limit: int = 1  # requests one execution may hold (dynamic batching), 1 without
    per_extra_request_ms: float = 0.0
    overhead_mean_ms: float = 0.0  # client, network, gRPC front end and send lag: latency minus Triton's request time
    overhead_ms: tuple[float, ...] = ()  # the same at each of PERCENTILES
    cv_assumed: bool = False  # no level was loaded enough to measure the service time's variability


@dataclass(frozen=True)
class HeldOut:
    """One measured level predicted by a fit that did not see it."""

    level_index: int
    load: str  # "60 req/s offered", "concurrency 4"
    metric: str  # the SLO percentile ("p99"), or "req/s" for a level the server fell behind on
    measured: float
    predicted: float
    error: float  # predicted / measured - 1


@dataclass(frozen=True)
class PlanCandidate:
    """A measured configuration as the plan sees it: its fit, how well the fit predicts, its price."""

    configuration: str
    kind: str  # "CPU" or "GPU"
    fit: QueueFit | None = None
    capacity_rps: float | None = None  # predicted for one replica: the highest Poisson rate within the SLO
    measured_capacity_rps: float | None = None  # the highest measured level within the SLO
    held_out: tuple[HeldOut, ...] = ()
    error_mean: float | None = None  # mean of |error| over the held-out levels
    error_max: float | None = None
    price_per_hour: float | None = None  # None: measured and shown, not costed
    energy_j_per_1k: float | None = None  # GPU energy per 1,000 requests, where measured
    note: str = ""  # why it was not fitted, or what the fit had to assume
    agreement: str = ""  # a variant's agreement with its original (harness.analysis.agreement.variant_note); "" else


@dataclass(frozen=True)
class FleetPart:
    configuration: str
    replicas: int


@dataclass(frozen=True)
class FleetChoice:
    """The cheapest fleet of one option (CPU only, GPU only, mixed) for one traffic step."""

    option: str
    parts: tuple[FleetPart, ...]
    capacity_rps: float  # predicted, within the SLO
    cost_per_hour: float
    predicted_ms: float | None  # the SLO percentile at the step's rate (a mixed fleet: its worst part's)


@dataclass(frozen=True)
class PlanStep:
    time: str  # as the traffic file wrote it ("peak" for a single rate)
    offset_s: float
    rps: float
    choices: tuple[FleetChoice, ...] = ()


@dataclass(frozen=True)
class PlanOption:
    """One option over the whole traffic: what it costs and what its largest fleet is."""

    option: str
    cost_per_day: float
    cost_per_million: float | None
    energy_j_per_1k: float | None  # per 1,000 requests, where every configuration in it was measured
    peak: FleetChoice


@dataclass(frozen=True)
class PlanConfirmation:
    """The chosen CPU configuration measured once more, open loop (Poisson) at the rate one replica of its fleet gets
    at the traffic's peak: what the plan predicted there against what was measured."""

    configuration: str
    replicas: int  # of the chosen CPU-only fleet at the peak
    rate_rps: float  # one replica's share of the peak (random split)
    percentile: str  # the SLO's
    predicted_ms: float | None
    measured_ms: float | None  # None: the level could not be measured (the run ended first)
    error: float | None = None  # predicted / measured - 1
    missed: bool = False  # |error| over harness.analysis.plan.CONFIRM_ERROR: said in the answer


@dataclass(frozen=True)
class PlanResult:
    """`harness plan`: per traffic step the cheapest fleet per option, from fitted queueing models."""

    headroom: float  # fleets meet the SLO at rate x (1 + headroom)
    step_s: float
    balancing: str = "random"  # how a load balancer splits arrivals over replicas (harness.analysis.queueing)
    steps: tuple[PlanStep, ...] = ()
    options: tuple[PlanOption, ...] = ()
    candidates: tuple[PlanCandidate, ...] = ()
    break_even_rps: float | None = None  # above this rate a GPU-only fleet is the cheaper
    sentence: str = ""
    notes: tuple[str, ...] = ()
    version: int = PLAN_VERSION
    confirmation: PlanConfirmation | None = None  # None: not measured (--from runs, no CPU fleet, the run ended)


@dataclass(frozen=True)
class Run:
    metadata: Metadata
    slo: Slo
    curves: tuple[Curve, ...] = ()
    schema_version: int = SCHEMA_VERSION
    latency: tuple[LatencyRow, ...] = ()  # `harness latency` runs: the single-request table
    search: SearchResult | None = None  # `harness search` runs: configurations ranked, best CPU and GPU
    plan: PlanResult | None = None  # `harness plan` runs: fleets, costs and the fitted models they rest on


def run_to_dict(run: Run) -> dict[str, Any]:
    return dataclasses.asdict(run)


def run_from_dict(data: Any, source: str = "run") -> Run:
    """Rebuild a Run from its JSON form, refusing what it cannot read correctly."""
    if not isinstance(data, dict) or "schema_version" not in data:
        raise ResultsError(f"{source}: not a harness run (no schema_version); give a run folder, run.json or report.html")
    version = data["schema_version"]
    if not isinstance(version, int) or version < 1:
        raise ResultsError(f"{source}: invalid schema_version {version!r}")
    if version > SCHEMA_VERSION:
        raise ResultsError(
            f"{source}: schema_version {version} is newer than this harness reads ({SCHEMA_VERSION}); upgrade harness"
        )
    try:
        return Run(
            metadata=_build(Metadata, data.get("metadata", {})),
            slo=_build(Slo, data.get("slo", {})),
            curves=tuple(_curve(c) for c in data.get("curves", [])),
            schema_version=version,
            latency=tuple(_build(LatencyRow, row) for row in data.get("latency", [])),
            search=_search(data["search"]) if data.get("search") else None,
            plan=_plan(data["plan"], source) if data.get("plan") else None,
        )
    except (TypeError, KeyError, ValueError) as exc:
        raise ResultsError(f"{source}: malformed run ({exc})") from exc


def _build(cls: type, values: dict[str, Any]) -> Any:
    """Construct a flat dataclass, ignoring keys this version does not know (added by later minor writers)."""
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in known})


def _level(data: dict[str, Any]) -> Level:
    values = dict(data)
    values["latency_ms"] = _build(Latency, data["latency_ms"])
    values["server_us"] = _build(ServerTimes, data["server_us"]) if data.get("server_us") else None
    values["windows"] = tuple(_build(Window, w) for w in data.get("windows", []))
    values["flags"] = tuple(data.get("flags", ()))
    values["inconsistent"] = tuple(data.get("inconsistent", ()))
    values["workers"] = tuple(_build(WorkerUse, w) for w in data.get("workers", []))
    values["send_lag_us"] = _build(SendLag, data["send_lag_us"]) if data.get("send_lag_us") else None
    values["models"] = {name: _model_level(part) for name, part in (data.get("models") or {}).items()}
    return _build(Level, values)


def _model_level(data: dict[str, Any]) -> ModelLevel:
    values = dict(data)
    values["latency_ms"] = _build(Latency, data["latency_ms"])
    values["server_us"] = _build(ServerTimes, data["server_us"]) if data.get("server_us") else None
    values["windows"] = tuple(_build(Window, w) for w in data.get("windows", []))
    values["slo"] = _build(Slo, data["slo"]) if data.get("slo") else None
    values["inconsistent"] = tuple(data.get("inconsistent", ()))
    return _build(ModelLevel, values)


def _curve(data: dict[str, Any]) -> Curve:
    values = dict(data)
    values["instance_group"] = _build(InstanceGroup, data["instance_group"])
    values["levels"] = tuple(_level(lv) for lv in data.get("levels", []))
    values["probes"] = tuple(_level(lv) for lv in data.get("probes", []))
    values["capacity"] = _build(Capacity, data.get("capacity") or {})
    values["variant"] = _build(Agreement, data["variant"]) if data.get("variant") else None
    return _build(Curve, values)


def _search(data: dict[str, Any]) -> SearchResult:
    values = dict(data)
    values["configurations"] = tuple(_build(SearchRow, row) for row in data.get("configurations", []))
    return _build(SearchResult, values)


def _plan(data: dict[str, Any], source: str) -> PlanResult:
    version = data.get("version", PLAN_VERSION)
    if not isinstance(version, int) or version > PLAN_VERSION:
        raise ResultsError(
            f"{source}: plan version {version!r} is newer than this harness reads ({PLAN_VERSION}); upgrade harness"
        )
    values = dict(data)
    values["steps"] = tuple(_plan_step(s) for s in data.get("steps", []))
    values["options"] = tuple(_plan_option(o) for o in data.get("options", []))
    values["candidates"] = tuple(_plan_candidate(c) for c in data.get("candidates", []))
    values["notes"] = tuple(data.get("notes", ()))
    values["confirmation"] = _build(PlanConfirmation, data["confirmation"]) if data.get("confirmation") else None
    return _build(PlanResult, values)


def _fleet_choice(data: dict[str, Any]) -> FleetChoice:
    return _build(FleetChoice, {**data, "parts": tuple(_build(FleetPart, p) for p in data.get("parts", []))})


def _plan_step(data: dict[str, Any]) -> PlanStep:
    return _build(PlanStep, {**data, "choices": tuple(_fleet_choice(c) for c in data.get("choices", []))})


def _plan_option(data: dict[str, Any]) -> PlanOption:
    return _build(PlanOption, {**data, "peak": _fleet_choice(data["peak"])})


def _plan_candidate(data: dict[str, Any]) -> PlanCandidate:
    values = dict(data)
    fit = data.get("fit")
    values["fit"] = _build(QueueFit, {**fit, "overhead_ms": tuple(fit.get("overhead_ms", ()))}) if fit else None
    values["held_out"] = tuple(_build(HeldOut, h) for h in data.get("held_out", []))
    return _build(PlanCandidate, values)
