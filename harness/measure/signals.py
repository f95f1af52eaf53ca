"""Ctrl-C and SIGTERM stop a measuring run alike: the main greenlet gets KeyboardInterrupt and the run is kept."""

from __future__ import annotations

import signal

import gevent


def stop_on_signals() -> None:
    """Both through gevent, to the main greenlet: Python's own SIGINT handler raised in whichever greenlet ran when it
    came (the worker monitor's, whose traceback then reached the user's terminal), and not at all where SIGINT came
    in ignored (a script's `harness sweep ... &`: the sweep ran to its end)."""
    main = gevent.getcurrent()
    for sig in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(sig, lambda: gevent.get_hub().loop.run_callback(main.throw, KeyboardInterrupt))
