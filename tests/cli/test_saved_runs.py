"""`harness compare` and `harness verdict` as commands: real subprocesses on saved run folders, no server.

The runs are built with the test factories and saved with the run store, so every expected figure below is worked
out by hand from the levels (SLO p99 <= 100 ms): a stable level counts with its merged figures, an unstable one on
its worst window (lowest throughput, highest p99), and the capacity is the highest of those within the SLO.
  cpu    cpu:1   c1 100 req/s p99 20, c2 180/40, c4 200/150 (over)          -> 180 req/s at concurrency 2
         gpu:1   skipped
  noisy  cpu:2   c1 150/20, c2 300/50 unstable, windows +-5 %: worst 285/52.5 -> 285 req/s, from an unstable level;
                 c4 400/90 unstable, windows +-20 %: worst p99 108 (over), so it does not count
  gpu    gpu:1   c1 300/5, c2 600/8, c4 900/30, c8 950/150                    -> 900 req/s at concurrency 4
The pages are read as HTML (tables, cells, the verdict banner), never as text that the embedded runs contain anyway.
"""

from __future__ import annotations

import json
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.errors import ConfigError, ResultsError
from harness.record.model import SCHEMA_VERSION
from harness.record.store import save_run
from helpers import factories as f
from helpers.processes import harness

pytestmark = pytest.mark.integration  # the harness command as a real process (no server needed)

SLO_TEXT = "p99 <= 100 ms"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three saved run folders (see the module docstring) and two that are not comparable."""
    root = tmp_path_factory.mktemp("saved")
    cpu = f.run(
        [
            f.curve("CPU", 1, f.sweep([(1, 100.0, 20.0), (2, 180.0, 40.0), (4, 200.0, 150.0)])),
            f.curve("GPU", 1, skipped="no GPU on this host"),
        ],
        label="cpu",
    )
    noisy = f.run(
        [
            f.curve(
                "CPU",
                2,
                (
                    f.level(1, 150.0, 20.0),
                    f.level(2, 300.0, 50.0, stable=False, spread=(-0.05, 0.0, 0.05)),
                    f.level(4, 400.0, 90.0, stable=False, spread=(-0.2, 0.0, 0.2)),
                ),
            )
        ],
        label="noisy",
    )
    gpu = f.run(
        [f.curve("GPU", 1, f.sweep([(1, 300.0, 5.0), (2, 600.0, 8.0), (4, 900.0, 30.0), (8, 950.0, 150.0)]))], label="gpu"
    )
    skipped = f.run([f.curve("GPU", 1, skipped="no GPU on this host")], label="skipped")
    folders = {"cpu": cpu, "noisy": noisy, "gpu": gpu, "skipped": skipped}
    paths = {}
    for name, run in folders.items():
        save_run(run, root / name)
        paths[name] = root / name
    future = json.loads((root / "cpu" / "run.json").read_text()) | {"schema_version": SCHEMA_VERSION + 1}
    (root / "future").mkdir()
    (root / "future" / "run.json").write_text(json.dumps(future))
    (root / "empty").mkdir()
    (root / "other.json").write_text('{"curves": []}')
    paths.update(future=root / "future", empty=root / "empty", other=root / "other.json", root=root)
    return paths


def one_line_error(result: subprocess.CompletedProcess[str], command: str, code: int) -> str:
    """The error a user reads: exactly one line on stderr, the command's prefix, the error class's exit code."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code and "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1 and lines[0].startswith(f"harness {command}: error: "), lines
    assert result.stdout == ""
    return lines[0]


# ---- verdict ----------------------------------------------------------------------------------------------------


def test_verdict_names_a_cpu_when_one_meets_the_target(runs: dict[str, Path]) -> None:
    result = harness("verdict", runs["cpu"], runs["gpu"], "--target-rps", 150, cwd=runs["root"])
    assert result.returncode == 0, result.stderr
    sentence = result.stdout.splitlines()[0]
    assert sentence == f"A GPU is not necessary: cpu cpu:1 sustains 180 req/s at {SLO_TEXT}, above the 150 req/s target."
    table = _text_rows(result.stdout)
    assert table["cpu cpu:1"][:3] == ["180", "yes", "1"]
    assert table["cpu gpu:1"][1].startswith("skipped: no GPU")
    assert table["gpu gpu:1"][:3] == ["900", "yes", "1"]


