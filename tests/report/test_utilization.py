"""The utilisation-vs-throughput figure and the 'what saturated' line of the run report (no browser needed)."""

from __future__ import annotations

from harness.report import charts
from harness.report.run_page import render_report, run_series
from helpers.factories import curve, level, run


def _run_with_evidence():  # type: ignore[no-untyped-def]
    cpu = curve(
        "CPU",
        2,
        [
            level(1, 400.0, 5.0, server_cpu_cores=0.9, server_memory_mb=800.0),
            level(4, 1900.0, 30.0, server_cpu_cores=1.98, server_memory_mb=810.0),
        ],
    )
    gpu = curve("GPU", 1, [level(4, 3000.0, 8.0, server_cpu_cores=0.7, gpu_utilization=0.5, power_w=90.0)])
    return run([cpu, gpu])


def test_one_panel_per_exposed_figure_and_a_line_per_curve() -> None:
    fig = charts.utilization_figure(run_series(_run_with_evidence()), host_cores=2)
    assert fig is not None
    titles = [a.text for a in fig.layout.annotations]
    assert titles[:3] == ["server CPU (cores)", "GPU utilisation (%)", "GPU power (W)"]
    assert "host: 2 cores" in titles
    cpu_traces = [t for t in fig.data if t.yaxis == "y"]
    assert [(t.name, list(t.x), list(t.y)) for t in cpu_traces] == [
        ("cpu:2", [400.0, 1900.0], [0.9, 1.98]),
        ("gpu:1", [3000.0], [0.7]),
    ]
    gpu_traces = [t for t in fig.data if t.yaxis == "y2"]
    assert [(t.name, list(t.y)) for t in gpu_traces] == [("cpu:2", []), ("gpu:1", [50.0])]


def test_no_evidence_no_figure() -> None:
    plain = run([curve("CPU", 1, [level(1, 100.0, 5.0)])])
    assert charts.utilization_figure(run_series(plain), host_cores=2) is None
    assert "<h2>Server utilisation vs throughput</h2>" not in render_report(plain)


def test_report_draws_the_figure_and_names_what_saturated() -> None:
    page = render_report(_run_with_evidence())
    assert "<h2>Server utilisation vs throughput</h2>" in page
    assert (
        "<li>cpu:2 reaches 1,900 req/s with the server at 1.98 of 2 cores: CPU-bound (read at the capacity level, "
        "concurrency 4)</li>"
    ) in page
