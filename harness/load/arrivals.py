"""Open-loop arrival processes: how a level's rate is split over its senders, and what was actually sent.

A level asks for `rate` req/s from `n` senders (open-loop users, spread over any number of worker processes
and hosts). Sender i of n (a global index handed out by the master, not a per-process one) sends:
- constant: at rate/n, every n/rate seconds, on a grid shifted by i/rate from a start instant common to all
  senders, so the merged stream is exactly one request every 1/rate seconds (not n requests at once every n/rate);
- poisson: at rate/n, exponential gaps from its own seed, derived from the run seed and i, so the n streams are
  independent and their merge is a Poisson process of the full rate (not n copies of one stream);
- gamma:CV (bursty above CV 1, smoother below; gamma:1 is Poisson) and trace (a replayed schedule file,
  harness.load.trace): slots i, i + n, i + 2n... of ONE stream at the full rate, common to all senders (one seed
  for gamma, the file's gaps for a trace), so the merged stream is that stream whatever n. Independent gamma
  streams would not do: their merge tends to Poisson as n grows (Palm-Khintchine; seeded gamma:3 senders merge to
  a CV of 2.5 from 4 senders, 2.1 from 16). Each sender draws the whole common stream and keeps its own slots.
`merged_cv` measures the result from the actual send times: 0 for constant, 1 for Poisson, CV for gamma:CV,
the file's for a trace; `cv_tolerance` says how far a measured CV may be from the asked one, and
`keeps_schedule` whether the sends kept their spacing at all. Both engines (aio_engine.py, cpp/lean_engine.cc)
draw these schedules bit for bit (`send_times`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence

from harness.errors import ConfigError, HarnessError

KINDS = ("constant", "poisson", "gamma:CV")  # what --arrivals takes; "trace" comes from --schedule FILE
TRACE = "trace"
_SEED_STRIDE = 1_000_003  # a prime: (run seed, sender) pairs map to distinct seeds for any realistic count
# A measured CV may differ from the asked one by this much, plus three standard errors of a CV estimated from the
# level's gaps (cv_tolerance): send jitter of a few tens of microseconds adds ~0.02-0.05 at 2,000 req/s (measured
# on the 2-core machine, docs/load-shapes.md), and a constant stream's asked CV 0 has no sampling error at all.
CV_FLOOR = 0.1
CV_SIGMAS = 3.0


def parse_arrivals(text: str) -> str:
    """--arrivals as the engines take it: constant, poisson or gamma:CV (CV a number above 0); else one line."""
    kind = text.strip().lower()
    if kind in ("constant", "poisson"):
        return kind
    if kind.startswith("gamma:"):
        try:
            cv = float(kind[len("gamma:") :])
        except ValueError:
            cv = math.nan
        if cv > 0 and math.isfinite(cv):
            return f"gamma:{cv:g}"
    raise ConfigError(
        f"--arrivals {text!r} is not an arrival process; use constant, poisson or gamma:CV with CV above 0 "
        "(gamma:3 is bursty, gamma:1 Poisson, gamma:0.5 smoother)"
    )


def gamma_cv(kind: str) -> float | None:
    """The CV a gamma:CV kind asks for (None for the other kinds)."""
    return float(kind.split(":", 1)[1]) if kind.startswith("gamma:") else None


def is_common_stream(kind: str) -> bool:
    """Whether the level's senders share one stream (gamma, trace) rather than each drawing its own."""
    return kind == TRACE or kind.startswith("gamma:")


class ZeroRateError(HarnessError):
    """An open-loop sender was asked for no rate: it would silently never send."""


def check_rate(rate_per_s: float) -> float:
    """The rate, or a one-line refusal: an open-loop user without a positive rate sends nothing at all."""
    if not rate_per_s > 0 or math.isinf(rate_per_s):
        raise ZeroRateError(
            f"open-loop users need a target rate above 0 req/s (got {rate_per_s:g}); "
            "set --target-rps (or the web form's target rate), or use the closed-loop user"
        )
    return rate_per_s


def sender_rate(total_rate: float, senders: int) -> float:
    """Each sender's share of the level's rate."""
    return check_rate(total_rate) / max(senders, 1)


def sender_phase_s(index: int, total_rate: float) -> float:
    """Sender i's offset from the common start: i gaps of the merged stream."""
    return index / check_rate(total_rate)


def sender_seed(run_seed: int, index: int) -> int:
    """Sender i's own seed: independent streams, the same ones again for the same run seed."""
    return run_seed * _SEED_STRIDE + index


def send_times(
    origin: float,
    kind: str,
    rate_per_s: float,
    seed: int,
    index: int = 0,
    senders: int = 1,
    trace: Sequence[float] = (),
) -> Iterator[float]:
    """Endless intended send times of one sender from `origin`, as both engines draw them (one float addition per
    gap, in the same order, so the compiled engine's times equal these bit for bit).

    constant, poisson: this sender's own stream at `rate_per_s` (its share), the first send one gap after `origin`;
    gamma:CV, trace: slots index, index + senders... of the common stream at `rate_per_s` (the level's rate) or of
    `trace`'s gaps (seconds, looped), whose slot 0 is one gap after `origin`."""
    check_rate(rate_per_s)
    rng = random.Random(seed)
    intended = origin
    if not is_common_stream(kind):
        while True:
            intended += rng.expovariate(rate_per_s) if kind == "poisson" else 1.0 / rate_per_s
            yield intended
    gaps = _common_gaps(kind, rate_per_s, rng, trace)
    slot, stride = -1, max(senders, 1)
    while True:
        target = index if slot < 0 else slot + stride
        while slot < target:
            slot += 1
            intended += next(gaps)
        yield intended


