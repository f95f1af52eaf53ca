#!/usr/bin/env python3
"""Mutation testing of the pure rules with mutmut: how many deliberately broken versions the unit tests catch.

A test suite is trusted only if it fails on broken code (tests/README.md). mutmut breaks the rules' code one
small change at a time (a flipped comparison, a changed constant, a dropped condition) and runs the unit tests
on each; a mutant the tests still pass on "survived". This prints, per module, the share of mutants killed.
Target: 85 % or more in each module. Minutes, not seconds: kept out of CI's time budget.

    python3 scripts/mutation.py                     every module below; the score table at the end
    python3 scripts/mutation.py --module compare    one module (a name from MODULES)
    python3 scripts/mutation.py --survivors         also print each surviving mutant's diff

mutmut and its own dependencies (scripts/mutation-requirements.txt, pinned) go into .venv-mutation, which sees
the project's .venv for everything else (pytest included); mutmut runs on a copy of harness/ and tests/ in a
temporary folder, so nothing here touches the checkout.

Surviving mutants that are equivalent (no test can tell them apart from the original) are listed in EQUIVALENT
below with the reason, and reported under the table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOL_VENV = ROOT / ".venv-mutation"
PROJECT_VENV = ROOT / ".venv"
REQUIREMENTS = ROOT / "scripts" / "mutation-requirements.txt"
TARGET = 0.85
# Statements raising a HarnessError are not mutated: their wording is prose (the CLI tests pin what users read);
# the condition that raises them is on another line and is mutated like any rule.
NOT_MUTATED = r"^\s*raise [A-Za-z]+\("
KILLED = {1, 3, 36, 24, -24, 152, 255}  # mutmut's exit codes: tests failed, or timed out
SURVIVED = {0, 5, 33}  # tests passed, or none covered the mutant

# module name -> (source file, the unit tests that guard it)
MODULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "sweep rules": ("harness/sweep/rules.py", ("tests/sweep",)),
    "compare": ("harness/analysis/compare.py", ("tests/analysis",)),
    "verdict": ("harness/analysis/verdict.py", ("tests/analysis",)),
    "aggregate": ("harness/load/aggregate.py", ("tests/load/test_aggregate.py", "tests/load/test_histogram_merge_rules.py")),
    "histogram": ("harness/load/histogram.py", ("tests/load/test_aggregate.py", "tests/load/test_histogram_merge_rules.py")),
    "capacity": ("harness/analysis/capacity.py", ("tests/analysis", "tests/sweep")),
    "config search": (
        "harness/sweep/configuration_search.py",
        ("tests/sweep/test_configuration_search.py", "tests/sweep/test_configuration_search_mutants.py"),
    ),
    "level checks": ("harness/sweep/checks.py", ("tests/sweep",)),
}
OPTIONAL: dict[str, tuple[str, tuple[str, ...]]] = {}  # modules scored only where their file exists

# Surviving mutants no test can kill because they do not change behaviour: module -> [(mutant, why)]. They are
# left out of the adjusted score; every other survivor is a gap to close with a test.
EQUIVALENT: dict[str, list[tuple[str, str]]] = {
    "histogram": [
        ("encode: .decode('ascii') -> .decode('ASCII')", "codec names are case-insensitive"),
        ("add_encoded: .encode('ascii') -> .encode('ASCII')", "codec names are case-insensitive"),
        ("percentile_ms: `if self.count` -> `if self.count or True`", "an empty HdrHistogram answers 0 anyway"),
        ("summary: the empty Latency without min=0.0", "0.0 is Latency.min's default"),
    ],
    "compare": [
        ("latency_at: `x0 < rps` -> `x0 <= rps`", "x0 == rps has returned on the line above"),
        ("latency_at: `rps <= x1` -> `rps < x1`", "rps == x1 is answered at the next point with the same value"),
        ("_welch_differs: `>` -> `>=` the critical t", "a statistic exactly at a tabled critical value"),
        *[
            (
                f"_stats: `return _Stats(capacity, unstable, level, None, None)` mutant {n}",
                "unreachable from comparison_rows: the baseline's measured curve gives a common throughput",
            )
            for n in range(1, 9)
        ],
        *[
            (f"config_diff: zip(..., strict=True) mutant {n}", "runs and their keyed curves always have equal lengths")
            for n in range(1, 4)
        ],
        ("config_diff: absence_differs=False -> None", "both falsy"),
        *[
            (f"_row: _noise_note(..., 'p99') -> {other!r}", "differs_significantly reads every metric but 'rps' as p99")
            for other in (None, "XXp99XX", "P99")
        ],
    ],
    "capacity": [
        ("slo_evidence: `> 1.0 - ALPHA` -> `>=`", "a binomial probability exactly at 0.95"),
        ("slo_evidence: `< ALPHA` -> `<=`", "a binomial probability exactly at 0.05"),
    ],
    "config search": [
        (
            "_candidate: `delay if mbs else None` -> `if mbs or True`",
            "no caller passes a delay without a batch size: all() skips those, start() gives None",
        ),
        ("start: `delay if max_batch_sizes[0] else None` -> `if ... or True`", "_candidate drops a delay without a batch size"),
    ],
    "verdict": [
        ("_highest: `r.capacity_rps or 0.0` -> `or 1.0`", "only ever given rows that have a capacity"),
    ],
}


def ensure_tool_venv() -> Path:
    """.venv-mutation with mutmut (pinned, --no-deps), seeing the project's .venv through a .pth file."""
    python = TOOL_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(TOOL_VENV)], check=True)
    purelib = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    project_lib = _project_purelib()
    (purelib / "project-venv.pth").write_text(f"{project_lib}\n")
    stamp = TOOL_VENV / ".installed"
    if not stamp.exists() or REQUIREMENTS.stat().st_mtime > stamp.stat().st_mtime:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "-r", str(REQUIREMENTS)], check=True)
        stamp.touch()
    return TOOL_VENV / "bin" / "mutmut"


