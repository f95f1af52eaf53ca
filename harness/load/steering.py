"""Steering this process's engine child: starting it with the request, closed-loop lanes, open-loop schedules
placed by their global sender index, and the drain that ends a test.

A closed-loop user is one lane; an open-loop user one seeded schedule, sent once the master has numbered it
among the level's senders (harness.load.senders): its share of the target rate, phase-shifted on the test's
common start instant. Commands that carry a sequence number are acknowledged by the engine after the results
so far; the pump hands those acknowledgements here, so a drain knows when every result of the test is in.
No Locust or gevent imports: under Locust, `threading.Lock` and `time.sleep` are gevent's (monkey-patched).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Callable

from harness.load.arrivals import (
    TRACE,
    check_rate,
    is_common_stream,
    parse_arrivals,
    sender_phase_s,
    sender_rate,
    sender_seed,
)
from harness.load.clock import WorkerClock
from harness.load.engine.compiled import engine_name
from harness.load.engine.link import EngineLink
from harness.load.engine.protocol import HttpTarget, Schedule
from harness.load.engine.validation import Expected
from harness.load.options import LoadOptions
from harness.load.trace import Trace, read_trace

log = logging.getLogger("harness")

Payloads = bytes | tuple[bytes, ...]  # one request, or several sent in turn (--input-data entries)
# (url, payloads, timeout[, HTTP target]) -> a started engine; the target is passed only under --protocol http
Launch = Callable[..., EngineLink]


def launch_engine(url: str, payload: Payloads, timeout_s: float, target: HttpTarget | None = None) -> EngineLink:
    """This process's engine (compiled or Python, harness.load.engine.compiled decides), started and configured."""
    link = EngineLink(url, payload, timeout_s, target=target)
    log.info("load engine: %s", engine_name())
    return link


