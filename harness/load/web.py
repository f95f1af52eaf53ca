"""Exact-percentile pages added to Locust's web UI: /latency (a table, refreshing) and /latency.json."""

from __future__ import annotations

import html
from typing import Any, Callable

from flask import Flask, jsonify

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
<title>Exact latency - harness</title><style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:.3em .8em;text-align:right}} th{{background:#f3f3f3}}
.warn{{color:#b00;font-weight:bold}}</style></head><body>
<h1>Exact latency: {model}</h1>
<p>Merged from every worker's high-resolution histogram (microsecond resolution); percentiles are never
averaged across workers. Refreshes every 2 s. <a href="./">Back to Locust</a> &middot;
<a href="latency.json">JSON</a></p>
<table id="latency"><tr><th>requests</th><th>failures</th><th>p50 ms</th><th>p90 ms</th><th>p95 ms</th>
<th>p99 ms</th><th>p99.9 ms</th><th>mean ms</th><th>max ms</th></tr>
<tr><td id="requests">{requests}</td><td>{failures}</td>{percentiles}</tr></table>
<h2>Load generators</h2><table id="workers"><tr><th>worker</th><th>requests</th><th>CPU %</th><th>late sends</th>
<th>dropped</th><th>status</th></tr>{workers}</table></body></html>"""


def register_latency_pages(app: Flask, document: Callable[[], dict[str, Any]]) -> None:
    app.add_url_rule("/latency.json", "harness_latency_json", lambda: jsonify(document()))
    app.add_url_rule("/latency", "harness_latency", lambda: render_page(document()))


def render_page(doc: dict[str, Any]) -> str:
    latency = doc["latency_ms"]
    cells = "".join(f"<td>{latency[k]:.3f}</td>" for k in ("p50", "p90", "p95", "p99", "p999", "mean", "max"))
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{w['requests']}</td><td>{w['cpu_percent']:.0f}</td>"
        f"<td>{w['late_sends']}</td><td>{w['dropped']}</td><td class=\"{'warn' if w['saturated'] else ''}\">"
        f"{'CPU-bound: the client may be the bottleneck' if w['saturated'] else 'ok'}</td></tr>"
        for name, w in doc["workers"].items()
    )
    return _PAGE.format(model=html.escape(str(doc.get("model"))), requests=doc["requests"],
                        failures=doc["failures"], percentiles=cells, workers=rows)
