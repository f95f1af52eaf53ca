"""Locust users that load Triton over gRPC: closed loop (concurrency) and open loop (arrival rate).

Both report every request through Locust's `request` event (type "grpc", name = model, time in ms, failures
with Triton's message) and record it in the exact per-process histogram of harness.locust_plugin.
"""

from __future__ import annotations

import random
import time

import gevent
import grpc
from locust import User, constant, task

from harness.arrivals import arrival_gaps
from harness.grpc_infer import error_message
from harness.load_context import LoadContext, PreparedCall
from harness.locust_plugin import context_of

# A send later than this behind its intended time counts as late (the generator could not keep up).
LATE_THRESHOLD_S = 0.002


class _TritonUserBase(User):
    abstract = True

    def on_start(self) -> None:
        self.context: LoadContext = context_of(self.environment)
        self.prepared: PreparedCall = self.context.prepared()
        self.model = self.context.options.model
        self.fire = self.environment.events.request.fire
        self.index = self.context.next_user_index()

    def send(self, intended: float) -> None:
        """One request; latency measured from `intended` (the closed loop passes the actual send time)."""
        prepared, error, size = self.prepared, None, 0
        try:
            size = len(prepared.call(prepared.payload, timeout=prepared.timeout_s))
        except grpc.RpcError as exc:
            error = error_message(exc)
        elapsed = time.perf_counter() - intended
        self.context.record(elapsed, error)
        self.fire(request_type="grpc", name=self.model, response_time=elapsed * 1000.0, response_length=size,
                  exception=RuntimeError(error) if error else None, context={})


class TritonUser(_TritonUserBase):
    """Closed loop: each user keeps one request in flight and sends the next as soon as it is answered.

    The requests themselves run in the process's lean engine (grpc.aio outside gevent, harness.lean_engine):
    each user is one lane of it. A pump greenlet feeds every result to Locust's request event and to the exact
    histogram, so Locust's statistics, the web UI and the user count behave as with any Locust user.
    """

    wait_time = constant(1.0)

    def on_start(self) -> None:
        super().on_start()
        context = self.context
        context.engine()
        if context.pump_greenlet is None or context.pump_greenlet.dead:
            context.pump_greenlet = gevent.spawn(context.pump, self.fire)
        context.set_lanes(context.lanes + 1)

    def on_stop(self) -> None:
        self.context.set_lanes(self.context.lanes - 1)

    @task
    def keep_lane(self) -> None:
        """Nothing to do per request here: the lane runs in the engine while this user lives."""


class TritonOpenLoopUser(_TritonUserBase):
    """Open loop: requests leave on a schedule (constant or Poisson, --target-rps split over all users),
    whether or not earlier ones were answered; latency counts from the intended send time."""

    wait_time = constant(0)

    @task
    def schedule(self) -> None:
        options = self.context.options
        rate = options.target_rps / options.num_users
        if rate <= 0:
            gevent.sleep(0.2)  # no rate set (yet): nothing to send
            return
        seed = options.input_seed * 1_000_003 + self.index  # same seed, same schedule
        intended = time.perf_counter()
        for gap in arrival_gaps(rate, options.arrivals, random.Random(seed)):
            intended += gap
            delay = intended - time.perf_counter()
            gevent.sleep(max(delay, 0.0))  # also yields when behind, so responses and reports still run
            self.context.record_send_lag(max(-delay, 0.0), LATE_THRESHOLD_S)
            if self.context.in_flight >= options.max_in_flight:
                self.context.dropped += 1
                continue
            self.context.in_flight += 1
            gevent.spawn(self._tracked_send, intended)

    def _tracked_send(self, intended: float) -> None:
        try:
            self.send(intended)
        finally:
            self.context.in_flight -= 1

