"""The queueing model against queueing theory (tests/helpers/queueing_theory.py, written apart from it).

The simulator: M/D/1 against Erlang's waiting-time distribution and the mean S + rho S / (2 (1 - rho)); M/M/1
against its exponential time in system; M/M/c against Erlang C; closed loops against X = c / S and latency
C x S. Tolerances: over 20 seeds of the default 100,000 requests the simulated quantiles were unbiased (means within
0.5 % of theory) with a spread (sd) of p99 of 1.6 % at rho 0.5 and 4.7 % at rho 0.8 (M/D/1; M/M/1 alike), and of
P(T > t) at M/M/c up to 0.004; the theory checks run 400,000 requests (half that spread), so 5 % (0.006 on a
probability: 3 sd) holds for any seed while a wrong recursion (a server too few or many, arrivals at a wrong
rate) misses by tens of percent.

The fit: levels built from theory (M/D/1, M/M/1) give back the service time, its variability and the overhead;
the cross-check says where a fit does not hold.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from harness.analysis.queueing import (
    Load,
    cross_check,
    fit_queue,
    predict,
    predict_latency,
    predicted_capacity,
    saturation_rps,
    simulate,
)
from harness.errors import ResultsError
from harness.record.model import Curve, Latency, Level, QueueFit, ServerTimes, Slo
from helpers import factories as f
from helpers import queueing_theory as theory

S = 10.0  # ms, as fixed_delay
SIM_TOLERANCE = 0.05
THEORY_REQUESTS = 400_000
DETERMINISTIC = QueueFit(servers=1, service_ms=S, service_cv=0.0)
EXPONENTIAL = QueueFit(servers=1, service_ms=S, service_cv=1.0)


def sojourn(fit: QueueFit, rate_rps: float) -> np.ndarray:
    times, _ = simulate(fit, Load(rate_rps=rate_rps), requests=THEORY_REQUESTS)
    return times


@pytest.mark.parametrize("rho", [0.3, 0.5, 0.8])
def test_m_d_1_waits_as_erlang_says(rho: float) -> None:
    times, rate = sojourn(DETERMINISTIC, rho / S * 1000), rho / S
    for q in (0.5, 0.9, 0.99):
        assert np.quantile(times, q) == pytest.approx(theory.md1_sojourn_quantile(q, rate, S), rel=SIM_TOLERANCE), q
    assert times.mean() == pytest.approx(theory.md1_mean_sojourn(rate, S), rel=SIM_TOLERANCE)


def test_m_m_1_time_in_system_is_exponential() -> None:
    times, rate = sojourn(EXPONENTIAL, 50.0), 0.05
    for q in (0.5, 0.9, 0.99):
        assert np.quantile(times, q) == pytest.approx(theory.mm1_sojourn_quantile(q, rate, S), rel=SIM_TOLERANCE), q


@pytest.mark.parametrize("servers", [2, 4])
def test_m_m_c_waits_as_erlang_c(servers: int) -> None:
    """Time in system T = W + S, W = 0 with probability 1 - C, else Exp(theta = c mu - lambda): P(T > t) =
    (1 - C) e^{-mu t} + C (theta e^{-mu t} - mu e^{-theta t}) / (theta - mu); mean C / theta + S."""
    rate = 0.7 * servers / S
    times = sojourn(dataclasses.replace(EXPONENTIAL, servers=servers), rate * 1000)
    c, mu, theta = theory.erlang_c(servers, rate, S), 1 / S, servers / S - rate

    def tail(t: float) -> float:
        return (1 - c) * math.exp(-mu * t) + c * (theta * math.exp(-mu * t) - mu * math.exp(-theta * t)) / (theta - mu)

    assert times.mean() == pytest.approx(c / theta + S, rel=SIM_TOLERANCE)
    for t in (10.0, 30.0, 60.0):
        assert (times > t).mean() == pytest.approx(tail(t), abs=0.006), t


def test_closed_loop_follows_the_closed_loop_laws() -> None:
    """C users over c servers, no think time: X = c / S and latency C x S; one user with think time Z: X = 1 / (S + Z)."""
    two = dataclasses.replace(DETERMINISTIC, servers=2)
    times, throughput = simulate(two, Load(users=8))
    assert throughput == pytest.approx(2 / S * 1000, rel=0.01) and times.mean() == pytest.approx(4 * S, rel=0.01)
    _, alone = simulate(dataclasses.replace(DETERMINISTIC, overhead_mean_ms=5.0), Load(users=1))
    assert alone == pytest.approx(1000 / (S + 5.0), rel=0.01)


def test_a_seed_gives_the_same_answer_and_another_seed_a_close_one() -> None:
    first, again = simulate(EXPONENTIAL, Load(rate_rps=60.0))[0], simulate(EXPONENTIAL, Load(rate_rps=60.0))[0]
    other = simulate(EXPONENTIAL, Load(rate_rps=60.0), seed=7)[0]
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert np.quantile(other, 0.99) == pytest.approx(np.quantile(first, 0.99), rel=0.1)


def test_capacity_is_m_d_1_s_and_n_replicas_at_random_carry_n_times_it() -> None:
    slo = Slo("p99", 40.0)
    one = predicted_capacity(DETERMINISTIC, slo)
    assert one == pytest.approx(theory.md1_capacity(S, 40.0, 0.99) * 1000, rel=0.02)
    assert predicted_capacity(DETERMINISTIC, slo, replicas=3) == pytest.approx(3 * one, rel=0.01)


def test_round_robin_gives_each_replica_more_regular_arrivals_than_random() -> None:
    """Each of N replicas gets every N-th arrival (Erlang-N gaps): it waits less than under a random split, and
    with many replicas hardly at all (D/D/1 waits nothing)."""
    total = 0.8 / S * 1000 * 4
    random = predict_latency(DETERMINISTIC, total, "p99", replicas=4, balancing="random")
    robin = predict_latency(DETERMINISTIC, total, "p99", replicas=4, balancing="round-robin")
    assert random == pytest.approx(theory.md1_sojourn_quantile(0.99, 0.08, S), rel=SIM_TOLERANCE)
    assert robin is not None and random is not None and robin < 0.6 * random
    many = predict_latency(DETERMINISTIC, 0.8 / S * 1000 * 400, "p99", replicas=400, balancing="round-robin")
    assert many is not None and many < 1.5 * S


def test_batching_serves_up_to_its_limit_per_execution() -> None:
    """Four requests an execution for the time of one: four times the throughput; overloaded above it."""
    batched = QueueFit(servers=1, service_ms=S, service_cv=0.0, batch_limit=4)
    assert saturation_rps(batched) == pytest.approx(400.0)
    prediction = predict(batched, Load(rate_rps=300.0))
    assert not prediction.overloaded and prediction.latency_ms["p99"] < 10 * S
    assert predict(batched, Load(rate_rps=410.0)).overloaded


# --- the fit ----------------------------------------------------------------------------------------------------


def md1_curve(rates: tuple[float, ...] = (20, 40, 60, 75), overhead: float = 0.0) -> Curve:
    return dataclasses.replace(f.curve("CPU", 1, [theory.md1_level(r, S, overhead) for r in rates]), dynamic_batching=False)


def test_a_fit_on_m_d_1_levels_gives_back_the_service_time_and_the_capacity() -> None:
    fit = fit_queue(md1_curve())
    assert fit.servers == 1 and fit.batch_limit == 1 and fit.service_ms == pytest.approx(S)
    assert fit.service_cv < 0.1 and not fit.cv_assumed
    # no overhead beyond the simulation's own sampling error (up to p99 about 1 % of these levels' latencies)
    assert fit.overhead_mean_ms == pytest.approx(0.0, abs=0.05) and max(fit.overhead_ms[:4]) < 1.0
    assert predicted_capacity(fit, Slo("p99", 40.0)) == pytest.approx(theory.md1_capacity(S, 40.0, 0.99) * 1000, rel=0.02)


def test_the_overhead_outside_triton_is_added_to_every_prediction() -> None:
    fit = fit_queue(md1_curve(overhead=2.0))
    assert fit.overhead_mean_ms == pytest.approx(2.0, abs=0.05)
    expected = theory.md1_sojourn_quantile(0.99, 0.05, S) + 2.0
    assert predict_latency(fit, 50.0, "p99") == pytest.approx(expected, rel=SIM_TOLERANCE)


def mm1_level(rate_rps: float) -> Level:
    """An M/M/1 level: Triton's mean queue time rho S / (1 - rho), percentiles of Exp(mu - lambda)."""
    rate = rate_rps / 1000
    q = {p: theory.mm1_sojourn_quantile(v, rate, S) for p, v in theory.QUANTILES.items()}
    mean = 1 / (1 / S - rate)
    return dataclasses.replace(
        theory.md1_level(rate_rps, S),
        latency_ms=Latency(**q, mean=mean, max=q["p999"] * 1.2),
        server_us=ServerTimes((mean - S) * 1000, 0.0, S * 1000, 0.0, request=mean * 1000),
    )


