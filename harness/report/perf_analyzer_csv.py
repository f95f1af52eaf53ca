"""A saved run in perf_analyzer's `-f` CSV columns, so scripts written for perf_analyzer read it unchanged.

The columns and their order are those perf_analyzer writes with `-f FILE --verbose-csv` against Triton
(report_writer.cc; server statistics on, a model that is not decoupled, no response cache, no --percentile):

    Concurrency | Request Rate, Inferences/Second, Client Send, Network+Server Send/Recv, Server Queue,
    Server Compute Input, Server Compute Infer, Server Compute Output, Client Recv,
    p50 latency, p90 latency, p95 latency, p99 latency, Avg latency, request/response, response wait

Without --verbose-csv perf_analyzer stops after p99 latency: the first thirteen columns are the same, so a script
reading either form by name or by position reads this one. Values are written as perf_analyzer writes them: times
in whole microseconds (truncated), Inferences/Second and Request Rate as a C++ stream prints a double (6
significant digits), rows in increasing Inferences/Second. One file holds one curve, as one perf_analyzer run
measures one configuration.

What the harness does not measure stays empty, never invented: it times a request from send to response as one
figure, so Client Send, Client Recv and request/response (their sum) are empty, and the client's share of the time
is inside Network+Server Send/Recv (mean latency minus Triton's queue and compute, never below 0, as perf_analyzer
computes it) and response wait (the mean latency). Triton's times are its own statistics over the level's counted
windows, as perf_analyzer reads them; a server without statistics leaves them empty.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

from harness.analysis.capacity import curve_labels
from harness.record.model import Level, Run

CONCURRENCY = "Concurrency"
REQUEST_RATE = "Request Rate"
COLUMNS: tuple[str, ...] = (
    "Inferences/Second",
    "Client Send",
    "Network+Server Send/Recv",
    "Server Queue",
    "Server Compute Input",
    "Server Compute Infer",
    "Server Compute Output",
    "Client Recv",
    "p50 latency",
    "p90 latency",
    "p95 latency",
    "p99 latency",
    "Avg latency",
    "request/response",
    "response wait",
)
_LATENCY_PERCENTILES = ("p50", "p90", "p95", "p99")


@dataclass(frozen=True)
class CurveCsv:
    """One curve's levels of one mode, as perf_analyzer would have written them."""

    label: str  # the curve as reports name it ("cpu:2"); a mode suffix where one curve holds both modes
    text: str

    @property
    def file_part(self) -> str:
        """The label as a piece of a file name: letters, digits, '.', '_' and '-' only."""
        return re.sub(r"[^A-Za-z0-9._-]+", "_", self.label).strip("_") or "curve"


def curve_files(run: Run) -> list[CurveCsv]:
    """One perf_analyzer CSV per measured curve (and mode); skipped or empty curves have none."""
    files = []
    for _, curve, label in curve_labels([run]):
        modes = sorted({level.mode for level in curve.levels})
        for mode in modes:
            levels = [level for level in curve.levels if level.mode == mode]
            name = f"{label} {mode}" if len(modes) > 1 else label
            files.append(CurveCsv(name, perf_analyzer_csv(levels)))
    return files


def perf_analyzer_csv(levels: Sequence[Level]) -> str:
    """Levels of one mode in perf_analyzer's columns; the first column says which mode (Concurrency or Request Rate)."""
    closed_loop = levels[0].mode == "concurrency"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow((CONCURRENCY if closed_loop else REQUEST_RATE, *COLUMNS))
    for level in sorted(levels, key=lambda lv: lv.achieved_ips):  # stable: equal throughputs keep their order
        load = str(level.concurrency) if closed_loop else _double(level.offered_rps or 0.0)
        writer.writerow((load, *_cells(level)))
    return out.getvalue()


def _cells(level: Level) -> list[str]:
    latency, server = level.latency_ms, level.server_us
    mean_us = latency.mean * 1000.0
    if server is None:
        network, server_cells = "", ["", "", "", ""]
    else:
        accounted = server.queue + server.compute
        network = _micros(max(mean_us - accounted, 0.0))
        server_cells = [_micros(t) for t in (server.queue, server.compute_input, server.compute_infer, server.compute_output)]
    return [
        _double(level.achieved_ips),
        "",  # Client Send: not measured apart
        network,
        *server_cells,
        "",  # Client Recv: not measured apart
        *(_micros(latency.get(p) * 1000.0) for p in _LATENCY_PERCENTILES),
        _micros(mean_us),
        "",  # request/response = Client Send + Client Recv
        _micros(mean_us),  # response wait: send and receive are inside it
    ]


def _micros(value_us: float) -> str:
    """Whole microseconds, truncated as perf_analyzer's integer division by 1000 does (float noise removed first)."""
    return str(int(round(value_us, 3)))


def _double(value: float) -> str:
    """A double as a default C++ output stream prints it: 6 significant digits, no trailing zeros."""
    return f"{value:.6g}"
