"""The engines' open-loop schedules against a real Triton: phase-shifted senders in separate processes merge
into one evenly spaced stream, and the `max_in_flight` cap drops sends instead of queueing them.

Checked against the send times the engines report (their wall clock, comparable across processes) and
Triton's own success count."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from harness.load.arrivals import merged_cv, sender_phase_s, sender_rate
from harness.load.engine import compiled as native_engine
from harness.load.engine.link import Batch, EngineLink
from harness.load.engine.protocol import Schedule
from harness.triton.control import ControlClient, make_inputs
from harness.triton.request import serialize_request

ENGINES = ["native", "python"]


@contextmanager
def engine_link(engine: str, triton_url: str, payload: bytes) -> Iterator[EngineLink]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(native_engine.ENGINE_ENV, engine)
        native_engine.engine_command.cache_clear()
        link = EngineLink(triton_url, payload, 10.0)
    native_engine.engine_command.cache_clear()
    try:
        yield link
    finally:
        link.close()


def collect(link: EngineLink, seconds: float) -> list[Batch]:
    """The engine's frames for `seconds`, then everything up to the acknowledgement of a stop."""
    batches, started = [], time.monotonic()
    while time.monotonic() - started < seconds:
        batch = link.read()
        assert batch is not None, "the engine exited"
        batches.append(batch)
    seq = link.stop()
    while (batch := link.read()) is not None:
        batches.append(batch)
        if batch.ack == seq:
            break
    return batches


def payload_for(control: ControlClient, model: str) -> bytes:
    control.load(model)
    return serialize_request(model, make_inputs(control.model_spec(model), 1, 0))


@pytest.mark.integration
def test_two_engines_as_two_senders_merge_into_a_constant_stream(control: ControlClient, triton_url: str) -> None:
    """Sender 0 on the compiled engine, sender 1 on the Python one, each at half of 100 req/s from one start."""
    payload, rate = payload_for(control, "identity"), 100.0
    with engine_link("native", triton_url, payload) as first, engine_link("python", triton_url, payload) as second:
        start = time.time() + 0.3
        for sender, link in enumerate((first, second)):
            link.schedule(Schedule(1, sender_rate(rate, 2), "constant", 0, 1000, start + sender_phase_s(sender, rate)))
        sent = [[t for b in collect(link, 2.0) for t in b.sent] for link in (first, second)]
    assert all(len(times) >= 70 for times in sent), [len(t) for t in sent]
    assert min(min(times) for times in sent) >= start  # nothing before the common start
    merged = sorted(t for times in sent for t in times if t <= min(max(x) for x in sent))
    gaps = [b - a for a, b in zip(merged, merged[1:], strict=False)]
    median = sorted(gaps)[len(gaps) // 2]
    assert median == pytest.approx(1 / rate, abs=0.002)  # interleaved: 10 ms apart, not pairs every 20 ms
    cv = merged_cv(sent)
    assert cv is not None and cv < 0.25, cv  # pairs would give 1.0; the rest is this shared machine's jitter


@pytest.mark.integration
@pytest.mark.parametrize("engine", ENGINES)
def test_max_in_flight_drops_sends_instead_of_queueing(engine: str, control: ControlClient, triton_url: str) -> None:
    """300 req/s at a ~10 ms model with at most one request outstanding: most sends are dropped and counted."""
    payload = payload_for(control, "fixed_delay")
    before = control.statistics("fixed_delay").success_count
    with engine_link(engine, triton_url, payload) as link:
        started = time.time()
        link.schedule(Schedule(7, 300.0, "constant", 0, 1, started))
        batches = collect(link, 2.0)
        elapsed = time.time() - started
    answered = sum(len(b.latencies_us) for b in batches)
    sent = sum(len(b.sent) for b in batches)
    dropped = sum(b.dropped for b in batches)
    assert max(b.in_flight for b in batches) <= 1
    assert not any(b.errors for b in batches)
    assert 0.85 * 300 * elapsed <= sent + dropped <= 1.05 * 300 * elapsed  # every slot: sent or dropped
    assert dropped > sent > 0  # one ~10 ms request at a time covers at most a third of 3.3 ms slots
    assert sent <= elapsed / 0.0095 + 2  # never more than one at a time through a 10 ms server
    deadline = time.monotonic() + 5
    while (served := control.statistics("fixed_delay").success_count - before) < answered and time.monotonic() < deadline:
        time.sleep(0.05)
    assert answered <= served <= sent  # the one cancelled at the stop may have been served