def test_the_service_variability_is_what_makes_the_tail_grow_with_load_as_measured() -> None:
    fit = fit_queue(dataclasses.replace(f.curve("CPU", 1, [mm1_level(r) for r in (30, 50, 70)]), dynamic_batching=False))
    assert fit.service_cv == pytest.approx(1.0, abs=0.05) and not fit.cv_assumed


def test_triton_s_queue_time_does_not_set_the_variability() -> None:
    """On fixed_delay Triton's mean queue time grew ~10 % faster than M/D/1's while the client's tail did not (a
    CV read from the queue time came out 0.4 and overpredicted p99 by 20-25 %): M/D/1 percentiles with such queue
    times still fit a near-constant service."""
    levels = [theory.md1_level(r, S) for r in (25, 40, 55)]
    inflated = [
        dataclasses.replace(lv, server_us=dataclasses.replace(lv.server_us, queue=lv.server_us.queue * 1.1)) for lv in levels
    ]  # type: ignore[arg-type]
    assert fit_queue(dataclasses.replace(f.curve("CPU", 1, inflated), dynamic_batching=False)).service_cv <= 0.1


def test_levels_too_light_to_show_the_variability_leave_it_assumed_and_said() -> None:
    fit = fit_queue(md1_curve(rates=(5, 15)))  # utilisation 5 % and 15 %: too little queue to read a CV from
    assert fit.cv_assumed and fit.service_cv == 1.0


