"""Every use of Locust's private internals, in one place, each checked against the Locust version it was copied from.

Locust offers no public way to drop a worker from its dispatcher, nor to stop a level without its 1 s polling. The
harness does both here. `matches_copied_locust()` says whether the installed Locust is the release these were read
from (2.47); where it is not, the driver uses Locust's own public `stop()` (slower: a second per level) and a refused
worker is only disconnected, so a Locust upgrade degrades speed, never correctness.
"""

from __future__ import annotations

import time
from importlib.metadata import version as installed_version

import gevent
from locust.rpc import Message
from locust.runners import STATE_INIT, STATE_STOPPED, STATE_STOPPING, MasterRunner

COPIED_FROM = "2.47."  # the Locust release whose MasterRunner.stop and dispatcher these follow
STOP_POLL_S = 0.02


def matches_copied_locust(version: str | None = None) -> bool:
    return (version or installed_version("locust")).startswith(COPIED_FROM)


def drop_from_dispatch(runner: MasterRunner, node: object) -> None:
    """A refused worker gets no users: removed from the dispatcher of a running test (private in Locust)."""
    dispatcher = getattr(runner, "_users_dispatcher", None) if matches_copied_locust() else None
    if dispatcher is not None:
        dispatcher.remove_worker(node)


def stop_workers(runner: MasterRunner, timeout_s: float = 60.0) -> None:
    """MasterRunner.stop, waiting for the workers' users to reach 0 in STOP_POLL_S steps instead of its 1 s ones:
    a worker stops its users within milliseconds (the engines' stop is one command), and a sweep stops after every
    level, so each level cost a second of nothing. Same steps as Locust 2.47's, in the same order: the events, the
    stopping state (a worker reporting it stopped while the master runs would have its users moved to the others),
    the stop messages, the wait, the test_stop event. Another Locust release gets its own stop()."""
    if runner.state in (STATE_INIT, STATE_STOPPED, STATE_STOPPING):
        return
    if not matches_copied_locust():
        runner.stop()
        return
    environment = runner.environment
    environment.events.test_stopping.fire(environment=environment)
    runner.final_user_classes_count = {**runner.reported_user_classes_count}
    runner.update_state(STATE_STOPPING)
    runner._users_dispatcher = None  # as Locust's stop: no dispatch while the workers stop
    for client in runner.clients.all:
        runner.server.send_to_client(Message("stop", None, client.id))
    deadline = time.monotonic() + timeout_s
    while runner.user_count != 0 and time.monotonic() < deadline:
        gevent.sleep(STOP_POLL_S)
    environment.events.test_stop.fire(environment=environment)
