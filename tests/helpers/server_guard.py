"""Keeping the session's tritonserver usable across tests: Triton 2.51 has crashed under the suite (SIGSEGV or
SIGABRT right after a model reload), and every later test then waited out its own timeout."""

from __future__ import annotations

import time

from harness.triton.server import LocalServer


def restart_if_down(server: LocalServer) -> str | None:
    """None when the server is live; otherwise why it was not (its exit status and last log lines, or a hang),
    after restarting it on the same ports."""
    if server.is_live():
        return None
    cause = _exit_cause(server) or f"it runs but did not answer /v2/health/live within 2 s (log: {server.log_path})"
    server.restart()
    return cause


def _exit_cause(server: LocalServer, wait_s: float = 1.0) -> str | None:
    """Its exit status, waiting a moment for a dying process (it stops answering before the kernel reaps it)."""
    deadline = time.monotonic() + wait_s
    while (cause := server.exit_cause()) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return cause
