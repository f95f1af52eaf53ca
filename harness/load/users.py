"""Locust users that load Triton over gRPC: closed loop (concurrency) and open loop (arrival rate).

The requests run in the process's load engine (grpc.aio outside gevent, harness.load.engine.aio_engine): a closed-loop
user is one lane of it, an open-loop user one seeded send schedule. A pump greenlet feeds every result to
Locust's `request` event (type "grpc", name = model, time in ms, failures with Triton's message) and to the
exact per-process histogram, so Locust's statistics, the web UI and the user count behave as usual.
"""

from __future__ import annotations

import logging

import gevent
from locust import User, constant, task
from locust.exception import StopUser

from harness.errors import HarnessError
from harness.load.arrivals import ZeroRateError
from harness.load.context import LoadContext
from harness.load.options import LoadOptions
from harness.load.plugin import ask_mix_index, ask_sender_index, context_of

log = logging.getLogger("harness")


class _TritonUserBase(User):
    abstract = True
    wait_time = constant(1.0)
    host = LoadOptions.triton_url  # the Triton gRPC endpoint: Locust's Host field shows it; --host changes it

    def on_start(self) -> None:
        self.context: LoadContext = context_of(self.environment)
        self.index = self.context.next_user_index()
        try:
            self.context.engine()
        except HarnessError as exc:  # bad --input-data: said once at test start (the plugin); nothing is sent
            self.refused = True
            self.environment.events.request.fire(
                request_type="grpc",
                name=self.context.options.model,
                response_time=0.0,
                response_length=0,
                exception=exc,
                context={},
            )
            return
        greenlets = self.context.pump_greenlets
        if not greenlets or any(g.dead for g in greenlets):
            for greenlet in greenlets:
                greenlet.kill()
            self.context.pump_greenlets = [
                gevent.spawn(job) for job in self.context.pumps(self.environment.events.request.fire)
            ]

    refused = False  # set by on_start when this user must not run; it then stops at its first task

    @task
    def idle(self) -> None:
        """Nothing to do per request here: the engine sends while this user lives."""
        if self.refused:
            raise StopUser()  # from a task, Locust stops the user quietly (from on_start it logs a traceback)


class TritonUser(_TritonUserBase):
    """Closed loop: each user keeps one request in flight and sends the next as soon as it is answered."""

    def on_start(self) -> None:
        super().on_start()
        if self.refused:
            return
        if self.context.mix is not None:  # its model follows from its global index (harness.load.mix)
            ask_mix_index(self.environment, self.index)
            return
        self.context.set_lanes(self.context.lanes + 1)

    def on_stop(self) -> None:
        if self.refused:
            return
        if self.context.mix is not None:
            self.context.unschedule(self.index)
            return
        self.context.set_lanes(self.context.lanes - 1)


class TritonOpenLoopUser(_TritonUserBase):
    """Open loop: requests leave on a schedule (constant, Poisson, gamma:CV or a --schedule file, --target-rps
    spread over all users), whether or not earlier ones were answered; latency counts from the intended send time."""

    def on_start(self) -> None:
        context = context_of(self.environment)
        try:
            context.steering.open_loop_rate()
        except HarnessError as exc:
            # Never an idle user that looks busy: the web UI's start form refuses this; a headless run says why,
            # and counts it as a failure with the reason (Locust's statistics and exit code, the run's first error).
            if isinstance(exc, ZeroRateError):
                log.error(
                    "%s needs a target rate: pass --target-rps (requests/s across all users), or --schedule FILE; "
                    "stopping this user",
                    type(self).__name__,
                )
            else:
                log.error("%s cannot send: %s; stopping this user", type(self).__name__, exc)
            self.refused = True
            context.refuse(str(exc))
            self.environment.events.request.fire(
                request_type="grpc", name=context.options.model, response_time=0.0, response_length=0, exception=exc, context={}
            )
            return
        super().on_start()
        if not self.refused:
            ask_sender_index(self.environment, self.index)

    def on_stop(self) -> None:
        if not self.refused:
            self.context.unschedule(self.index)
