"""The compiled engine (harness/load/engine/cpp/lean_engine.cc): where it is, how it is built, which engine runs.

Built with g++ against Debian's gRPC C++, libcurl (the HTTP protocol) and msgpack-cxx (`apt-get install g++
pkg-config libgrpc++-dev libcurl4-openssl-dev libmsgpack-cxx-dev`) into a cache folder named after the source's
hash, so a changed source is rebuilt and a built one is reused by every Locust process. `scripts/setup.sh` builds
it; a process that finds no binary builds it on first use, and where that cannot work it falls back to the Python
engine (harness.load.engine.aio_engine) with a warning. HARNESS_LEAN_ENGINE=native|python|auto (default auto)
chooses explicitly.

The compiled engine's open-loop sender thread asks for real-time priority (SCHED_FIFO 1, granted to root or
CAP_SYS_NICE): sends leave on time although tritonserver and Locust are busy on the same cores, for ~10 us more
CPU per request; HARNESS_SENDER_POLICY=normal keeps the ordinary policy (scripts/bench_engine_wakeups.py and
bench_load_generator.py --tables open --open-ordinary compare the two).

    python -m harness.load.engine.compiled        build (if needed) and print the binary's path
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

from harness.defaults import cache_dir
from harness.errors import ConfigError, NativeEngineUnavailable

log = logging.getLogger("harness")

SOURCE = Path(__file__).with_name("cpp") / "lean_engine.cc"
PACKAGES_HINT = "apt-get install g++ pkg-config libgrpc++-dev libcurl4-openssl-dev libmsgpack-cxx-dev"
ENGINE_ENV = "HARNESS_LEAN_ENGINE"


def binary_path() -> Path:
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    return cache_dir() / f"lean-engine-{digest}"


def build() -> Path:
    """The compiled engine, built now if the cache has none; NativeEngineUnavailable says why not."""
    target = binary_path()
    if target.exists() and _runs(target):
        return target  # (one that no longer runs, e.g. after a gRPC library upgrade, is rebuilt)
    if shutil.which("g++") is None or shutil.which("pkg-config") is None:
        raise NativeEngineUnavailable(f"no g++/pkg-config to build the compiled engine; {PACKAGES_HINT}")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "grpc++", "libcurl"], capture_output=True, text=True)
    if flags.returncode != 0:
        raise NativeEngineUnavailable(f"gRPC C++ or libcurl is not installed ({flags.stderr.strip()}); {PACKAGES_HINT}")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Built under a temporary name and renamed: Locust processes starting together may build at once.
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        output = Path(tmp) / target.name
        command = ["g++", "-O2", "-std=c++17", str(SOURCE), "-o", str(output), *flags.stdout.split()]
        compiled = subprocess.run(command, capture_output=True, text=True)
        if compiled.returncode != 0:
            tail = " | ".join(compiled.stderr.strip().splitlines()[-3:])
            raise NativeEngineUnavailable(f"building the compiled engine failed: {tail}; {PACKAGES_HINT}")
        os.replace(output, target)
    return target


def _runs(binary: Path) -> bool:
    try:
        probe = subprocess.run([str(binary), "--schedule", "1", "constant", "0", "1"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


@lru_cache(maxsize=None)
def engine_command() -> tuple[str, ...]:
    """The command that starts this process's load engine: the compiled one where possible."""
    choice = os.environ.get(ENGINE_ENV, "auto").strip().lower() or "auto"
    if choice not in ("auto", "native", "python"):
        raise ConfigError(f"{ENGINE_ENV}={choice!r} is not an engine; use native, python or auto")
    python_engine = (sys.executable, "-m", "harness.load.engine.aio_engine")
    if choice == "python":
        return python_engine
    try:
        return (str(build()),)
    except NativeEngineUnavailable as exc:
        if choice == "native":
            raise
        log.warning("%s; using the Python engine (several times the client CPU per request)", exc)
        return python_engine


def check_protocol(protocol: str, validating: bool = False) -> None:
    """--protocol http does not check outputs: asked to, it is refused in one line (a ConfigError) before any load."""
    if protocol == "http" and validating:
        raise ConfigError(
            "--protocol http does not check responses (--validate-outputs, validation_data); use --protocol grpc to validate"
        )


def engine_name() -> str:
    """'native' or 'python': which engine this process's load runs on (recorded with the results)."""
    return "python" if engine_command()[0] == sys.executable else "native"


def main() -> int:
    try:
        print(build())
    except NativeEngineUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
