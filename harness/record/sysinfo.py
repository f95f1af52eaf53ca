"""Run metadata about the host and the software: what a later comparison needs to know."""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import shutil
import subprocess
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import harness

_PACKAGES = ("locust", "tritonclient", "torch", "numpy", "grpcio", "plotly", "hdrhistogram", "nvidia-pytriton")


def host_info() -> dict[str, Any]:
    return {
        "hostname": platform.node(),
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count() or 0,
        "memory_gb": _memory_gb(),
        "gpu": gpu_model(),
        "os": platform.platform(),
    }


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    versions.update(torch_build())
    return versions


def torch_build(gpu: str | None = None) -> dict[str, str]:
    """Which torch build the models run on (Triton's Python backend imports this environment's torch).

    torch_cuda: the CUDA version torch was built for, "none" for the CPU build; torch_cuda_available: "yes" when
    that build has CUDA and nvidia-smi sees a GPU. Read from torch/version.py, not by importing torch (seconds, and
    the memory of a process that never needs it)."""
    spec = importlib.util.find_spec("torch")
    origin = Path(spec.origin) if spec and spec.origin else None
    text = origin.with_name("version.py").read_text() if origin and origin.with_name("version.py").is_file() else ""
    if not text:
        return {}
    match = re.search(r"^cuda\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", text, re.MULTILINE)
    cuda = match.group(1) if match else "none"
    has_gpu = gpu_model() is not None if gpu is None else bool(gpu)
    return {"torch_cuda": cuda, "torch_cuda_available": "yes" if cuda != "none" and has_gpu else "no"}


def git_revision() -> str:
    root = Path(harness.__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    revision = out.stdout.strip() or "unknown"
    return f"{revision}-dirty" if dirty.stdout.strip() and revision != "unknown" else revision


def gpu_model() -> str | None:
    """The first NVIDIA GPU's name, from nvidia-smi; None on a GPU-less host."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    names = [line.strip() for line in out.stdout.splitlines() if line.strip()]
    return names[0] if names and out.returncode == 0 else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gb() -> float:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        return 0.0
