"""The pump: moves the engine's results into this process's counters and Locust's `request` event.

One pump per process (a greenlet under Locust), reading the engine's results frames until the engine ends.
Every result becomes one `request` event (type "grpc", name = model, time in ms, Triton's message on failure),
so Locust's statistics, web UI and CSVs behave as usual; `fire` is that event's fire, handed in, so no Locust
import here. An engine that ends without being closed by us is said, as the process's first error, instead of
a load that silently stops.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from harness.load.counters import LoadCounters
from harness.load.engine.protocol import Batch
from harness.load.steering import EngineSteering

log = logging.getLogger("harness")

ENGINE_EXITED = "the lean load engine exited; see this process's stderr"


def pump(
    steering: EngineSteering,
    counters: LoadCounters,
    fire: Callable[..., Any],
    model: str,
    also: LoadCounters | None = None,
    engine: int = 0,
) -> None:
    """Until the engine ends: count each batch, fire its events, then pass on its acknowledgement (so a drain
    waiting on it finds the batch already counted). With --mix, `also` counts this engine's model apart, and
    `engine` tells the process's engines apart in the CPU they report."""
    link = steering.engine()
    while (batch := link.read()) is not None:
        counters.take(batch, engine)
        if also is not None:
            also.take(batch)
        fire_requests(fire, model, batch)
        steering.acknowledge(batch.ack)
    if steering.owns(link):
        counters.refuse(ENGINE_EXITED)
        log.error("the lean load engine (%s) exited unexpectedly", " ".join(link.command))


def fire_requests(fire: Callable[..., Any], model: str, batch: Batch) -> None:
    """One Locust `request` event per result of the batch."""
    for micros in batch.latencies_us:
        fire(request_type="grpc", name=model, response_time=micros / 1000.0, response_length=0, exception=None, context={})
    for micros, message in batch.errors:
        fire(
            request_type="grpc",
            name=model,
            response_time=micros / 1000.0,
            response_length=0,
            exception=RuntimeError(message),
            context={},
        )
