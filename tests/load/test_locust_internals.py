"""The one home of Locust's private internals: used only with the Locust release they were copied from.

It imports Locust (which gevent-patches its process): exercised in a subprocess, as the other Locust tests are."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

COPIED_FROM = "2.47."  # harness.load.locust_internals.COPIED_FROM, read without importing Locust here

FALLBACK = """
from locust.runners import STATE_RUNNING
from harness.load import locust_internals

class Runner:
    state = STATE_RUNNING
    stopped = False
    def stop(self):
        self.stopped = True

assert locust_internals.matches_copied_locust()
assert locust_internals.matches_copied_locust("2.47.3") and not locust_internals.matches_copied_locust("2.48.0")
assert not locust_internals.matches_copied_locust("2.4.7")
locust_internals.matches_copied_locust = lambda version=None: False  # as another Locust release would say
runner = Runner()
locust_internals.stop_workers(runner)
assert runner.stopped, "another Locust must get its own public stop()"
print("ok")
"""


def test_the_installed_locust_is_the_one_the_internals_were_copied_from() -> None:
    """Set-up installs requirements.lock's Locust: if this fails, a lock update moved Locust; read its
    MasterRunner.stop and dispatcher again, then update COPIED_FROM in both places."""
    assert version("locust").startswith(COPIED_FROM)


def test_another_locust_gets_its_own_public_stop() -> None:
    result = subprocess.run([sys.executable, "-c", FALLBACK], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