def _common_gaps(kind: str, rate_per_s: float, rng: random.Random, trace: Sequence[float]) -> Iterator[float]:
    """The common stream's gaps, slot 0 first: a looped trace, or gamma draws of mean 1/rate."""
    if kind == TRACE:
        looped = list(trace) or [1.0 / rate_per_s]
        while True:
            yield from looped
    cv = gamma_cv(kind) or 1.0
    shape = 1.0 / (cv * cv)
    scale = 1.0 / (rate_per_s * shape)
    while True:
        yield rng.gammavariate(shape, scale)


def schedule(
    rate_per_s: float,
    kind: str,
    seed: int,
    count: int,
    phase_s: float = 0.0,
    index: int = 0,
    senders: int = 1,
    trace: Sequence[float] = (),
) -> list[float]:
    """The first `count` intended send times (seconds from the common start) of a seeded, phase-shifted schedule."""
    times = send_times(phase_s, kind, rate_per_s, seed, index, senders, trace)
    return [next(times) for _ in range(count)]


def asked_cv(kind: str, trace: Sequence[float] = ()) -> float:
    """The inter-arrival CV a kind asks for: 0 constant, 1 Poisson, CV for gamma:CV, the trace's own."""
    if kind == TRACE:
        return gap_moments(trace)[0]
    return {"constant": 0.0, "poisson": 1.0}.get(kind) or gamma_cv(kind) or 0.0


def gap_moments(gaps: Sequence[float]) -> tuple[float, float, float]:
    """CV, skewness and kurtosis of a list of gaps (0, 0, 3 where they do not vary)."""
    mean = sum(gaps) / len(gaps) if gaps else 0.0
    variance = sum((g - mean) ** 2 for g in gaps) / len(gaps) if gaps else 0.0
    if mean <= 0 or variance <= 0:
        return 0.0, 0.0, 3.0
    sd = math.sqrt(variance)
    skew = sum((g - mean) ** 3 for g in gaps) / len(gaps) / sd**3
    kurtosis = sum((g - mean) ** 4 for g in gaps) / len(gaps) / variance**2
    return sd / mean, skew, kurtosis


def cv_tolerance(kind: str, gaps_measured: int, trace: Sequence[float] = ()) -> float:
    """How far a CV measured over `gaps_measured` gaps may be from the asked one: CV_FLOOR plus CV_SIGMAS standard
    errors of the estimate (delta method: Var(CV^) = CV^2 (CV^2 + (kurtosis - 1) / 4 - skewness CV) / N, which is
    CV^2 (1 + CV^2) / 2N for gamma gaps and 1 / N for Poisson ones)."""
    if kind == TRACE:
        cv, skew, kurtosis = gap_moments(trace)
    else:
        cv = asked_cv(kind)
        skew, kurtosis = 2.0 * cv, 3.0 + 6.0 * cv * cv  # a gamma's (Poisson: CV 1; constant: CV 0)
    variance = cv * cv * max(cv * cv + (kurtosis - 1.0) / 4.0 - skew * cv, 0.0) / max(gaps_measured, 1)
    return CV_FLOOR + CV_SIGMAS * math.sqrt(variance)


def keeps_schedule(lag_p99_us: float, rate_per_s: float) -> bool:
    """Whether a level's sends kept their spacing: 99 % of them left within one mean gap (1/rate) of their
    intended time. Beyond it sends overtake the ones scheduled after them, and the lag (counted in the latency,
    which starts at the intended time) is as large as the spacing the level asked for."""
    return lag_p99_us <= 1e6 / rate_per_s


def inter_arrival_cv(times: Sequence[float]) -> float | None:
    """Coefficient of variation (std / mean) of the gaps between sorted send times; None under 3 sends."""
    if len(times) < 3:
        return None
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    mean = sum(gaps) / len(gaps)
    if mean <= 0:
        return None
    variance = sum((g - mean) ** 2 for g in gaps) / len(gaps)
    return math.sqrt(variance) / mean


def merged_cv(per_process: Sequence[Sequence[float]]) -> float | None:
    """The merged stream's inter-arrival CV, from each process's actual send times (wall clock, seconds).

    Only the span every process covers counts: outside it some senders' sends are missing from the merge
    (their reports cut at other instants), which would show as gaps that were never there."""
    covered = [sorted(times) for times in per_process if len(times)]
    if not covered:
        return None
    start, end = max(t[0] for t in covered), min(t[-1] for t in covered)
    merged = sorted(x for times in covered for x in times if start <= x <= end)
    return inter_arrival_cv(merged)
