"""One cache folder for everything the harness builds or unpacks, honouring XDG_CACHE_HOME."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from harness.defaults import cache_dir
from harness.load.engine import compiled

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def test_cache_follows_xdg_cache_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "triton-harness"
    assert compiled.binary_path().parent == tmp_path / "triton-harness"


@pytest.mark.parametrize("value", [None, ""])
def test_cache_defaults_to_dot_cache_in_home(value: str | None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if value is None:
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CACHE_HOME", value)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "triton-harness"


def test_the_benchmarks_use_the_same_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    spec = importlib.util.spec_from_file_location("perf_analyzer_script", SCRIPTS / "perf_analyzer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # CACHE is computed at import
    assert module.CACHE == tmp_path / "triton-harness" / "perf_analyzer"
