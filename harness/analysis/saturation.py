"""What stopped a configuration from going faster, read from the server evidence of its levels (pure).

"cpu:2 reaches 1,900 req/s with the server at 1.98 of 2 cores: CPU-bound (read at the capacity level, concurrency 4)".
The level read is one whose figures can be trusted, and the sentence says which: the capacity level when it is
stable, else the highest-throughput stable level; only when no level was stable the busiest one, said to be
unstable (an unstable level's windows disagreed: its throughput and CPU are not where the server settles).
The rules, first match wins:
  GPU-bound        GPU utilisation >= 90 %
  CPU-bound        server CPU >= 90 % of the host's cores
  instance-bound   server CPU >= 90 % of instances x threads (the configuration, not the host, is the limit)
  client-bound     the load generator was saturated at that level
  not saturated    none of those: the server had headroom at that level (the SLO or the load plan stopped it)
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.analysis.capacity import capacity_of
from harness.record.model import Curve, Level, Run
from harness.textfmt import fmt_num

BUSY = 0.9


@dataclass(frozen=True)
class Saturation:
    verdict: str  # "CPU-bound", "GPU-bound", "instance-bound", "client-bound", "not saturated"
    level: Level
    cores: float | None  # server CPU in cores at that level
    host_cores: int | None
    read_at: str = "the capacity level"  # which level: see read_level


def busiest_level(curve: Curve) -> Level | None:
    levels = [lv for lv in curve.levels if lv.requests > 0]
    return max(levels, key=lambda lv: lv.achieved_rps, default=None)


def read_level(curve: Curve) -> tuple[Level, str] | None:
    """The level whose evidence is read, and which one it is: the capacity level when stable, else the highest
    stable level, else (no level stable) the busiest one, said to be unstable."""
    _, at_capacity = capacity_of(curve, None)
    if at_capacity is not None and at_capacity.stable:
        return at_capacity, "the capacity level"
    stable = [lv for lv in curve.levels if lv.requests > 0 and lv.stable]
    if stable:
        return max(stable, key=lambda lv: lv.achieved_rps), "the highest stable level"
    busiest = busiest_level(curve)
    return None if busiest is None else (busiest, "the busiest level, unstable")


def saturation(curve: Curve, host_cores: int | None) -> Saturation | None:
    """What limited `curve`, or None when its levels carry no server evidence."""
    read = read_level(curve)
    if read is None:
        return None
    level, read_at = read
    if level is None or (level.server_cpu_cores is None and level.gpu_utilization is None):
        return None
    cores = level.server_cpu_cores
    group = curve.instance_group
    allotted = group.count * (group.threads or 1) if group.kind == "CPU" else None
    if level.gpu_utilization is not None and level.gpu_utilization >= BUSY:
        verdict = "GPU-bound"
    elif cores is not None and host_cores and cores >= BUSY * host_cores:
        verdict = "CPU-bound"
    elif cores is not None and allotted and cores >= BUSY * allotted:
        verdict = "instance-bound"
    elif level.client_saturated:
        verdict = "client-bound"
    else:
        verdict = "not saturated"
    return Saturation(verdict, level, cores, host_cores, read_at)


def saturation_sentence(run: Run, curve: Curve, label: str | None = None) -> str | None:
    """One line naming what saturated, or None without server evidence."""
    host_cores = run.metadata.host.get("cores")
    found = saturation(curve, host_cores if isinstance(host_cores, int) else None)
    if found is None:
        return None
    label = label or str(curve.instance_group)
    parts = []
    if found.cores is not None:
        of = f" of {found.host_cores}" if found.host_cores else ""
        parts.append(f"{found.cores:.2f}{of} cores")
    if found.level.gpu_utilization is not None:
        parts.append(f"GPU {found.level.gpu_utilization * 100:.0f} % busy")
    what = {
        "instance-bound": f"bound by its {_allotment(curve)}",
        "not saturated": "not saturated (the server had CPU to spare)",
    }
    rps = found.level.achieved_rps
    rate = f"{rps:,.0f}" if rps >= 100 else fmt_num(rps)
    return (
        f"{label} reaches {rate} req/s with the server at {', '.join(parts)}: "
        f"{what.get(found.verdict, found.verdict)} (read at {found.read_at}, {_load(found.level)})"
    )


def _load(level: Level) -> str:
    return f"{fmt_num(level.offered_rps)} req/s offered" if level.mode == "rate" else f"concurrency {level.concurrency}"


def _allotment(curve: Curve) -> str:
    group = curve.instance_group
    threads = group.threads or 1
    return (
        f"{group.count} instance{'s' if group.count > 1 else ''} x {threads} thread{'s' if threads > 1 else ''}"
        " (instance-bound)"
    )
