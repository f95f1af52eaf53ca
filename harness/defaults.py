"""Defaults that several rooms share, written once: the Locust options, the sweep's driver and its spec read them here.

A default that only one module uses stays in that module; one that a flag, a dataclass and a command line all
repeat lives here, so changing it changes every place at once.
"""

from __future__ import annotations

import os
from pathlib import Path

MAX_IN_FLIGHT = 1000
"""Open loop: sends beyond this many outstanding requests per load-generator process are dropped (and counted)."""

REPORT_INTERVAL_S = 1.0
"""Seconds between a Locust worker's histogram reports in a plain Locust run (`harness ui`, `locust -f`)."""

SWEEP_REPORT_INTERVAL_S = 0.5
"""The same for sweeps: their windows are a few seconds long, so workers report twice as often."""

SATURATION_CPU_PERCENT = 90.0
"""A load-generator process above this CPU percent is saturated: its levels are flagged, the web UI warns."""

REQUEST_TIMEOUT_S = 30.0
"""Seconds before a request counts as failed."""


def cache_dir() -> Path:
    """The one cache folder of the harness (the compiled engine, perf_analyzer): $XDG_CACHE_HOME/triton-harness,
    ~/.cache/triton-harness where XDG_CACHE_HOME is unset or empty (as the XDG spec says)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "triton-harness"
