"""A process's load when a level serves several models (--mix): one engine child per model, each with its own
request, steering and counters, and the users placed on them by their global index (harness.load.mix).

The engine's config frame is per model, so no engine change is needed: each model's engine sends only that
model's request, and its results are that model's. The process's combined counters (harness.load.counters) take
every engine's results as before; each model's counters take its own, flushed beside them as per-model deltas.
No Locust or gevent imports (the context's pieces are gevent-free).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

from harness.load.aggregate import WorkerDelta
from harness.load.clock import WorkerClock
from harness.load.counters import LoadCounters
from harness.load.mix import MixPlan, parse_mix
from harness.load.options import LoadOptions
from harness.load.pump import pump
from harness.load.request_source import RequestSource
from harness.load.steering import EngineSteering, Launch

SEED_STRIDE = 1_000_003  # open-loop schedules: model i's senders are seeded apart from model 0's


@dataclass
class ModelLoad:
    """One model of the mix in this process: its request, its engine and what it measured."""

    source: RequestSource
    steering: EngineSteering
    counters: LoadCounters = field(default_factory=LoadCounters)


class ModelMix:
    def __init__(self, options: LoadOptions, launch: Launch, clock: WorkerClock) -> None:
        self.plan = MixPlan(parse_mix(options.mix))
        self.options = options
        self.loads: dict[str, ModelLoad] = {}
        for model in self.plan.models:
            mine = replace(options, model=model)
            source = RequestSource(mine)
            steering = EngineSteering(mine, source.payloads, launch, source.checks, clock, source.http_target)
            self.loads[model] = ModelLoad(source, steering)
        self._waiting: dict[int, bool] = {}  # users waiting for their global index -> open loop?
        self._placed: dict[int, tuple[str, bool]] = {}  # users placed -> (model, open loop?)

    def restart(self, options: LoadOptions) -> None:
        self.options = options
        self._waiting.clear()
        self._placed.clear()
        for model, load in self.loads.items():
            mine = replace(options, model=model)
            load.source.restart(mine)
            load.steering.restart(mine)
            load.counters.reset()

    def start(self) -> None:
        """Every model's engine, started and configured (a bad request raises here, as one model's would)."""
        for load in self.loads.values():
            load.steering.engine()

    def pumps(self, counters: LoadCounters, fire: Callable[..., Any]) -> list[Callable[[], None]]:
        """One pump per model's engine: the process's counters and the model's own take its results."""
        return [
            lambda model=model, load=load, index=index: pump(load.steering, counters, fire, model, load.counters, index)
            for index, (model, load) in enumerate(self.loads.items())
        ]

    def await_index(self, user_index: int, open_loop: bool) -> None:
        self._waiting[user_index] = open_loop

    def place(self, user_index: int, index: int) -> None:
        """User `user_index` got global index `index` among the level's users: it loads the model the plan says."""
        if user_index not in self._waiting:
            return  # stopped (or from another test) before its index came
        open_loop = self._waiting.pop(user_index)
        options = self.options
        where = self.plan.assign(index, options.num_users, open_loop)
        steering = self.loads[where.model].steering
        self._placed[user_index] = (where.model, open_loop)
        if not open_loop:
            steering.engine()
            steering.set_lanes(steering.lanes + 1)
            return
        rate = self.plan.rate_of(where.model, options.target_rps)
        seed = options.input_seed + SEED_STRIDE * self.plan.models.index(where.model)  # each model a stream of its own
        steering.options = replace(options, model=where.model, target_rps=rate, num_users=where.count, input_seed=seed)
        steering.await_index(user_index)
        steering.schedule(user_index, where.local_index)

    def release(self, user_index: int) -> None:
        """A user stops: its lane or schedule ends."""
        self._waiting.pop(user_index, None)
        placed = self._placed.pop(user_index, None)
        if placed is None:
            return
        model, open_loop = placed
        steering = self.loads[model].steering
        if open_loop:
            steering.unschedule(user_index)
        else:
            steering.set_lanes(steering.lanes - 1)

    def drain(self, timeout_s: float) -> None:
        for load in self.loads.values():
            load.steering.drain(timeout_s)

    def flush(self, host: str, engine: str) -> dict[str, WorkerDelta]:
        """Each model's window since the previous flush (its CPU is not its own: the process's is shared)."""
        return {model: load.counters.flush(host, engine) for model, load in self.loads.items()}

    def close(self) -> None:
        for load in self.loads.values():
            load.steering.close()
            load.source.close()