def test_batch_cost_comes_from_levels_with_different_batch_sizes() -> None:
    """Compute per request (a batch's time) 2 ms + 1 ms per further request, at 1, 2 and 4 requests an execution."""
    levels = [
        dataclasses.replace(
            theory.md1_level(rate, 2.0), avg_batch=b, server_us=ServerTimes(0.0, 0.0, (2 + (b - 1)) * 1000, 0.0)
        )
        for rate, b in ((100, 1.0), (300, 2.0), (600, 4.0))
    ]
    curve = dataclasses.replace(f.curve("GPU", 1, levels), dynamic_batching=True, max_batch_size=8)
    fit = fit_queue(curve)
    assert (fit.batch_limit, fit.service_ms, fit.per_extra_request_ms) == (8, pytest.approx(2.0), pytest.approx(1.0))


def test_unusable_levels_are_left_out_and_none_at_all_is_one_clear_error() -> None:
    good = theory.md1_level(40, S)
    failed = dataclasses.replace(theory.md1_level(60, S), failures=3, latency_ms=f.latency(500.0))
    saturated = dataclasses.replace(theory.md1_level(70, S), client_saturated=True, latency_ms=f.latency(500.0))
    curve = dataclasses.replace(f.curve("CPU", 1, [good, failed, saturated]), dynamic_batching=False)
    assert fit_queue(curve) == fit_queue(dataclasses.replace(curve, levels=(good,)))
    with pytest.raises(ResultsError, match="no error-free level") as error:
        fit_queue(dataclasses.replace(curve, levels=(failed, saturated)))
    assert "\n" not in str(error.value)


def test_held_out_levels_that_agree_are_predicted_within_a_few_percent() -> None:
    checks = cross_check(md1_curve(), Slo("p99", 40.0))
    assert [c.level_index for c in checks] == [0, 1, 2, 3] and {c.metric for c in checks} == {"p99"}
    assert max(abs(c.error) for c in checks) < 0.05


def test_a_held_out_level_the_model_cannot_explain_shows_a_large_error() -> None:
    """Three levels as M/D/1 says and one measured at twice its latency (a noisy neighbour, say): its held-out
    error is large and says so, while the others stay small."""
    levels = [theory.md1_level(r, S) for r in (20, 40, 60)]
    odd = theory.md1_level(50, S)
    levels.append(dataclasses.replace(odd, latency_ms=dataclasses.replace(odd.latency_ms, p99=2 * odd.latency_ms.p99)))
    checks = cross_check(dataclasses.replace(f.curve("CPU", 1, levels), dynamic_batching=False), Slo("p99", 40.0))
    assert checks[3].error == pytest.approx(-0.5, abs=0.05)
    assert all(abs(c.error) < 0.1 for c in checks[:2])


@pytest.mark.parametrize(
    ("offered", "achieved", "predicted"),
    # beyond the model's saturation; within it, but measured behind; kept up with, but too busy to settle in a level
    [(150.0, 97.0, 100.0), (95.0, 80.0, 95.0), (94.0, 93.0, 94.0)],
)
def test_a_level_the_server_fell_behind_on_is_judged_on_throughput(offered: float, achieved: float, predicted: float) -> None:
    """A queue that grows has no steady percentile to predict: the level is judged on what it served."""
    over = dataclasses.replace(theory.md1_level(40, S), offered_rps=offered, achieved_rps=achieved, latency_ms=f.latency(900.0))
    curve = dataclasses.replace(
        f.curve("CPU", 1, [theory.md1_level(r, S) for r in (20, 40, 60)] + [over]), dynamic_batching=False
    )
    check = cross_check(curve, Slo("p99", 40.0))[3]
    assert (check.metric, check.measured) == ("req/s", achieved)
    assert check.predicted == pytest.approx(predicted, rel=0.01)


def test_a_held_out_level_never_informs_its_own_prediction() -> None:
    """Three levels, the last measured on a 15 ms service (Triton's compute says so): predicted from the other two
    alone (10 ms, constant), it is M/D/1's p99 at 10 ms, not a blend of all three."""
    slower = theory.md1_level(40, 15.0)
    levels = [theory.md1_level(25, S), theory.md1_level(35, S), slower]
    check = cross_check(dataclasses.replace(f.curve("CPU", 1, levels), dynamic_batching=False), Slo("p99", 40.0))[2]
    expected = theory.md1_sojourn_quantile(0.99, 0.04, S) / slower.latency_ms.p99 - 1
    assert check.error == pytest.approx(expected, abs=0.03) and expected < -0.4