def test_verdict_says_a_gpu_is_needed_when_no_cpu_reaches_the_target(runs: dict[str, Path]) -> None:
    result = harness("verdict", runs["cpu"], runs["gpu"], "--target-rps", 500, "--cost", "cpu:1=0.2,gpu:1=2", cwd=runs["root"])
    assert result.returncode == 0, result.stderr
    sentence = result.stdout.splitlines()[0]
    # 1 replica of gpu:1 at $2/h for 500 req/s: 2 / (500 * 3600) * 1e6 = $1.11 per million requests
    assert sentence == (
        f"A GPU is necessary: no CPU configuration reaches 500 req/s at {SLO_TEXT} (best: cpu cpu:1 at "
        "180 req/s); gpu gpu:1 sustains 900 req/s, at $1.11 per million requests."
    )
    table = _text_rows(result.stdout)
    assert table["cpu cpu:1"][:3] == ["180", "no", "3"]  # ceil(500 / 180) replicas


def test_verdict_on_an_unstable_capacity_says_so_and_how_to_measure_better(runs: dict[str, Path]) -> None:
    result = harness("verdict", runs["noisy"], runs["gpu"], "--target-rps", 250, cwd=runs["root"])
    assert result.returncode == 0, result.stderr
    sentence = result.stdout.splitlines()[0]
    assert sentence.startswith(
        f"A GPU is not necessary: noisy cpu:2 sustains 285 req/s (from unstable levels) at "
        f"{SLO_TEXT}, above the 250 req/s target. Caveat: noisy cpu:2 measured from unstable "
        "levels (judged on their worst windows); for stable levels measure longer: --window "
    )
    assert _text_rows(result.stdout)["noisy cpu:2"][:2] == ["285 (unstable)", "yes"]


