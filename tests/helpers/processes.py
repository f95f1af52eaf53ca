"""Real processes in tests: the harness CLI as a subprocess, started, waited for and stopped by PID.

A test stops what it started, with the signal a user or a supervisor would send, and checks the exit status.
Whatever is still running when the test ends is killed (SIGKILL, its children too) and the test FAILS, naming
the process: a command that ignores its stop signal must not pass because the fixture cleaned up after it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from harness.net import LOOPBACK, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
HARNESS = [sys.executable, "-m", "harness.cli"]
# The console script that set-up installs, as a user types `harness` (tests of what the script itself does).
_VENV_SCRIPT = REPO_ROOT / ".venv" / "bin" / "harness"
HARNESS_SCRIPT = str(_VENV_SCRIPT if _VENV_SCRIPT.exists() else Path(sys.executable).parent / "harness")
RUN_TIMEOUT_S = 60
COMMAND_TIMEOUT_S = 240  # a measuring command (sweep, search, latency) of a test's short windows
STOP_TIMEOUT_S = 30


def harness(
    *args: object, cwd: Path = REPO_ROOT, timeout: float = COMMAND_TIMEOUT_S, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The `harness` command as a user runs it, in a process of its own (in this one, pytest's own imports and
    gevent would not be the user's), to its end: exit status, stdout and stderr as text."""
    return subprocess.run(
        [*HARNESS, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=None if env is None else {**os.environ, **env},
    )


@contextmanager
def owned_process(process: subprocess.Popen[bytes], name: str) -> Iterator[subprocess.Popen[bytes]]:
    """Fails the test (after SIGKILLing it and its children) if `process` still runs when the block ends."""
    body_failed = False
    try:
        yield process
    except BaseException:
        body_failed = True
        raise
    finally:
        if process.poll() is None:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            process.kill()
            process.wait(timeout=10)
            if not body_failed:
                pytest.fail(
                    f"{name} (pid {process.pid}) was still running when the test ended and had to be "
                    "killed with SIGKILL: stop it with stop_process() and check its exit status"
                )


def stop_process(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout_s: float = STOP_TIMEOUT_S) -> int:
    """Send `sig` (SIGTERM, as containers and systemd do, or SIGINT for Ctrl-C) and wait for the exit status."""
    os.kill(process.pid, sig)
    return process.wait(timeout=timeout_s)


@contextmanager
def harness_ui(
    url: str | None, model: str, workers: int, cwd: Path, *extra: str, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`harness ui` as a subprocess (on Triton at `url`, or its own), up with its workers connected.

    The test must stop it (stop_process); left running, it is killed and the test fails."""
    port = free_port()
    log = cwd / "harness-ui.out"
    command = [
        *HARNESS,
        "ui",
        *(["--url", url] if url else []),
        "--model",
        model,
        "--workers",
        str(workers),
        "--web-port",
        str(port),
        *extra,
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    with owned_process(process, "harness ui"):
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while "to stop." not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield process, f"http://{LOOPBACK}:{port}"


SHM_PREFIX = "triton_python_backend_shm_region"


def shm_regions() -> set[str]:
    """Triton Python-backend shared-memory regions now in /dev/shm."""
    return {p.name for p in Path("/dev/shm").glob(f"{SHM_PREFIX}*")}


def orphaned_shm(before: set[str]) -> set[str]:
    """Regions created since `before` that no live process maps: what a stopped server left behind."""
    mapped: set[str] = set()
    for proc in Path("/proc").iterdir():
        try:
            text = (proc / "maps").read_text() if proc.name.isdigit() else ""
        except OSError:
            continue
        mapped.update(part.split()[0] for part in text.split("/dev/shm/")[1:] if part.strip())
    return (shm_regions() - before) - mapped


def alive(processes: list[psutil.Process]) -> list[str]:
    """Those still running (zombies are dead), named for the failure message."""
    running = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                running.append(f"{process.pid} {' '.join(process.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            continue
    return running


def command_lines(processes: list[psutil.Process]) -> list[tuple[psutil.Process, str]]:
    """(process, its command line) for those still there: a descendants list also holds short-lived helpers that can
    exit before their command line is read (CI met one: psutil.NoSuchProcess in the middle of a test)."""
    found = []
    for process in processes:
        try:
            found.append((process, " ".join(process.cmdline())))
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found
