"""Ctrl-C and SIGTERM alike for the long-running commands (`harness ui`, `harness serve`).

Containers, systemd and Kubernetes stop programs with SIGTERM: it must do what Ctrl-C does. While a command is
still starting, either signal raises KeyboardInterrupt (its `with` blocks stop what already started); once it
serves, the signal only sets `stop` and the main loop ends quietly. Either way the command exits with
harness.errors.INTERRUPTED_EXIT (130). The measuring commands run under gevent and have their own handler to the
same effect (harness.measure.signals.stop_on_signals).
"""

from __future__ import annotations

import signal
import threading
from typing import Any


class StopSignals:
    def __init__(self) -> None:
        self.serving = False
        self.stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, *_: Any) -> None:
        self.stop.set()
        if not self.serving:
            raise KeyboardInterrupt
