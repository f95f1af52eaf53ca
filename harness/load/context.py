"""Per-process state of a load generator, as one handle for the plugin and the users: a thin facade.

One LoadContext per Locust process, shared by its users. Each job lives in a piece of its own:
`options.LoadOptions` (what was asked), `request_source.RequestSource` (the serialized request, built once),
`steering.EngineSteering` (the engine child: lanes, schedules by global sender index, drain),
`counters.LoadCounters` (the window flushed to the master as a WorkerDelta, and lifetime totals) and
`pump.pump` (engine results into the counters and Locust's request event). No Locust or gevent imports: the
users and the plugin hand it what it needs.
"""

from __future__ import annotations

from typing import Any, Callable

from harness.load.aggregate import WorkerDelta
from harness.load.clock import WorkerClock
from harness.load.counters import LoadCounters
from harness.load.engine.compiled import engine_name
from harness.load.engine.link import EngineLink
from harness.load.mix_loads import ModelMix
from harness.load.options import LoadOptions
from harness.load.pump import pump
from harness.load.request_source import RequestSource
from harness.load.steering import EngineSteering, Launch, launch_engine


class LoadContext:
    def __init__(self, options: LoadOptions, launch: Launch = launch_engine) -> None:
        self.options = options
        self.reporter: Any = None  # the local runner's report greenlet
        self.host = ""  # this generator's machine, stamped on every delta (set by the plugin)
        self.pump_greenlets: list[Any] = []  # spawned by the users, one per engine (this module stays gevent-free)
        self.source = RequestSource(options)
        self.clock = WorkerClock()  # the plugin gives a worker its own, measured at the handshake
        self.steering = EngineSteering(
            options, self.source.payloads, launch, self.source.checks, self.clock, self.source.http_target
        )
        self.counters = LoadCounters()
        self._launch = launch
        self.mix: ModelMix | None = ModelMix(options, launch, self.clock) if options.mix else None

    @property
    def lanes(self) -> int:
        return self.steering.lanes

    def next_user_index(self) -> int:
        return self.steering.next_user_index()

    def restart(self, options: LoadOptions) -> None:
        """A new test: fresh counters, and the request rebuilt from the (maybe changed) options.

        Channels stay open across tests and close only when the process quits (or the server changes): closing
        and reopening gRPC channels under gevent between tests has crashed grpc's poller here (epoll_wait: bad
        file descriptor).
        """
        if (options.triton_url, options.protocol) != (self.options.triton_url, self.options.protocol):
            self.close()  # a new server, or a new protocol: an engine speaks one protocol for its life
        self.options = options
        self.source.restart(options)
        self.steering.restart(options)
        self.counters.reset()
        if self.mix is not None and options.mix != self.mix.options.mix:  # the web form changed the mix
            self.mix.close()
            self.mix = None
        if self.mix is None and options.mix:
            self.mix = ModelMix(options, self._launch, self.clock)
        if self.mix is not None:
            self.mix.restart(options)

    def payload(self) -> bytes:
        return self.source.payload()

    def engine(self) -> EngineLink:
        """This process's engine, started (with --mix: every model's, the first returned)."""
        if self.mix is not None:
            self.mix.start()
            return next(iter(self.mix.loads.values())).steering.engine()
        return self.steering.engine()

    def set_lanes(self, count: int) -> None:
        self.steering.set_lanes(count)

    def await_index(self, user_index: int) -> None:
        self.steering.await_index(user_index)

    def schedule(self, user_index: int, sender: int) -> None:
        """User `user_index` got its global index: an open-loop sender's schedule, or with --mix its model."""
        if self.mix is not None:
            self.mix.place(user_index, sender)
            return
        self.steering.schedule(user_index, sender)

    def unschedule(self, user_index: int) -> None:
        if self.mix is not None:
            self.mix.release(user_index)
            return
        self.steering.unschedule(user_index)

    def refuse(self, message: str) -> None:
        """A user that cannot run: carried to the master as this process's error."""
        self.counters.refuse(message)

    def drain(self, timeout_s: float = 2.0) -> None:
        if self.mix is not None:
            self.mix.drain(timeout_s)
        self.steering.drain(timeout_s)

    def pumps(self, fire: Callable[..., Any]) -> list[Callable[[], None]]:
        """What the users spawn, one each: the pump of every engine of this process."""
        if self.mix is not None:
            return self.mix.pumps(self.counters, fire)
        return [lambda: pump(self.steering, self.counters, fire, self.options.model)]

    def flush(self) -> WorkerDelta:
        """What was measured since the last flush, its send times on the master's clock."""
        return self.clock.on_master_clock(self.counters.flush(self.host, engine_name()))

    def flush_models(self) -> dict[str, WorkerDelta]:
        """With --mix, each model's part of the same window (flushed right after flush()); {} without."""
        if self.mix is None:
            return {}
        return {m: self.clock.on_master_clock(d) for m, d in self.mix.flush(self.host, engine_name()).items()}

    def lifetime_totals(self) -> dict[str, Any]:
        return self.counters.lifetime_totals()

    def close(self) -> None:
        """Stop the engine and close the control channel explicitly (one left to the GC can hang the exit)."""
        self.steering.close()
        self.source.close()
        if self.mix is not None:
            self.mix.close()