def test_verdict_names_the_closest_when_nothing_meets_the_target(runs: dict[str, Path]) -> None:
    result = harness("verdict", runs["cpu"], runs["gpu"], "--target-rps", 1000, "--slo", "p99=100ms", cwd=runs["root"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == (
        f"No measured configuration meets 1000 req/s at {SLO_TEXT}; the closest "
        "is gpu gpu:1 at 900 req/s (would need 2 replicas, estimate)."
    )


def test_a_tighter_slo_recomputes_the_capacity_from_the_levels(runs: dict[str, Path]) -> None:
    """p99 <= 30 ms: cpu:1 only at c1 (100 req/s, p99 20); gpu:1 still at c4 (900, p99 30 is within)."""
    result = harness("verdict", runs["cpu"], runs["gpu"], "--target-rps", 150, "--slo", "p99=30ms", cwd=runs["root"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == (
        "A GPU is necessary: no CPU configuration reaches 150 req/s at "
        "p99 <= 30 ms (best: cpu cpu:1 at 100 req/s); gpu gpu:1 sustains "
        "900 req/s."
    )


@pytest.mark.parametrize(
    ("case", "code", "says"),
    [
        ("missing", ResultsError.exit_code, "no such file or folder; give a run folder, run.json or report.html"),
        ("empty", ResultsError.exit_code, "folder has no run.json; give a run folder written by the harness"),
        ("other", ResultsError.exit_code, "not a harness run (no schema_version)"),
        ("future", ResultsError.exit_code, f"schema_version {SCHEMA_VERSION + 1} is newer than this harness reads"),
        ("skipped", ResultsError.exit_code, "the runs hold no measured configuration (all skipped or empty)"),
        ("bad cost", ConfigError.exit_code, "--cost 'cpu:1'"),
        ("zero target", ConfigError.exit_code, "target throughput 0.0 must be a positive number"),
    ],
)
def test_verdict_bad_input_is_one_line(case: str, code: int, says: str, runs: dict[str, Path]) -> None:
    args: list[object] = {
        "missing": [runs["root"] / "nowhere"],
        "empty": [runs["empty"]],
        "other": [runs["other"]],
        "future": [runs["future"]],
        "skipped": [runs["skipped"]],
        "bad cost": [runs["cpu"], "--cost", "cpu:1"],
        "zero target": [runs["cpu"]],
    }[case]
    target = "0" if case == "zero target" else "100"
    line = one_line_error(harness("verdict", *args, "--target-rps", target, cwd=runs["root"]), "verdict", code)
    assert says in line, line


# ---- compare ----------------------------------------------------------------------------------------------------


def test_compare_writes_a_page_with_the_table_the_verdict_and_every_curve(runs: dict[str, Path]) -> None:
    page = runs["root"] / "pages" / "compare.html"
    page.parent.mkdir(exist_ok=True)
    result = harness("compare", runs["cpu"], runs["noisy"], runs["gpu"], "-o", page, "--target-rps", 250, cwd=runs["root"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith(f"compare page: {page}")
    html = Page.parse(page)
    sentence = result.stdout.splitlines()[0]
    assert sentence.startswith("A GPU is not necessary: noisy cpu:2 sustains 285 req/s (from unstable levels)")
    assert html.classes["banner verdict"] == [sentence]
    comparison = html.table_after("Comparison")
    assert comparison[0][:3] == ["curve", "capacity req/s", "at"]
    rows = {r[0]: r for r in comparison[1:]}
    assert list(rows) == ["cpu cpu:1", "noisy cpu:2", "gpu gpu:1"]  # the skipped gpu:1 of cpu is no curve
    assert [rows[k][1] for k in rows] == ["180", "285", "900"]
    assert rows["cpu cpu:1"][2:4] == ["concurrency 2", "baseline"]
    assert rows["noisy cpu:2"][2] == "concurrency 2 (from an unstable level)"
    assert rows["gpu gpu:1"][3].startswith("5.00")  # 900 / 180
    verdict = {r[0]: r for r in html.table_after("Verdict per configuration")[1:]}
    assert verdict["noisy cpu:2"][1:3] == ["285 (unstable)", "yes"]
    assert verdict["cpu cpu:1"][2] == "no" and verdict["cpu gpu:1"][2].startswith("skipped: ")
    assert "cpu resnet gpu:1: skipped: no GPU on this host" in html.items
    assert html.headings[:1] == ["Comparison of 3 runs"]


def test_compare_baseline_flag_sets_the_ratios(runs: dict[str, Path]) -> None:
    page = runs["root"] / "b2.html"
    result = harness("compare", runs["cpu"], runs["gpu"], "--baseline", 2, "-o", page, cwd=runs["root"])
    assert result.returncode == 0, result.stderr
    rows = {r[0]: r for r in Page.parse(page).table_after("Comparison")[1:]}
    assert rows["gpu gpu:1"][3] == "baseline"
    assert rows["cpu cpu:1"][3].startswith("0.20")  # 180 / 900
    assert "Verdict per configuration" not in Page.parse(page).headings  # no --target-rps, no verdict
    printed = _text_rows(result.stdout)  # the terminal's table says the same
    assert printed["gpu gpu:1"][2] == "baseline" and printed["cpu cpu:1"][2].startswith("0.20")


@pytest.mark.parametrize(
    ("case", "code", "says"),
    [
        ("missing", ResultsError.exit_code, "no such file or folder"),
        ("empty", ResultsError.exit_code, "folder has no run.json"),
        ("other", ResultsError.exit_code, "not a harness run (no schema_version)"),
        ("baseline out of range", ConfigError.exit_code, "--baseline 3: give a number between 1 and 2"),
        ("baseline not measured", ConfigError.exit_code, "baseline run skipped has no measured curve; choose another"),
    ],
)
def test_compare_bad_input_is_one_line_and_writes_no_page(case: str, code: int, says: str, runs: dict[str, Path]) -> None:
    args: list[object] = {
        "missing": [runs["cpu"], runs["root"] / "nowhere"],
        "empty": [runs["cpu"], runs["empty"]],
        "other": [runs["other"], runs["cpu"]],
        "baseline out of range": [runs["cpu"], runs["gpu"], "--baseline", 3],
        "baseline not measured": [runs["skipped"], runs["cpu"]],
    }[case]
    page = runs["root"] / f"{case.replace(' ', '-')}.html"
    line = one_line_error(harness("compare", *args, "-o", page, cwd=runs["root"]), "compare", code)
    assert says in line, line
    assert not page.exists()


# ---- reading what was printed and written -----------------------------------------------------------------------


def _text_rows(stdout: str) -> dict[str, list[str]]:
    """The first terminal table's rows keyed by their first cell: the lines after the dashed rule, up to a blank
    line; cells are separated by two or more spaces."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line and set(line) <= {"-", " "}) + 1
    rows = {}
    for line in lines[start:]:
        if not line.strip():
            break
        cells = [c.strip() for c in line.split("  ") if c.strip()]
        rows[cells[0]] = cells[1:]
    return rows


class Page(HTMLParser):
    """The rendered elements of a page: headings, list items, tables (rows of cell texts), texts by class.
    Script and style contents (the embedded runs, plotly) are skipped: only what a reader sees counts."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.items: list[str] = []
        self.classes: dict[str, list[str]] = {}
        self.tables: list[tuple[str, list[list[str]]]] = []  # (the heading before it, rows)
        self._open: list[tuple[str, str, list[str]]] = []  # (tag, class, text parts) of the elements being read
        self._row: list[str] | None = None
        self._skip = 0

    @classmethod
    def parse(cls, path: Path) -> Page:
        page = cls()
        page.feed(path.read_text())
        return page

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "table":
            self.tables.append((self.headings[-1] if self.headings else "", []))
        elif tag == "tr":
            self._row = []
        elif tag in ("h1", "h2", "li", "td", "th", "p"):
            self._open.append((tag, dict(attrs).get("class") or "", []))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1
        elif tag == "tr" and self._row is not None:
            self.tables[-1][1].append(self._row)
            self._row = None
        elif self._open and self._open[-1][0] == tag:
            _, css, parts = self._open.pop()
            text = "".join(parts).strip()
            if tag in ("h1", "h2"):
                self.headings.append(text)
            elif tag == "li":
                self.items.append(text)
            elif tag in ("td", "th") and self._row is not None:
                self._row.append(text)
            if css:
                self.classes.setdefault(css, []).append(text)

    def handle_data(self, data: str) -> None:
        if not self._skip and self._open:
            self._open[-1][2].append(data)

    def table_after(self, heading: str) -> list[list[str]]:
        """The first table under the heading."""
        return next(rows for before, rows in self.tables if before == heading)


def test_verdict_judges_each_model_of_a_mix_by_the_slo_it_is_given(tmp_path: Path) -> None:
    """b's recorded p99 <= 30 ms caps the mix at concurrency 4 (325 req/s); asked with b:p99=50ms, b's 45 ms at
    concurrency 8 passes and the mix sustains 540 req/s; asked with b:p99=15ms, b's 20 ms fails the first level."""
    save_run(f.mix_run(), tmp_path / "mix")
    recorded = harness("verdict", tmp_path / "mix", "--target-rps", 500)
    looser = harness("verdict", tmp_path / "mix", "--target-rps", 500, "--slo", "b:p99=50ms")
    tighter = harness("verdict", tmp_path / "mix", "--target-rps", 500, "--slo", "a:p99=100ms,b:p99=15ms")
    assert recorded.returncode == looser.returncode == tighter.returncode == 0, (recorded.stderr, looser.stderr)
    key = "a=3,b=1 cpu:1"
    assert _text_rows(recorded.stdout)[key][:2] == ["325", "no"]
    assert _text_rows(looser.stdout)[key][:2] == ["at least 540", "yes"]
    assert f"{key}: judged within each model's SLO (a: p99 <= 100 ms, b: p99 <= 50 ms)" in looser.stdout
    assert _text_rows(tighter.stdout)[key][1] == "no" and "b: p99 <= 15 ms" in tighter.stdout
    unknown = harness("verdict", tmp_path / "mix", "--target-rps", 500, "--slo", "c:p99=50ms")
    assert unknown.returncode != 0 and "c is not a model of this run (a, b)" in unknown.stderr.strip().splitlines()[-1]
