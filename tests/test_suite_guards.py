"""The suite's own guard: a missing requirement skips on a developer's machine and fails in CI."""

from __future__ import annotations

import importlib.machinery
import re
import subprocess
import sys
from pathlib import Path

import pytest

import helpers.browser
from helpers.requirements import in_ci, require_or_skip


@pytest.mark.parametrize("value", ["true", "True", "1"])
def test_ci_fails_instead_of_skipping(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci()
    with pytest.raises(BaseException) as outcome:  # a skip must not escape: it would pass as a skipped test
        require_or_skip("no frobnicator")
    assert outcome.type is pytest.fail.Exception and "CI=true but no frobnicator" in str(outcome.value)


@pytest.mark.parametrize("value", [None, "", "false", "0"])
def test_elsewhere_it_skips(value: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert not in_ci()
    with pytest.raises(BaseException) as outcome:
        require_or_skip("no frobnicator")
    assert outcome.type is pytest.skip.Exception and str(outcome.value) == "no frobnicator"


def test_a_missing_chromium_fails_the_browser_tests_in_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(helpers.browser, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(BaseException) as outcome:  # a skip must not escape: it would pass as a skipped test
        with helpers.browser.chromium_page():
            pass
    assert outcome.type is pytest.fail.Exception and "browser tests need Chromium" in str(outcome.value)


def test_every_test_is_bounded_by_pytest_timeout(request: pytest.FixtureRequest) -> None:
    assert request.config.pluginmanager.hasplugin("timeout")
    assert request.config.getini("timeout") == "300"


def test_a_hanging_test_fails_and_names_itself(tmp_path: Path) -> None:
    """The same plugin, in a real pytest process: a test that hangs past the bound fails with its name."""
    (tmp_path / "test_hang.py").write_text("import time\n\ndef test_sleeps_forever():\n    time.sleep(60)\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "timeout=1", str(tmp_path / "test_hang.py")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stdout[-2000:]
    assert "Timeout" in result.stdout and "FAILED test_hang.py::test_sleeps_forever" in result.stdout, result.stdout[-2000:]


def test_the_mutation_script_names_files_that_exist() -> None:
    """scripts/mutation.py scores modules by path: after a move it must follow, not score nothing silently."""
    import importlib.util

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("mutation", root / "scripts" / "mutation.py")
    assert spec is not None and spec.loader is not None
    mutation = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mutation)
    for name, (source, tests) in mutation.MODULES.items():
        assert (root / source).is_file(), f"{name}: {source} is gone"
        assert all((root / t).exists() for t in tests), f"{name}: {tests}"
    assert set(mutation.EQUIVALENT) <= set(mutation.MODULES) | set(mutation.OPTIONAL)


# Packages that some machines have and this one may not: torch's CUDA builds bring OpenAI's `triton`.
SOMETIMES_INSTALLED = {"triton"}


def test_no_test_folder_shadows_an_importable_package() -> None:
    """pytest puts tests/ on sys.path (pythonpath in pyproject.toml): a folder there named like an installed package
    (tests/triton once passed for OpenAI's `triton`, which torch.export then tried to use) hides that package."""
    tests = Path(__file__).resolve().parent
    elsewhere = [p for p in sys.path if Path(p or ".").resolve() != tests]
    folders = {d.name for d in tests.iterdir() if d.is_dir() and not d.name.startswith((".", "_")) and d.name != "helpers"}
    specs = {name: importlib.machinery.PathFinder.find_spec(name, elsewhere) for name in folders}
    shadowing = {name for name, spec in specs.items() if spec is not None and spec.origin is not None}  # not a bare folder
    shadowing |= folders & SOMETIMES_INSTALLED
    assert not shadowing, f"rename these test folders: {sorted(shadowing)}"


def test_the_quick_tier_keeps_a_real_triton_locust_and_a_browser_and_no_heavy_build() -> None:
    """scripts/test.sh --quick selects by marker: it must still reach a real Triton and Locust (a `harness sweep`
    on the session's server) and a browser page, and leave the heavy builds to the full run."""
    root = Path(__file__).resolve().parents[1]
    (expression,) = re.findall(r'select=\(-m "([^"]+)"\)', (root / "scripts" / "test.sh").read_text())

    def collected(marks: str) -> set[str]:
        listing = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only", "-m", marks],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=root,
        ).stdout
        return {line for line in listing.splitlines() if "::" in line}

    quick = collected(expression)
    assert any(t.startswith("tests/sweep/test_sweep.py::") for t in quick)  # a sweep: the session's Triton, Locust
    assert any(t.startswith("tests/report/test_report_browser.py::") for t in quick)  # a page in Chromium
    assert not quick & collected("heavy") and collected("heavy")
