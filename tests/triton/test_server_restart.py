"""A local server that crashed or hung is seen as down, and restarts on the same ports: clients holding its URL reach
the new process. (The suite's guard, helpers.server_guard, relies on this after Triton 2.51 crashes.)"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from harness.triton.control import ControlClient
from harness.triton.repository import BUNDLED_REPOSITORY
from harness.triton.server import LocalServer
from helpers.server_guard import restart_if_down


def _child_pids(pgid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # stat's 5th field: the group; a zombie is already dead
            found.add(int(stat.parent.name))
    return found


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
            assert _child_pids(old_pid) == set()  # the stubs of the old process went with it
            assert not control.is_ready("identity")  # a new server: nothing loaded, and the old URL reaches it
            control.load("identity")
            assert control.is_ready("identity")
    assert server.pid is None and _child_pids(old_pid) == set()
