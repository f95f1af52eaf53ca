"""A local server that crashed or hung is seen as down, and restarts on the same ports: clients holding its URL reach
the new process. (The suite's guard, helpers.server_guard, relies on this after Triton 2.51 crashes.)"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest

from harness.triton.control import ControlClient
from harness.triton.repository import BUNDLED_REPOSITORY
from harness.triton.server import LocalServer
from helpers.processes import alive
from helpers.server_guard import restart_if_down


def _group_left(pgid: int) -> list[str]:
    """The processes of the session `pgid` led that still run (helpers.processes.alive: zombies are dead)."""
    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid:
                members.append(process)
        except ProcessLookupError:
            continue
    return alive(members)


@pytest.mark.integration
@pytest.mark.parametrize("fault", ["crash", "hang"])
def test_a_dead_or_hung_server_restarts_on_its_ports(fault: str, tmp_path: Path) -> None:
    with LocalServer(BUNDLED_REPOSITORY, tmp_path / "triton.log") as server:
        url, old_pid = server.endpoints, server.pid
        assert old_pid is not None
        with ControlClient(url.grpc_url) as control:
            control.load("identity")  # a backend stub in the server's session, to be gone after the restart
            assert restart_if_down(server) is None
            os.kill(old_pid, signal.SIGKILL if fault == "crash" else signal.SIGSTOP)
            assert not server.is_live()
            cause = restart_if_down(server)
            expected = "killed by signal 9" if fault == "crash" else "did not answer /v2/health/live"
            assert cause is not None and expected in cause, cause
            assert server.endpoints == url and server.pid != old_pid and server.is_live()
            assert _group_left(old_pid) == []  # the stubs of the old process went with it
            assert not control.is_ready("identity")  # a new server: nothing loaded, and the old URL reaches it
            control.load("identity")
            assert control.is_ready("identity")
    assert server.pid is None and _group_left(old_pid) == []