class EngineSteering:
    def __init__(
        self,
        options: LoadOptions,
        payload: Callable[[], Payloads],
        launch: Launch = launch_engine,
        checks: Callable[[], Sequence[Sequence[Expected]]] = tuple,
        clock: WorkerClock | None = None,
        target: Callable[[], HttpTarget | None] = lambda: None,
    ) -> None:
        self.options = options
        self.clock = clock or WorkerClock()  # the master's start instant, read on this host's clock
        self._payload = payload
        self._checks = checks  # per payload, the outputs its response must carry (none by default)
        self._link_checks: Sequence[Sequence[Expected]] = ()
        self._target = target  # --protocol http: the bodies' path and JSON lengths (None: gRPC)
        self._link_target: HttpTarget | None = None
        self._launch = launch
        self._link: EngineLink | None = None
        self._link_payload: Payloads = b""
        self._lock = threading.Lock()  # gevent's lock in Locust processes (monkey-patched)
        self.lanes = 0
        self._lanes_seq = 0  # the last acknowledged command asked of the engine
        self._acked = 0  # the last acknowledgement the pump has seen
        self._users_started = 0
        self._awaiting_index: set[int] = set()  # open-loop users waiting for their global sender index
        self._trace: Trace | None = None  # --schedule as read (once per path)
        self._engine_trace: tuple[float, ...] | None = None  # the gaps the engine replays now

    def restart(self, options: LoadOptions) -> None:
        """A new test: user indices count from 0 again; nobody waits for an index of the previous test."""
        self.options = options
        self._users_started = 0
        self._awaiting_index.clear()

    def next_user_index(self) -> int:
        self._users_started += 1
        return self._users_started - 1

    def engine(self) -> EngineLink:
        """The engine child, configured with the current request; started on first use.

        Under a lock: preparing and starting yield (gRPC, fork), and users start concurrently.
        """
        with self._lock:
            payload, options, checks, target = self._payload(), self.options, self._checks(), self._target()
            if self._link is None:
                http = (target,) if target is not None else ()
                self._link = self._launch(options.triton_url, payload, options.request_timeout_s, *http)
                self._link_payload, self._link_checks, self._link_target = payload, (), target
            if self._link_payload != payload or self._link_checks != checks or self._link_target != target:
                self._link.configure(options.triton_url, payload, options.request_timeout_s, checks, target)
            self._link_payload, self._link_checks, self._link_target = payload, checks, target
            return self._link

    def owns(self, link: EngineLink) -> bool:
        """Whether `link` is still this process's engine (not closed by us)."""
        return self._link is link

    def set_lanes(self, count: int) -> None:
        self.lanes = max(count, 0)
        if self._link is not None:
            self._lanes_seq = self._link.set_lanes(self.lanes)

    def open_loop_rate(self) -> float:
        """The level's rate: --target-rps, or without it the --schedule file's own. A HarnessError in one line
        where open-loop users cannot send: no positive rate (ZeroRateError), a bad --arrivals or schedule file."""
        parse_arrivals(self.options.arrivals)
        trace = self.trace()
        if self.options.target_rps > 0 or trace is None:
            return check_rate(self.options.target_rps)
        return trace.rate

    def trace(self) -> Trace | None:
        """--schedule as read (ConfigError naming the line of a bad file); None without one."""
        path = self.options.schedule
        if path and (self._trace is None or self._trace.source != path):
            self._trace = read_trace(path)
        return self._trace if path else None

    def await_index(self, user_index: int) -> None:
        """An open-loop user starts: it sends once the master has given it a global sender index.
        Refused at once (a HarnessError, see open_loop_rate) where it could not send what was asked."""
        self.open_loop_rate()
        self._awaiting_index.add(user_index)

    def schedule(self, user_index: int, sender: int) -> None:
        """User `user_index` sends as global sender `sender` of the level's num_users (harness.load.arrivals):
        constant or Poisson, its share of the rate, phase-shifted on the common start instant or on its own seed;
        gamma or a schedule file, its slots of the level's common stream."""
        if user_index not in self._awaiting_index:
            return  # stopped (or from another test) before the index came
        self._awaiting_index.discard(user_index)
        options, rate, trace = self.options, self.open_loop_rate(), self.trace()
        kind = TRACE if trace is not None else options.arrivals
        start = self.clock.engine_time(options.start_at) if options.start_at else time.time()
        link = self.engine()
        if not is_common_stream(kind):
            seed = sender_seed(options.input_seed, sender)
            share = sender_rate(rate, options.num_users)
            phased = start + sender_phase_s(sender, rate)
            link.schedule(Schedule(user_index, share, kind, seed, options.max_in_flight, phased, sender, options.num_users))
            return
        if trace is not None and (gaps := trace.scaled(rate)) != self._engine_trace:
            link.set_trace(gaps)
            self._engine_trace = gaps
        link.schedule(
            Schedule(user_index, rate, kind, options.input_seed, options.max_in_flight, start, sender, options.num_users)
        )

    def unschedule(self, user_index: int) -> None:
        self._awaiting_index.discard(user_index)
        if self._link is not None:
            self._link.unschedule(user_index)

    def acknowledge(self, seq: int | None) -> None:
        """The pump saw the engine acknowledge command `seq` (every result before it is counted)."""
        self._acked = seq or self._acked

    def drain(self, timeout_s: float = 2.0) -> None:
        """Stop every lane and schedule and wait until the engine's results up to now have been pumped in.

        Waits with time.sleep, which Locust's gevent patching makes cooperative, so the pump runs meanwhile.
        """
        if self._link is None:
            return
        self.lanes = 0
        self._lanes_seq = self._link.stop()
        deadline = time.monotonic() + timeout_s
        while self._acked < self._lanes_seq and time.monotonic() < deadline:
            time.sleep(0.005)

    def close(self) -> None:
        """Stop the engine; a later engine() starts a new one, whose acknowledgements count from 1 again."""
        link, self._link = self._link, None  # first: the pump then sees its engine end as ours, not a crash
        if link is not None:
            link.close()
        self._lanes_seq = self._acked = 0
        self._engine_trace = None
