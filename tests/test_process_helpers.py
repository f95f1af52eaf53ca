"""The process helpers fail a test that leaves its process running, instead of quietly SIGKILLing it."""

from __future__ import annotations

import signal
import subprocess

import pytest

from helpers.processes import owned_process, stop_process


def test_a_process_left_running_fails_the_test_and_is_named() -> None:
    process = subprocess.Popen(["sleep", "30"])
    with pytest.raises(pytest.fail.Exception, match=rf"sleeper \(pid {process.pid}\) was still running"):
        with owned_process(process, "sleeper"):
            pass  # the test forgot to stop it
    assert process.returncode == -signal.SIGKILL  # and it is gone


def test_a_process_the_test_stopped_passes() -> None:
    process = subprocess.Popen(["sleep", "30"])
    with owned_process(process, "sleeper"):
        assert stop_process(process, signal.SIGTERM) == -signal.SIGTERM


def test_the_test_own_failure_is_not_masked() -> None:
    process = subprocess.Popen(["sleep", "30"])
    with pytest.raises(AssertionError, match="the real failure"):
        with owned_process(process, "sleeper"):
            raise AssertionError("the real failure")
    assert process.returncode == -signal.SIGKILL
