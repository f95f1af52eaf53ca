"""Finding a tritonserver binary and the environment it needs to run the Python backend."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from importlib import util as importlib_util
from pathlib import Path

from harness.errors import ServerError


@dataclass(frozen=True)
class TritonInstall:
    """A runnable tritonserver: the binary, an optional backend folder to pass, and extra environment."""

    binary: Path
    source: str  # "pytriton wheel", "--tritonserver", "PATH"
    backend_dir: Path | None = None
    env: dict[str, str] = field(default_factory=dict)


def find_triton(explicit: str | None = None) -> TritonInstall:
    """--tritonserver PATH, then $HARNESS_TRITONSERVER, then the nvidia-pytriton wheel, then PATH."""
    chosen = explicit or os.environ.get("HARNESS_TRITONSERVER")
    if chosen:
        path = Path(chosen)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ServerError(f"tritonserver binary {chosen!r} does not exist or is not executable; fix --tritonserver")
        return TritonInstall(binary=path, source="--tritonserver")
    wheel = _pytriton_install()
    if wheel:
        return wheel
    on_path = shutil.which("tritonserver")
    if on_path:
        return TritonInstall(binary=Path(on_path), source="PATH")
    raise ServerError(
        "no tritonserver found: `pip install nvidia-pytriton` (ships Triton 2.51), put tritonserver on PATH, "
        "pass --tritonserver PATH, or point --url at a running server"
    )


def _pytriton_install() -> TritonInstall | None:
    spec = importlib_util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(list(spec.submodule_search_locations)[0]) / "tritonserver"
    binary = root / "bin" / "tritonserver"
    if not binary.is_file():
        return None
    libs = root.parent.parent / "nvidia_pytriton.libs"
    env = {
        "LD_LIBRARY_PATH": _prepend(str(libs), os.environ.get("LD_LIBRARY_PATH", "")),
        # The Python-backend stub resolves numpy and torch from the first python on PATH: use ours.
        "PATH": _prepend(str(Path(sys.executable).parent), os.environ.get("PATH", "")),
    }
    return TritonInstall(binary=binary, source="pytriton wheel", backend_dir=root / "backends", env=env)


def prepare_backend_dir(install: TritonInstall, into: Path) -> Path | None:
    """The wheel keeps the Python backend and its per-Python-version stubs apart; lay them out as Triton expects."""
    if install.backend_dir is None:
        return None
    stub = install.backend_dir.parent / "python_backend_stubs" / f"{sys.version_info.major}.{sys.version_info.minor}"
    stub_binary = stub / "triton_python_backend_stub"
    if not stub_binary.is_file():
        raise ServerError(f"the pytriton wheel has no Python-backend stub for Python {stub.name}; use Python 3.8-3.13")
    python_dir = into / "python"
    python_dir.mkdir(parents=True, exist_ok=True)
    for source in (
        *install.backend_dir.joinpath("python").glob("*.so"),
        install.backend_dir / "python" / "triton_python_backend_utils.py",
        stub_binary,
    ):
        target = python_dir / source.name
        if not target.exists():
            target.symlink_to(source)
    return into


def _prepend(entry: str, value: str) -> str:
    return f"{entry}{os.pathsep}{value}" if value else entry
