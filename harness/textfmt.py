"""Numbers and tables written for people: the terminal tables and the sentences of reports share these."""

from __future__ import annotations

from collections.abc import Sequence

NONE = "-"


def fmt_num(value: float | None) -> str:
    """Three significant figures, but never scientific notation for large values: 812, 12.3, 0.456."""
    if value is None:
        return NONE
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def fmt_bound(value: float | None, reached: bool | None) -> str:
    """A capacity: 'at least 812' where it is a lower bound (reached is False: the highest load measured still met the
    SLO), else as fmt_num. One wording for summaries, reports, comparisons and verdicts."""
    return f"at least {fmt_num(value)}" if reached is False and value is not None else fmt_num(value)


def fmt_ratio(value: float | None) -> str:
    return NONE if value is None else f"{value:.2f}x"


def fmt_share(value: float | None) -> str:
    return NONE if value is None else f"{value * 100:.0f}%"


def fmt_cost(dollars: float | None) -> str:
    if dollars is None:
        return NONE
    return f"${dollars:.2f}" if dollars >= 0.1 else f"${dollars:.2g}"


def percentile_name(percentile: str) -> str:
    """The display form of a Latency field name: p999 -> p99.9."""
    return "p99.9" if percentile == "p999" else percentile


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain aligned columns: the first (a name) left-aligned, the others (figures) right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])
