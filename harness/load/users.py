"""Locust users that load Triton over gRPC: closed loop (concurrency) and open loop (arrival rate).

The requests run in the process's lean engine (grpc.aio outside gevent, harness.load.engine.aio_engine): a closed-loop
user is one lane of it, an open-loop user one seeded send schedule. A pump greenlet feeds every result to
Locust's `request` event (type "grpc", name = model, time in ms, failures with Triton's message) and to the
exact per-process histogram, so Locust's statistics, the web UI and the user count behave as usual.
"""

from __future__ import annotations

import logging

import gevent
from locust import User, constant, task
from locust.exception import StopUser

from harness.load.context import LoadContext, LoadOptions
from harness.load.plugin import context_of

log = logging.getLogger("harness")


class _TritonUserBase(User):
    abstract = True
    wait_time = constant(1.0)
    host = LoadOptions.triton_url  # the Triton gRPC endpoint: Locust's Host field shows it; --host changes it

    def on_start(self) -> None:
        self.context: LoadContext = context_of(self.environment)
        self.index = self.context.next_user_index()
        self.context.engine()
        pump = self.context.pump_greenlet
        if pump is None or pump.dead:
            self.context.pump_greenlet = gevent.spawn(self.context.pump, self.environment.events.request.fire)

    @task
    def idle(self) -> None:
        """Nothing to do per request here: the engine sends while this user lives."""


class TritonUser(_TritonUserBase):
    """Closed loop: each user keeps one request in flight and sends the next as soon as it is answered."""

    def on_start(self) -> None:
        super().on_start()
        self.context.set_lanes(self.context.lanes + 1)

    def on_stop(self) -> None:
        self.context.set_lanes(self.context.lanes - 1)


class TritonOpenLoopUser(_TritonUserBase):
    """Open loop: requests leave on a schedule (constant or Poisson, --target-rps split over all users),
    whether or not earlier ones were answered; latency counts from the intended send time."""

    def on_start(self) -> None:
        if context_of(self.environment).options.target_rps <= 0:
            # Never an idle user that looks busy: the web UI's start form refuses this; a headless run says why.
            log.error("%s needs a target rate: pass --target-rps (requests/s across all users); stopping this user",
                      type(self).__name__)
            raise StopUser()
        super().on_start()
        self.context.schedule(self.index)

    def on_stop(self) -> None:
        if "index" in vars(self):  # it started (a user refused in on_start never scheduled anything)
            self.context.unschedule(self.index)

