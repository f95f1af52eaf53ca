"""Real processes in tests: the harness CLI as a subprocess, started, waited for and stopped by PID."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from harness.net import LOOPBACK, free_port

HARNESS = [sys.executable, "-m", "harness.cli"]
RUN_TIMEOUT_S = 60


@contextmanager
def harness_ui(url: str, model: str, workers: int, cwd: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`harness ui` as a subprocess, up and with its workers connected; killed by PID if the test did not stop it."""
    port = free_port()
    log = cwd / "harness-ui.out"
    with open(log, "wb") as out:
        process = subprocess.Popen([*HARNESS, "ui", "--url", url, "--model", model, "--workers", str(workers),
                                    "--web-port", str(port)], cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while "Ctrl-C to stop." not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield process, f"http://{LOOPBACK}:{port}"
    finally:
        if process.poll() is None:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            process.kill()
            process.wait(timeout=10)