def _project_purelib() -> str:
    python = PROJECT_VENV / "bin" / "python"
    if not python.exists():
        return sysconfig.get_paths()["purelib"]
    return subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def prepare_copy(work: Path, source: str, tests: tuple[str, ...]) -> None:
    for name in ("harness", "tests", "model_repository", "docs", "loadtests"):
        shutil.copytree(ROOT / name, work / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, work / name)
    selection = ", ".join(json.dumps(t) for t in tests)
    with open(work / "pyproject.toml", "a") as config:
        config.write(f"""
[tool.mutmut]
source_paths = ["harness"]
also_copy = ["docs", "loadtests", "model_repository"]
only_mutate = [{json.dumps(source)}]
pytest_add_cli_args_test_selection = [{selection}]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-m", "not integration and not browser", "-q"]
do_not_mutate_patterns = [{json.dumps(NOT_MUTATED)}]
""")


def run_module(mutmut: Path, source: str, tests: tuple[str, ...], survivors: bool) -> dict[str, int]:
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        work = Path(tmp)
        prepare_copy(work, source, tests)
        env = {**os.environ, "PYTHONPATH": f"{work}:{work / 'tests'}"}
        run = subprocess.run(
            [str(mutmut), "run", "--max-children", str(max(1, (os.cpu_count() or 2) // 2))],
            cwd=work,
            env=env,
            check=False,
            capture_output=True,
            text=True,
        )
        counts = score(work / "mutants" / (source + ".meta"))
        if counts["killed"] + counts["survived"] == 0:  # mutmut did not get to run the mutants: say why
            print(
                f"  mutmut judged no mutant (exit {run.returncode}); its output ends:\n{(run.stdout + run.stderr)[-3000:]}",
                flush=True,
            )
        if survivors:
            show_survivors(mutmut, work, env)
    return counts


def score(meta: Path) -> dict[str, int]:
    """Killed / survived / other from mutmut's exit codes. Killed: a test failed (1, 3) or hung (timeouts);
    survived: every test passed (0) or no selected test reached the mutated function (5, 33): both are gaps."""
    if not meta.exists():
        return {"killed": 0, "survived": 0, "other": 0}
    codes = list(json.loads(meta.read_text())["exit_code_by_key"].values())
    killed = sum(code in KILLED for code in codes)
    survived = sum(code in SURVIVED for code in codes)
    return {"killed": killed, "survived": survived, "other": len(codes) - killed - survived}


def show_survivors(mutmut: Path, work: Path, env: dict[str, str]) -> None:
    results = subprocess.run([str(mutmut), "results"], cwd=work, env=env, capture_output=True, text=True)
    for line in results.stdout.splitlines():
        name = line.strip().split(":")[0]
        if "__mutmut_" in name and ("survived" in line or "no tests" in line):
            diff = subprocess.run([str(mutmut), "show", name], cwd=work, env=env, capture_output=True, text=True)
            print(diff.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", action="append", help="a module name (default: all)")
    parser.add_argument("--survivors", action="store_true", help="print the surviving mutants' diffs")
    args = parser.parse_args()
    modules = {**MODULES, **{k: v for k, v in OPTIONAL.items() if (ROOT / v[0]).exists()}}
    chosen = args.module or list(modules)
    unknown = [name for name in chosen if name not in modules]
    if unknown:
        print(f"unknown module(s) {unknown}; pick from {', '.join(modules)}", file=sys.stderr)
        return 2
    mutmut = ensure_tool_venv()
    rows = []
    for name in chosen:
        source, tests = modules[name]
        print(f"mutating {source} against {' '.join(tests)} ...", flush=True)
        counts = run_module(mutmut, source, tests, args.survivors)
        judged = counts["killed"] + counts["survived"]
        ratio = counts["killed"] / judged if judged else 0.0
        rows.append((name, source, counts, ratio))
        print(f"  {name}: {counts['killed']}/{judged} killed ({ratio:.0%}); {counts['other']} other", flush=True)
    print(
        f"\n{'module':<14} {'file':<34} {'killed':>7} {'survived':>9} {'equiv.':>6} {'score':>6} {'adjusted':>8}"
        f"  target {TARGET:.0%} (adjusted: equivalent mutants left out)"
    )
    adjusted_ok = True
    for name, source, counts, ratio in rows:
        equivalent = min(len(EQUIVALENT.get(name, [])), counts["survived"])
        judged = counts["killed"] + counts["survived"] - equivalent
        adjusted = counts["killed"] / judged if judged else 0.0
        adjusted_ok &= adjusted >= TARGET
        print(
            f"{name:<14} {source:<34} {counts['killed']:>7} {counts['survived']:>9} {equivalent:>6} {ratio:>6.0%} "
            f"{adjusted:>8.0%}  {'ok' if adjusted >= TARGET else 'BELOW'}"
        )
    for name, _, _, _ in rows:
        for mutant, why in EQUIVALENT.get(name, []):
            print(f"  equivalent in {name}: {mutant} ({why})")
    return 0 if adjusted_ok else 1


if __name__ == "__main__":
    sys.exit(main())
