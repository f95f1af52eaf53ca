"""Starting and stopping the child processes we own (tritonserver, Locust workers), by PID only."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

_SETPRIV = shutil.which("setpriv")


def start_child(args: list[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """A child in its own session (so its own children can be signalled with it), output appended to a log.

    Through util-linux's setpriv it gets SIGTERM if the harness dies, even by SIGKILL, so nothing is orphaned.
    (Not a preexec_fn: forking Python code in a process with live gRPC channels aborts the child in grpc's poller.)
    """
    command = [_SETPRIV, "--pdeathsig", "TERM", "--", *args] if _SETPRIV else args
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )


def stop_child(process: subprocess.Popen[bytes], timeout_s: float = 10.0, group: bool = False) -> None:
    """terminate -> wait -> kill; with `group`, the child's whole session (its own children too)."""
    if process.poll() is not None:
        if group:  # it died on its own (a crash): its children may outlive it, still in the session it led
            _kill_group_left(process.pid)
        return
    send = (lambda sig: os.killpg(process.pid, sig)) if group else (lambda sig: os.kill(process.pid, sig))
    try:
        send(signal.SIGTERM)
        send(signal.SIGCONT)  # a stopped (SIGSTOP) child acts on the SIGTERM only once it runs again
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


def _kill_group_left(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
