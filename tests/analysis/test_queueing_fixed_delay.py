"""The queueing model against a real server: fixed_delay (10 ms a request) measured with `harness sweep`, Poisson
arrivals. A fit on one instance (three levels) predicts one, two and four instances at rates it never saw; each is
then measured at those rates (0.5 to 1.15 of its predicted capacity).

Instances in one Triton share its one queue: they stand for replicas behind a balancer that hands a request to
whichever replica is free (the model's `servers`). Replicas at random split are one instance each at rate / N, which
the one-instance measurement is; the fleet planner uses that (and the test of the done-when below checks it against
M/D/1 per replica).

What a short level can pin, measured by simulating a perfect model over the same requests (300 runs each): a p99
from 15-30 s of 30-60 req/s rests on a handful of requests beyond it; its spread (sd 10-15 %, biased ~4 % low) makes
a per-level (or one instance's per-configuration) p99 check within 15 % fail 4-10 % of perfect runs, and a capacity
at p99 <= 40 ms within 15 % fail 14-25 % (one instance's p99 rises only ~30 % from 0.85 to 1.15 of capacity). So:
- capacity is judged at p90 <= 40 ms, per configuration, crossing the levels at 0.85, 1.0 and 1.15 of the prediction:
  a perfect model fails this 0.7 % (1 instance), 0 % (2, 4);
- p99 is judged at 0.5 and 0.7 of capacity (below it, where the tail is steady), pooled over the three
  configurations: geometric mean of measured / predicted within 15 % (a perfect model: ~0 % failures); the
  per-configuration figures are in the message.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from harness.analysis.plan import make_plan, plan_candidates
from harness.analysis.queueing import fit_queue, level_load, predict, predicted_capacity
from harness.analysis.traffic import peak_traffic
from harness.record.model import Curve, Level, Metadata, QueueFit, Run, Slo
from harness.record.store import load_run
from helpers import queueing_theory as theory
from helpers.processes import harness

pytestmark = pytest.mark.integration
CAPACITY_SLO = Slo("p90", 40.0)
FIT_RATES = (20.0, 30.0, 40.0)  # one instance at utilisation 0.2-0.43: a queue to read the CV from, and a held-out
SHARES = (0.5, 0.7, 0.85, 1.0, 1.15)  # of the predicted capacity
WINDOW_S = {1: 6, 2: 4, 4: 3}  # 3 windows a level: 18, 12, 9 s, about 500-3,500 requests


def sweep(triton_url: str, folder: Path, instances: int, rates: tuple[float, ...], window_s: int) -> Curve:
    result = harness(
        *("sweep", "--url", triton_url, "--model", "fixed_delay", "--instances", f"cpu:{instances}"),
        *("--rate", ",".join(f"{r:.1f}" for r in rates), "--arrivals", "poisson", "--warmup", "1s"),
        *("--window", f"{window_s}s", "--max-windows", 3, "--stability", "99%", "--workers", 1),
        *("--slo", "p90=40ms", "--output", folder),
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return load_run(folder).curves[0]


@pytest.fixture(scope="module")
def one_instance(triton_url: str, tmp_path_factory: pytest.TempPathFactory) -> Curve:
    return sweep(triton_url, tmp_path_factory.mktemp("fit"), 1, FIT_RATES, 4)


@dataclasses.dataclass(frozen=True)
class Measured:
    model: QueueFit  # the one-instance fit with `instances` servers
    capacity: float  # predicted, at CAPACITY_SLO
    curve: Curve  # measured at SHARES of it


Measure = Callable[[int], Measured]


@pytest.fixture(scope="module")
def measured(triton_url: str, one_instance: Curve, tmp_path_factory: pytest.TempPathFactory) -> Measure:
    """Each instance count measured once (about 1-2 minutes each) at the rates the fit predicts matter."""
    fit, done = fit_queue(one_instance), {}

    def get(instances: int) -> Measured:
        if instances not in done:
            model = dataclasses.replace(fit, servers=instances)
            capacity = predicted_capacity(model, CAPACITY_SLO)
            rates = tuple(k * capacity for k in SHARES)
            folder = tmp_path_factory.mktemp(f"cpu{instances}")
            done[instances] = Measured(model, capacity, sweep(triton_url, folder, instances, rates, WINDOW_S[instances]))
        return done[instances]

    return get


def rate_of(level: Level) -> float:
    load = level_load(level)
    assert load.rate_rps is not None
    return load.rate_rps


def measured_capacity(levels: Sequence[Level], limit_ms: float) -> float:
    """Where the measured p90 first crosses the limit, interpolated in log-log between the two levels around it."""
    points = sorted((rate_of(lv), lv.latency_ms.p90) for lv in levels)
    assert points[0][1] <= limit_ms, f"already over {limit_ms} ms at the lowest rate: {points}"
    for (r0, p0), (r1, p1) in zip(points, points[1:], strict=False):
        if p1 > limit_ms:
            return math.exp(math.log(r0) + math.log(limit_ms / p0) * math.log(r1 / r0) / math.log(p1 / p0))
    pytest.fail(f"never over {limit_ms} ms up to the highest rate: {points}")


def test_the_fit_reads_fixed_delay_s_service(one_instance: Curve) -> None:
    fit = fit_queue(one_instance)
    assert 9.5 < fit.service_ms < 12.0 and fit.service_cv <= 0.3 and not fit.cv_assumed, fit  # delay_ms is 10


@pytest.mark.parametrize("instances", [1, 2, 4])
def test_the_predicted_capacity_is_within_15_percent_of_the_measured(instances: int, measured: Measure) -> None:
    m = measured(instances)
    found = measured_capacity(m.curve.levels[2:], CAPACITY_SLO.limit_ms)
    random_split = predicted_capacity(dataclasses.replace(m.model, servers=1), CAPACITY_SLO, replicas=instances)
    said = (
        f"cpu:{instances}: capacity at {CAPACITY_SLO} predicted {m.capacity:.1f} req/s, measured {found:.1f} "
        f"({found / m.capacity - 1:+.1%}); {instances} replicas at random split would carry {random_split:.1f}"
    )
    print("\n" + said)
    assert found == pytest.approx(m.capacity, rel=0.15), said


@pytest.mark.timeout(600)  # measures every instance count itself when run alone (the capacity tests share them)
def test_the_predicted_p99_below_capacity_is_within_15_percent_of_the_measured(measured: Measure) -> None:
    ratios = {
        n: [
            lv.latency_ms.p99 / predict(measured(n).model, level_load(lv)).latency_ms["p99"]
            for lv in measured(n).curve.levels[:2]
        ]
        for n in (1, 2, 4)
    }
    pooled = math.exp(statistics.fmean(math.log(r) for rs in ratios.values() for r in rs))
    said = "; ".join(f"cpu:{n} measured/predicted p99 {', '.join(f'{r:.2f}' for r in rs)}" for n, rs in ratios.items())
    print(f"\n{said}; pooled {pooled:.3f}")
    assert pooled == pytest.approx(1.0, abs=0.15), said


def test_the_plan_for_fixed_delay_is_m_d_1_per_replica(one_instance: Curve) -> None:
    """The done-when of issue 23 on the measured fit: p99 <= 40 ms at 150 req/s, headroom 20 %. Theory: replicas
    at random split are M/D/1 queues at 150 / N req/s, with D the service time Triton measured."""
    slo = Slo("p99", 40.0)
    run = Run(metadata=Metadata(model="fixed_delay"), slo=slo, curves=(one_instance,))
    (candidate,) = plan_candidates([run], slo, {"cpu:1": 0.05})
    plan = make_plan([candidate], peak_traffic(150.0), slo, headroom=0.2)
    (choice,) = [c for c in plan.steps[0].choices if c.option == "CPU only"]
    replicas = choice.parts[0].replicas
    service = statistics.fmean(lv.server_us.compute for lv in one_instance.levels if lv.server_us) / 1000
    expected = math.ceil(150 * 1.2 / (theory.md1_capacity(service, 40.0, 0.99) * 1000))
    theory_p99 = theory.md1_sojourn_quantile(0.99, 150 / replicas / 1000, service)
    print(
        f"\nplan: {replicas} replicas (theory {expected}), p99 {choice.predicted_ms} ms (theory {theory_p99:.1f} ms); "
        f"held-out error mean {candidate.error_mean}, worst {candidate.error_max}"
    )
    assert abs(replicas - expected) <= 1
    assert choice.predicted_ms == pytest.approx(theory_p99, rel=0.15)
