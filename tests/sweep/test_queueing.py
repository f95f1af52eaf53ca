"""Sweeps against queueing theory on `fixed_delay` (one instance, ~10 ms per request), with one and with several
workers (constant arrivals: 1, 2 and 4; closed loop and Poisson: 1 and 4, where a copied schedule shows as plainly
as with 2 and the suite saves ~20 s).

The service time S is measured on the server (Triton's compute_infer per request, at the same level), so
the references are independent of the harness: closed loop at concurrency C, throughput X = 1/S and mean
latency C*S; constant arrivals below capacity never queue (latency ~ S, Triton's queue time ~ 0); Poisson
arrivals at utilisation rho wait as in M/D/1, mean latency S + rho*S / (2*(1 - rho)). The tolerances catch
the defect of copies: with 2 workers, "constant" arrived as pairs (p50 ~ 2S, queue ~ S/2 per request) and
"Poisson" as duplicated bursts (merged CV ~ 1.7, mean latency well above M/D/1).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKERS = [1, 2, 4]
WORKERS_SHORT = [1, 4]
CONSTANT_RATE = 50.0  # rho ~ 0.5
POISSON_RATE = 40.0  # rho ~ 0.4: waits ~ 0.35 S on average, with a spread a few seconds can pin down


def sweep(triton_url: str, folder: Path, workers: int, *args: str) -> dict:
    command = [
        sys.executable,
        "-m",
        "harness.cli",
        "sweep",
        "--url",
        triton_url,
        "--model",
        "fixed_delay",
        "--instances",
        "cpu:1",
        "--workers",
        str(workers),
        "--warmup",
        "1s",
        "--max-windows",
        "3",
        "--output",
        str(folder),
        *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    (level,) = json.loads((folder / "run.json").read_text())["curves"][0]["levels"]
    return level


def service_ms(level: dict) -> float:
    return level["server_us"]["compute_infer"] / 1000.0


@pytest.mark.integration
@pytest.mark.parametrize("workers", WORKERS_SHORT)
def test_closed_loop_throughput_is_one_over_s_and_latency_c_times_s(workers: int, triton_url: str, tmp_path: Path) -> None:
    # The default window budget (6): a steady closed loop on a sleeping model must be judged stable within it.
    level = sweep(triton_url, tmp_path, workers, "--concurrency", "4", "--window", "1s", "--max-windows", "6")
    assert level["stable"] is True and "unstable" not in level["flags"], level["windows"]
    s = service_ms(level)
    assert 9.0 < s < 13.0  # the model's delay_ms is 10
    assert level["achieved_rps"] == pytest.approx(1000.0 / s, rel=0.08)
    assert level["latency_ms"]["mean"] == pytest.approx(4 * s, rel=0.08)
    assert level["inconsistent"] == [] and "inconsistent" not in level["flags"]
    assert level["arrivals_cv"] is None  # closed loop: no arrival process of its own


@pytest.mark.integration
@pytest.mark.parametrize("workers", WORKERS)
def test_constant_arrivals_below_capacity_never_queue(workers: int, triton_url: str, tmp_path: Path) -> None:
    level = sweep(triton_url, tmp_path, workers, "--rate", f"{CONSTANT_RATE:g}", "--arrivals", "constant", "--window", "1s")
    s = service_ms(level)
    assert level["achieved_rps"] == pytest.approx(CONSTANT_RATE, rel=0.05)
    assert level["arrivals_cv"] < 0.25  # evenly spaced; senders in pairs would give 1.0
    assert level["server_us"]["queue"] < 0.1 * s * 1000.0  # Triton's own queue: pairs would wait S/2 on average
    assert s <= level["latency_ms"]["p50"] < 1.3 * s
    assert level["inconsistent"] == []


@pytest.mark.integration
@pytest.mark.parametrize("workers", WORKERS_SHORT)
def test_poisson_arrivals_wait_as_m_d_1(workers: int, triton_url: str, tmp_path: Path) -> None:
    level = sweep(
        triton_url,
        tmp_path,
        workers,
        "--rate",
        f"{POISSON_RATE:g}",
        "--arrivals",
        "poisson",
        "--window",
        "2s",
        "--stability",
        "99%",
    )
    s = service_ms(level)
    rho = level["achieved_rps"] * s / 1000.0
    theory_ms = s + rho * s / (2 * (1 - rho))
    assert level["achieved_rps"] == pytest.approx(POISSON_RATE, rel=0.15)
    assert 0.75 <= level["arrivals_cv"] <= 1.25  # independent senders; copies would merge to ~1.7
    assert 0.85 * theory_ms <= level["latency_ms"]["mean"] <= 1.25 * theory_ms + 1.0, (theory_ms, rho)
    assert level["inconsistent"] == []
