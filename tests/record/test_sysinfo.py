"""Run metadata says which torch build the models ran on: read from torch/version.py, checked on fake installs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.record import sysinfo


def _fake_torch(root: Path, cuda_line: str, monkeypatch: pytest.MonkeyPatch) -> None:
    package = root / "torch"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "version.py").write_text(f"from typing import Optional\n__version__ = '2.13.0'\n{cuda_line}\n")
    monkeypatch.delitem(sys.modules, "torch", raising=False)  # find_spec would answer from an imported torch
    monkeypatch.syspath_prepend(str(root))


@pytest.mark.parametrize(
    ("cuda_line", "gpu", "expected"),
    [
        ("cuda: Optional[str] = None", "NVIDIA H200", {"torch_cuda": "none", "torch_cuda_available": "no"}),
        ("cuda: Optional[str] = '12.8'", "NVIDIA H200", {"torch_cuda": "12.8", "torch_cuda_available": "yes"}),
        ("cuda: Optional[str] = '12.8'", "", {"torch_cuda": "12.8", "torch_cuda_available": "no"}),
        ("cuda = '11.8'", "Tesla T4", {"torch_cuda": "11.8", "torch_cuda_available": "yes"}),
    ],
)
def test_torch_build_from_version_file(
    cuda_line: str, gpu: str, expected: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_torch(tmp_path, cuda_line, monkeypatch)
    assert sysinfo.torch_build(gpu=gpu) == expected


def test_package_versions_carry_the_torch_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_torch(tmp_path, "cuda: Optional[str] = '12.8'", monkeypatch)
    monkeypatch.setattr(sysinfo, "gpu_model", lambda: "NVIDIA H200")
    versions = sysinfo.package_versions()
    assert versions["torch_cuda"] == "12.8" and versions["torch_cuda_available"] == "yes"
