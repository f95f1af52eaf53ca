"""Every default a user can meet, written once and grouped per command (as Model Analyzer's config_defaults.py).

Flags (their value and their --help text), the dataclasses they fill (SweepSpec, DriverSettings, LoadOptions), the
Locust options, the engines' config frame and the advice printed to users all read them here: changing one here
changes it everywhere. A value that only one module uses, and that no user sees, stays in that module.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.net import LOOPBACK

# --- every command that sends load -------------------------------------------------------------------------------
REQUEST_TIMEOUT_S = 30.0
"""Seconds before a request counts as failed (--request-timeout; carried to both engines in their config frame)."""

MAX_IN_FLIGHT = 1000
"""Open loop: sends beyond this many outstanding requests per load-generator process are dropped (and counted)."""

SATURATION_CPU_PERCENT = 90.0
"""A load-generator process above this CPU percent is saturated: its levels are flagged, the web UI warns."""

REPORT_INTERVAL_S = 1.0
"""Seconds between a Locust worker's histogram reports in a plain Locust run (`harness ui`, `locust -f`)."""

SWEEP_REPORT_INTERVAL_S = 0.5
"""The same for sweeps: their windows are a few seconds long, so workers report twice as often."""

BATCH_SIZE = 1
"""Inferences per request."""

SEED = 0
"""Seed of the random input tensors and of the Poisson schedules."""

ARRIVALS = "constant"
"""Open-loop inter-arrival times."""

PROTOCOLS = ("grpc", "http")
PROTOCOL = "grpc"
"""What the load speaks to Triton: gRPC, or HTTP/REST (KServe v2, the binary-tensor extension)."""

SLO = "p99=100ms"
"""The latency objective when none is given."""

MASTER_BIND = LOOPBACK
"""Where a Locust master listens for workers: loopback unless the user opens it."""

MASTER_PORT_FOR_EXTERNAL_WORKERS = 5557
"""Locust's own default port: what compose and Kubernetes workers dial (local children get a free port)."""

PROMETHEUS_BIND = LOOPBACK
"""Where the Locust master serves its client metrics for Prometheus (--prometheus-port; off unless given)."""

EXPECT_WORKERS_MAX_WAIT_S = 120.0
"""How long a sweep waits for the external workers it expects."""


def measuring_workers() -> int:
    """Locust worker processes of a measuring command (sweep, search): one per 4 cores, at least 1, so the
    load generator leaves most of a shared host's cores to the server it measures."""
    return max(1, (os.cpu_count() or 1) // 4)


def interactive_workers() -> int:
    """Local workers of `harness ui`: one per core, for the most load a machine can send while someone watches."""
    return os.cpu_count() or 1


# --- harness sweep -----------------------------------------------------------------------------------------------
SWEEP_WARMUP_S = 2.0
SWEEP_WINDOW_S = 2.0
SWEEP_MAX_WINDOWS = 6
SWEEP_STABILITY = 0.10
"""The last STABLE_WINDOWS windows (harness.analysis.capacity) must agree within this share."""
SWEEP_MAX_CONCURRENCY = 256
"""Upper bound of the closed-loop concurrency search (--concurrency auto)."""
SWEEP_RATE_START = "probe"
"""Where --rate auto starts (--rate-start): 'probe' is the rate a short closed-loop start probe served, else a rate."""

# --- harness search (the configuration search: shorter levels, several configurations) ---------------------------
SEARCH_WARMUP_S = 1.0
SEARCH_WINDOW_S = 1.0
SEARCH_MAX_WINDOWS = 6
SEARCH_MAX_CONCURRENCY = 64
SEARCH_KINDS = "cpu,gpu"
SEARCH_COUNTS = "1,2,4"
SEARCH_THREADS = "1,2"
SEARCH_MAX_BATCH_SIZES = "0,8,32"  # 0: the model's own, dynamic batching off
SEARCH_QUEUE_DELAYS_US = "off,500,2000"

# --- Locust (harness ui, plain `locust -f`) -------------------------------------------------------------------------
TRITON_GRPC_URL = f"{LOOPBACK}:8001"
"""Triton's own default gRPC endpoint: a locustfile's Host when none is given."""

LOCUST_MODEL = "mnist_cnn"
"""The model a plain `locust -f` run loads when none is given."""

# --- harness ui --------------------------------------------------------------------------------------------------
WEB_PORT = 8089
"""Locust's own web UI port."""

# --- harness plan ------------------------------------------------------------------------------------------------
PLAN_HEADROOM = 0.2
"""A fleet must carry the traffic's rate times (1 + this) within the SLO (20 % spare)."""


def cache_dir() -> Path:
    """The one cache folder of the harness (the compiled engine, perf_analyzer): $XDG_CACHE_HOME/triton-harness,
    ~/.cache/triton-harness where XDG_CACHE_HOME is unset or empty (as the XDG spec says)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "triton-harness"
