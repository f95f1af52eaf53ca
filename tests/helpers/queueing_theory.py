"""Queueing theory for the tests, written apart from harness.analysis.queueing (whose simulator and planner it
checks): closed forms and plain bisections only, in milliseconds and requests per millisecond.

- M/M/1: the time in system is exponential with rate mu - lambda.
- M/M/c: a Poisson arrival waits with probability Erlang C; a wait, when there is one, is exponential with rate
  c mu - lambda.
- M/D/1: the waiting time's distribution (Erlang, 1909): P(W <= t) = (1 - rho) sum_{k=0}^{floor(t/D)}
  (lambda (k D - t))^k / k! e^{-lambda (k D - t)}; its mean rho D / (2 (1 - rho)). The sum alternates with terms up
  to e^{2 lambda t}, so it is added in 80-digit decimals (floats lose every digit by lambda t ~ 20).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal, localcontext

from harness.record.model import Latency, Level, ServerTimes, Window


def md1_wait_cdf(t: float, rate: float, service: float) -> float:
    if t < 0:
        return 0.0
    with localcontext() as context:
        context.prec = 80
        lam, d, when = Decimal(rate), Decimal(service), Decimal(t)
        total = sum(
            (lam * (k * d - when)) ** k / math.factorial(k) * (-lam * (k * d - when)).exp()
            for k in range(int(t // service) + 1)
        )
        return float((1 - lam * d) * total)


def _invert(cdf: Callable[[float], float], q: float, high: float) -> float:
    low = 0.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if cdf(middle) < q else (low, middle)
    return high


def md1_sojourn_quantile(q: float, rate: float, service: float) -> float:
    """The q-quantile of queue wait + service at M/D/1 (ms)."""
    return service + _invert(lambda t: md1_wait_cdf(t, rate, service), q, 200 * service)


def md1_mean_sojourn(rate: float, service: float) -> float:
    rho = rate * service
    return service + rho * service / (2 * (1 - rho))


def md1_capacity(service: float, limit: float, q: float) -> float:
    """The highest Poisson rate (per ms) whose q-quantile of time in system is within limit, at M/D/1."""
    low, high = 0.0, 1.0 / service
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if md1_sojourn_quantile(q, middle, service) <= limit else (low, middle)
    return low


def mm1_sojourn_quantile(q: float, rate: float, service: float) -> float:
    return -math.log(1 - q) / (1 / service - rate)


def erlang_c(servers: int, rate: float, service: float) -> float:
    """P(an arrival waits) at M/M/c, from the textbook formula with factorials."""
    a = rate * service
    top = a**servers / math.factorial(servers) * servers / (servers - a)
    return top / (sum(a**k / math.factorial(k) for k in range(servers)) + top)


def mmc_wait_tail(t: float, servers: int, rate: float, service: float) -> float:
    """P(W > t) at M/M/c."""
    return erlang_c(servers, rate, service) * math.exp(-(servers / service - rate) * t)


def md1_level(rate_rps: float, service_ms: float, overhead_ms: float = 0.0) -> Level:
    """An open-loop Poisson level as M/D/1 says it is measured: percentiles, Triton's queue and compute times."""
    rate = rate_rps / 1000.0
    quantiles = {p: md1_sojourn_quantile(q, rate, service_ms) + overhead_ms for p, q in QUANTILES.items()}
    mean = md1_mean_sojourn(rate, service_ms)
    wait_us = (mean - service_ms) * 1000.0
    return Level(
        concurrency=None,
        achieved_rps=rate_rps,
        requests=int(rate_rps * 30),
        failures=0,
        latency_ms=Latency(**quantiles, mean=mean + overhead_ms, max=quantiles["p999"] * 1.2, min=service_ms),
        stable=True,
        client_saturated=False,
        mode="rate",
        offered_rps=rate_rps,
        server_us=ServerTimes(wait_us, 0.0, service_ms * 1000.0, 0.0, request=mean * 1000.0),
        avg_batch=1.0,
        windows=tuple(Window(rate_rps, quantiles["p99"], int(rate_rps * 10), 10.0) for _ in range(3)),
        arrivals_cv=1.0,
    )


QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99, "p999": 0.999}
