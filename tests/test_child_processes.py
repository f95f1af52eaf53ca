"""harness.procs: a child started in its own session is stopped with everything it started, even after it died."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil

from harness.procs import start_child, stop_child
from helpers.processes import alive


def test_the_children_of_a_child_that_died_are_stopped_with_it(tmp_path: Path) -> None:
    """A crashed server leaves its backend stubs in the session it led: stopping it ends them too."""
    pid_file = tmp_path / "grandchild.pid"
    # the leader writes its child's pid, then exits: a crashed server whose stubs still run
    leader = start_child(["sh", "-c", f"sleep 60 & echo $! > {pid_file}; exit 3"], tmp_path / "log")
    assert leader.wait(timeout=10) == 3
    grandchild = psutil.Process(int(pid_file.read_text()))
    assert alive([grandchild]) and os.getpgid(grandchild.pid) == leader.pid
    stop_child(leader, group=True)
    deadline = time.monotonic() + 5
    while alive([grandchild]) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive([grandchild])
