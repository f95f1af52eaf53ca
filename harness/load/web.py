"""The harness's tab in Locust's own web UI: exact percentiles, per-worker health, a live chart of exact p50/p99.

Built on Locust's extension points rather than a page of our own: the template args `extended_tabs` and
`extended_tables` declare the tab and its table, whose rows ride along in /stats/requests as `extended_stats`
(Locust's frontend polls it every two seconds). Locust's tables show text only, so a small script
(latency_chart.js, added to Locust's index page) draws the chart inside the tab from /latency.json. Also here,
because they shape the same start form: which user class is ticked by default, and the refusal of a start that
would run an open-loop user without a target rate (the form shows the message).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from flask import Response, jsonify, redirect, request
from jinja2 import ChoiceLoader, DictLoader
from locust.html import DEFAULT_BUILD_PATH
from locust.web import WebUI

from harness.load.histogram import LatencyHistogram

TAB_KEY = "harness"
TAB_TITLE = "Exact latency"
CHART_SCRIPT = Path(__file__).with_name("latency_chart.js")
TIMELINE_POINTS = 900  # 15 minutes at one point a second; older points scroll off the chart
_COLUMNS = [
    ("source", "Source"),
    ("requests", "Requests"),
    ("failures", "Failures"),
    ("p50", "p50 ms"),
    ("p90", "p90 ms"),
    ("p99", "p99 ms"),
    ("p999", "p99.9 ms"),
    ("max", "max ms"),
    ("cpu", "CPU %"),
    ("late", "Late sends"),
    ("dropped", "Dropped"),
    ("status", "Status"),
]


@dataclass(frozen=True)
class TimelinePoint:
    t: float  # wall-clock end of the interval
    p50: float  # exact, from the interval's merged histogram, in ms
    p99: float
    requests: int


class LatencyTimeline:
    """Exact p50/p99 per report interval, for the live chart: each point is one interval's merged histogram."""

    def __init__(self, capacity: int = TIMELINE_POINTS) -> None:
        self._points: deque[TimelinePoint] = deque(maxlen=capacity)

    def clear(self) -> None:
        self._points.clear()

    def add(self, hist: LatencyHistogram, t: float | None = None) -> None:
        if hist.count:
            self._points.append(
                TimelinePoint(t if t is not None else time.time(), hist.percentile_ms(50), hist.percentile_ms(99), hist.count)
            )

    def as_list(self) -> list[dict[str, float]]:
        return [asdict(point) for point in self._points]


def register_latency_tab(web_ui: WebUI, document: Callable[[], dict[str, Any]]) -> None:
    """The tab, its table fed through /stats/requests, the chart script, and /latency.json for scripts."""
    web_ui.template_args["extended_tabs"] = [{"title": TAB_TITLE, "key": TAB_KEY}]
    web_ui.template_args["extended_tables"] = [
        {"key": TAB_KEY, "structure": [{"key": key, "title": title} for key, title in _COLUMNS]}
    ]
    app = web_ui.app
    app.jinja_env.loader = ChoiceLoader([DictLoader({"index.html": _index_with_chart()}), app.jinja_env.loader])

    @app.after_request
    def _add_rows(response: Response) -> Response:
        if request.endpoint == "locust.request_stats" and response.is_json:
            body = response.get_json()
            body["extended_stats"] = [{"key": TAB_KEY, "data": latency_rows(document())}]
            response.set_data(app.json.dumps(body))
        return response

    app.add_url_rule("/latency.json", "harness_latency_json", web_ui.auth_required_if_enabled(lambda: jsonify(document())))
    app.add_url_rule(
        "/latency-chart.js",
        "harness_latency_chart",
        lambda: Response(CHART_SCRIPT.read_text(), mimetype="application/javascript"),
    )
    app.add_url_rule("/latency", "harness_latency", lambda: redirect(f"./?tab={TAB_KEY}"))  # the old page's address


def _index_with_chart() -> str:
    """Locust's own index page with the chart script added (its bundle's hashed name stays whatever it is)."""
    page = (Path(DEFAULT_BUILD_PATH) / "index.html").read_text()
    return page.replace("</body>", '<script src="./latency-chart.js"></script>\n</body>', 1)


def latency_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The tab's table: the merged figures first, then one health row per load-generator process."""
    latency = doc["latency_ms"]
    workers = doc["workers"].values()
    merged = {
        "source": "all (merged)",
        "requests": doc["requests"],
        "failures": doc["failures"],
        **{key: f"{latency[key]:.3f}" for key in ("p50", "p90", "p99", "p999", "max")},
        "cpu": f"{max((w['cpu_percent'] for w in workers), default=0.0):.0f}",
        "late": sum(w["late_sends"] for w in workers),
        "dropped": sum(w["dropped"] for w in workers),
        "status": _status(doc["client_saturated"]),
    }
    return [
        merged,
        *(
            {
                "source": name,
                "requests": w["requests"],
                "failures": w["failures"],
                **dict.fromkeys(("p50", "p90", "p99", "p999", "max"), ""),
                "cpu": f"{w['cpu_percent']:.0f}",
                "late": w["late_sends"],
                "dropped": w["dropped"],
                "status": _status(w["saturated"]),
            }
            for name, w in doc["workers"].items()
        ),
    ]


def _status(saturated: bool) -> str:
    return "CPU-bound: the client may be the bottleneck" if saturated else "ok"


def tick_by_default(web_ui: WebUI, default_classes: Callable[[list[str]], list[str]]) -> None:
    """Which classes the class picker ticks at first: Locust ticks `available_user_classes`, lists `users`."""
    update = web_ui.update_template_args

    def update_then_narrow() -> None:
        update()
        available = web_ui.template_args.get("available_user_classes")
        if available:
            web_ui.template_args["available_user_classes"] = default_classes(available)

    # Locust calls this method on every page load and offers no hook around it: replaced on this one instance.
    web_ui.update_template_args = update_then_narrow  # type: ignore[method-assign]


def guard_start(web_ui: WebUI, refusal: Callable[[list[str], dict[str, str]], str | None]) -> None:
    """Refuse a start-form submission `refusal` objects to, with its message, before Locust starts any user."""
    environment = web_ui.environment

    @web_ui.app.before_request
    def _check() -> Response | None:
        if request.endpoint != "locust.swarm" or request.method != "POST":
            return None
        if web_ui.userclass_picker_is_active:
            chosen = request.form.getlist("user_classes") or sorted(environment.available_user_classes or {})
        else:
            chosen = [cls.__name__ for cls in environment.user_classes]
        message = refusal(chosen, request.form.to_dict())
        if message is None:
            return None
        return jsonify({"success": False, "message": message, "host": environment.host})
