"""The single-request latency table of a `harness latency` run: the same cells on the terminal and in the report."""

from __future__ import annotations

from collections.abc import Sequence

from harness.record.model import LatencyRow, Run
from harness.report import charts, html_page
from harness.textfmt import NONE, fmt_num

HEADERS = (
    "model",
    "variant",
    "precision",
    "path",
    "device",
    "batch",
    "n",
    "median ms",
    "p90 ms",
    "min ms",
    "max ms",
    "agreement",
    "note",
)


def latency_cells(row: LatencyRow) -> list[str]:
    figures = [row.median_ms, row.p90_ms, row.min_ms, row.max_ms]
    return [
        row.model,
        row.variant or NONE,
        row.precision,
        row.path,
        row.device,
        str(row.batch_size),
        str(row.calls) if row.calls else NONE,
        *(fmt_num(v) if v is not None else NONE for v in figures),
        row.agreement or NONE,
        row.skipped_reason or "",
    ]


def latency_sections(run: Run) -> list[str]:
    """Heading, plot and table; nothing for a run without latency rows."""
    if not run.latency:
        return []
    sections = html_page.figure_sections([("Single-request latency by batch size", charts.latency_by_batch(run.latency))])
    sections.append(html_page.table(HEADERS, [latency_cells(row) for row in run.latency], css_class="latency"))
    return sections


def measured(rows: Sequence[LatencyRow]) -> list[LatencyRow]:
    return [row for row in rows if row.median_ms is not None]
