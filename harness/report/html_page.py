"""Pieces shared by the run report and the compare page: the page skeleton and its CSS, tables, banners,
collapsible blocks, and figures turned into divs. Everything returned is an HTML string; cells are escaped."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # figures are built in harness.report.charts; only their to_html method is used here
    from plotly.graph_objects import Figure

# Plain, readable, offline: system fonts only, nothing fetched.
CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       max-width: 1280px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 1.5em; margin: 0.2em 0 0.1em; }
h2 { font-size: 1.2em; margin: 1.6em 0 0.4em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
p.sub { color: #555; margin-top: 0; }
ul.capacity { padding-left: 1.2em; margin: 0.4em 0; }
ul.capacity li { margin: 0.15em 0; }
.banner { padding: 0.6em 0.9em; border-radius: 4px; margin: 0.8em 0; }
.banner.warn { background: #fff4d6; border: 1px solid #e6b800; }
.banner.info { background: #eef4fb; border: 1px solid #9dbbe0; }
.banner.verdict { background: #e9f6ec; border: 1px solid #7cbf8c; font-size: 1.1em; font-weight: 600; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; vertical-align: top; }
th { background: #f4f4f4; }
th:first-child, td:first-child { text-align: left; }
table.kv td, table.text td, table.text th { text-align: left; }
table.kv td:first-child { color: #555; white-space: nowrap; }
details { margin: 0.3em 0; }
summary { cursor: pointer; color: #1a5fb4; }
pre { background: #f7f7f7; padding: 8px; overflow-x: auto; font-size: 12px; max-height: 480px; }
.figure { margin: 0.2em 0 0.8em; }
"""


def esc(text: object) -> str:
    return html.escape(str(text))


def page(title: str, sections: Sequence[str]) -> str:
    """A complete, self-contained HTML document."""
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], css_class: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    attr = f' class="{css_class}"' if css_class else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def key_value_table(pairs: Sequence[tuple[str, object]]) -> str:
    body = "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in pairs)
    return f'<table class="kv"><tbody>{body}</tbody></table>'


def banner(text: str, kind: str = "info") -> str:
    """A highlighted paragraph; kind is warn, info or verdict."""
    return f'<p class="banner {kind}">{esc(text)}</p>'


def details(summary: str, inner_html: str) -> str:
    return f"<details><summary>{esc(summary)}</summary>{inner_html}</details>"


def preformatted(text: str) -> str:
    return f"<pre>{esc(text)}</pre>"


FIGURE_DIV = '<div class="figure">'


def figure_sections(figures: Sequence[tuple[str, Figure]], plotlyjs: bool = True) -> list[str]:
    """A heading and a div per figure; plotly.js is inlined once, with the first, so the page opens offline
    (plotlyjs=False: the page already carries it, see has_figures)."""
    config = {"displaylogo": False, "responsive": True}
    return [
        f"<h2>{esc(heading)}</h2>\n{FIGURE_DIV}"
        + fig.to_html(full_html=False, include_plotlyjs=plotlyjs and i == 0, config=config)
        + "</div>"
        for i, (heading, fig) in enumerate(figures)
    ]


def has_figures(sections: Sequence[str]) -> bool:
    """Whether sections already hold a figure (and with it plotly.js, 3.5 MB not worth inlining twice)."""
    return any(FIGURE_DIV in section for section in sections)
