"""The load engines (compiled and Python) behind one protocol: same schedules, same results, same errors."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from harness.errors import HarnessError
from harness.load.arrivals import schedule
from harness.load.engine import compiled as native_engine
from harness.load.engine.link import Batch, EngineLink
from harness.load.engine.protocol import Schedule
from harness.load.engine.validation import Expected
from harness.triton.control import ControlClient, make_inputs
from harness.triton.request import serialize_request
from helpers.recorder import recorded, recording
from helpers.slow_grpc import SlowServer, slow_server

ENGINES = ["native", "python"]


@pytest.fixture()
def engine_choice(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv(native_engine.ENGINE_ENV, request.param)
    native_engine.engine_command.cache_clear()
    yield request.param
    native_engine.engine_command.cache_clear()


@pytest.mark.parametrize(
    ("rate", "kind", "seed"),
    [
        (100.0, "poisson", 7),
        (2500.0, "poisson", 0),
        (37.5, "poisson", 2**40 + 3),
        (333.0, "constant", 1),
        (200.0, "gamma:3", 7),  # shape 1/9: CPython's algorithm GS
        (150.0, "gamma:1", 2),  # shape 1: its exponential branch
        (80.0, "gamma:0.5", 2**33),  # shape 4: Cheng's algorithm
    ],
)
def test_compiled_schedule_is_the_python_schedule(rate: float, kind: str, seed: int) -> None:
    printed = subprocess.run(
        [str(native_engine.build()), "--schedule", str(rate), kind, str(seed), "2000"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert [float(t) for t in printed] == schedule(rate, kind, seed, 2000)


@pytest.mark.parametrize(("kind", "index", "senders"), [("gamma:3", 0, 1), ("gamma:2", 2, 3), ("trace", 1, 4), ("trace", 0, 1)])
def test_compiled_common_stream_slots_are_the_python_ones(kind: str, index: int, senders: int) -> None:
    """A sender's slots of a common stream (gamma from one seed, a trace from its gaps on stdin), phase included."""
    trace = [0.004, 0.0, 0.0125, 0.001, 0.03] if kind == "trace" else []
    printed = subprocess.run(
        [str(native_engine.build()), "--schedule", "120", kind, "5", "300", "0.25", str(index), str(senders)],
        input="".join(f"{gap!r}\n" for gap in trace),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert [float(t) for t in printed] == schedule(120.0, kind, 5, 300, 0.25, index, senders, trace)


def next_batch(link: EngineLink) -> Batch:
    batch = link.read()
    assert batch is not None, "the engine exited"
    return batch


def run_lanes(link: EngineLink, lanes: int, wanted: int) -> tuple[list[int], list[tuple[int, str]]]:
    """Results of `lanes` closed-loop lanes until `wanted` requests are done, then stopped and acknowledged."""
    link.set_lanes(lanes)
    latencies: list[int] = []
    errors: list[tuple[int, str]] = []
    while len(latencies) + len(errors) < wanted:
        batch = next_batch(link)
        latencies += batch.latencies_us
        errors += batch.errors
    seq = link.stop()
    while (batch := next_batch(link)).ack != seq:
        latencies += batch.latencies_us
        errors += batch.errors
    latencies += batch.latencies_us
    errors += batch.errors
    return latencies, errors


def served_at_least(control: ControlClient, before: int, wanted: int, timeout_s: float = 5.0) -> int:
    """Triton's success count since `before`, once it reaches `wanted` (it counts a request as it releases it,
    a moment after the reply) or the timeout passes."""
    deadline = time.monotonic() + timeout_s
    while (served := control.statistics("identity").success_count - before) < wanted and time.monotonic() < deadline:
        time.sleep(0.05)
    return served


@pytest.mark.integration
@pytest.mark.parametrize("engine_choice", ENGINES, indirect=True)
def test_lanes_report_every_request_and_nothing_after_a_stop(
    engine_choice: str, control: ControlClient, triton_url: str
) -> None:
    control.load("identity")
    payload = serialize_request("identity", make_inputs(control.model_spec("identity"), 1, 0))
    link = EngineLink(triton_url, payload, 10.0)
    try:
        before = control.statistics("identity").success_count
        latencies, errors = run_lanes(link, 4, 300)
        assert not errors and len(latencies) >= 300
        assert all(0 < micros < 2_000_000 for micros in latencies)
        served = served_at_least(control, before, len(latencies))
        assert len(latencies) <= served <= len(latencies) + 4  # the 4 cancelled at the stop may have been served
        seq = link.set_lanes(0)
        quiet = next_batch(link)  # after a stop's ack, nothing from before it
        assert quiet.ack == seq and len(quiet.latencies_us) == 0 and not quiet.errors
        assert quiet.cpu_s > 0
    finally:
        link.close()


@pytest.mark.parametrize("engine_choice", ENGINES, indirect=True)
def test_a_stop_and_an_exit_let_the_requests_in_flight_finish(engine_choice: str) -> None:
    """Never a cancelled request: at a level's stop the lanes end after their request in flight (whose result is
    dropped), and an exit waits for them (up to 3 s), for closed and open loop alike."""
    with slow_server(delay_s=0.4) as server:
        link = EngineLink(server.url, b"", 10.0)
        try:
            link.set_lanes(4)
            assert server.wait_for("started", 4) == 4
            seq = link.stop()
            while next_batch(link).ack != seq:
                pass
            assert server.wait_for("completed", 4) == 4 and server.cancelled == 0
            seq = link.set_lanes(0)  # the next frame: this ack, with nothing of the 4 that finished after the stop
            quiet = next_batch(link)
            assert quiet.ack == seq and not quiet.latencies_us and not quiet.errors
            link.schedule(Schedule(1, 50.0, "constant", 0, 1000))
            link.set_lanes(2)
            assert server.wait_for("started", 10) >= 10
        finally:
            link.close()  # an exit with requests in flight
        started = server.started
        assert server.wait_for("completed", started) == started and server.cancelled == 0, vars(server)


def acknowledged(link: EngineLink, seq: int) -> None:
    while next_batch(link).ack != seq:
        pass


def all_finished(server: SlowServer, settle_s: float = 0.2) -> int:
    """Once no new request has started for `settle_s`, wait for every started one to end; returns how many."""
    started = -1
    while started != server.started:
        started = server.started
        time.sleep(settle_s)
    return server.wait_for("completed", started)


@pytest.mark.parametrize("engine_choice", ENGINES, indirect=True)
def test_lanes_going_down_and_an_unschedule_cancel_nothing(engine_choice: str) -> None:
    """What a level's stop sends first, with requests in flight: fewer lanes (closed loop) and `unschedule` (open
    loop). The lanes and the schedule that end let their requests finish; none is cancelled."""
    with slow_server(delay_s=0.4) as server:
        link = EngineLink(server.url, b"", 10.0)
        try:
            link.set_lanes(4)
            assert server.wait_for("started", 4) == 4
            acknowledged(link, link.set_lanes(1))  # 3 lanes end, each with a request in flight
            assert server.wait_for("completed", 4) >= 4 and server.cancelled == 0, vars(server)
            assert server.wait_for("started", 6) >= 6  # the lane that stays goes on
            acknowledged(link, link.set_lanes(0))
            assert all_finished(server) == server.started and server.cancelled == 0, vars(server)

            before = server.started
            link.schedule(Schedule(1, 50.0, "constant", 0, 1000))  # 0.4 s each at 50/s: about 20 in flight
            assert server.wait_for("started", before + 10) >= before + 10
            link.unschedule(1)
            assert all_finished(server) == server.started and server.cancelled == 0, vars(server)
            assert server.started - before < 50  # the schedule did end
        finally:
            link.close()


@pytest.mark.integration
def test_both_engines_report_tritons_error_alike(monkeypatch: pytest.MonkeyPatch, triton_url: str) -> None:
    messages = {}
    for engine in ENGINES:
        monkeypatch.setenv(native_engine.ENGINE_ENV, engine)
        native_engine.engine_command.cache_clear()
        link = EngineLink(triton_url, serialize_request("no_such_model", {}), 10.0)
        try:
            latencies, errors = run_lanes(link, 2, 20)
        finally:
            link.close()
        assert not latencies and len(errors) >= 20
        messages[engine] = {text for _, text in errors}
    native_engine.engine_command.cache_clear()
    assert messages["native"] == messages["python"]
    (message,) = messages["native"]
    assert message.startswith("NOT_FOUND: ") and "no_such_model" in message


def _filled(value: float) -> bytes:
    return serialize_request("identity", {"INPUT0": np.full((1, 16), value, np.float32)})


def _cycled(values: list[float], count: int) -> list[float]:
    return [values[i % len(values)] for i in range(count)]


@pytest.mark.integration
def test_both_engines_send_their_requests_in_turn(monkeypatch: pytest.MonkeyPatch, triton_url: str, tmp_path: Path) -> None:
    """--input-data's entries, one per send, from the first, in the same order in both engines; a new config starts
    again from its first. What the server executed is recorded by the model itself (helpers.recorder)."""
    for engine in ENGINES:
        monkeypatch.setenv(native_engine.ENGINE_ENV, engine)
        native_engine.engine_command.cache_clear()
        with recording(triton_url, "identity", "INPUT0", "FP32", [16], tmp_path / f"{engine}.txt") as record:
            link = EngineLink(triton_url, [_filled(1.0), _filled(2.0), _filled(3.0)], 10.0)
            try:
                first, errors = run_lanes(link, 1, 20)
                link.configure(triton_url, [_filled(4.0), _filled(5.0)], 10.0)
                second, more_errors = run_lanes(link, 1, 10)
            finally:
                link.close()
            assert not errors and not more_errors and len(first) >= 20 and len(second) >= 10
            seen = recorded(record)
        split = next(i for i, value in enumerate(seen) if value >= 4.0)
        assert split >= 20 and len(seen) - split >= 10, seen
        assert seen == _cycled([1.0, 2.0, 3.0], split) + _cycled([4.0, 5.0], len(seen) - split), (engine, seen)
    native_engine.engine_command.cache_clear()


@pytest.mark.integration
@pytest.mark.parametrize("engine_choice", ENGINES, indirect=True)
def test_open_loop_schedule_sends_at_its_rate(engine_choice: str, control: ControlClient, triton_url: str) -> None:
    control.load("identity")
    payload = serialize_request("identity", make_inputs(control.model_spec("identity"), 1, 0))
    link = EngineLink(triton_url, payload, 10.0)
    try:
        link.schedule(Schedule(1, 400.0, "poisson", 5, 1000))
        started, results, in_flight = time.monotonic(), 0, []
        while time.monotonic() - started < 1.5:
            batch = next_batch(link)
            assert not batch.errors and batch.dropped == 0
            results += len(batch.latencies_us)
            in_flight.append(batch.in_flight)
        elapsed = time.monotonic() - started
        seq = link.stop()
        while next_batch(link).ack != seq:
            pass
    finally:
        link.close()
    assert 0.7 * 400 * elapsed <= results <= 1.3 * 400 * elapsed, (results, elapsed)
    assert max(in_flight) < 50  # identity answers in ~1 ms: a handful at a time, not a backlog


@pytest.mark.integration
@pytest.mark.parametrize("engine_choice", ENGINES, indirect=True)
def test_open_loop_sends_report_their_lag_behind_schedule(engine_choice: str, control: ControlClient, triton_url: str) -> None:
    """Each send's lag, as the engine reports it, is its wall-clock send time minus its intended time on the
    schedule (the common origin plus k gaps), to the microseconds between the engine's two clock readings."""
    control.load("identity")
    payload = serialize_request("identity", make_inputs(control.model_spec("identity"), 1, 0))
    link = EngineLink(triton_url, payload, 10.0)
    rate, start = 200.0, time.time() + 0.3
    sent: list[float] = []
    lags: list[int] = []
    try:
        link.schedule(Schedule(1, rate, "constant", 0, 1000, start))
        while len(sent) < 200:
            batch = next_batch(link)
            assert len(batch.lags_us) == len(batch.sent)
            sent += batch.sent
            lags += batch.lags_us
        seq = link.stop()
        while next_batch(link).ack != seq:
            pass
    finally:
        link.close()
    expected = [(wall - (start + (k + 1) / rate)) * 1e6 for k, wall in enumerate(sent)]
    differences = sorted(abs(lag - reference) for lag, reference in zip(lags, expected, strict=True))
    assert differences[len(differences) // 2] < 50 and differences[-1] < 1000, differences[-5:]
    assert min(lags) >= 0


def test_engine_choice_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(native_engine.ENGINE_ENV, "fortran")
    native_engine.engine_command.cache_clear()
    try:
        with pytest.raises(HarnessError, match="HARNESS_LEAN_ENGINE='fortran'.*native, python or auto"):
            native_engine.engine_command()
        monkeypatch.setenv(native_engine.ENGINE_ENV, "python")
        native_engine.engine_command.cache_clear()
        assert native_engine.engine_command() == (sys.executable, "-m", "harness.load.engine.aio_engine")
        assert native_engine.engine_name() == "python"
    finally:
        native_engine.engine_command.cache_clear()


def test_without_a_compiler_auto_falls_back_and_native_says_how_to_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # nothing built here
    monkeypatch.setattr(native_engine.shutil, "which", lambda name: None)
    native_engine.engine_command.cache_clear()
    try:
        monkeypatch.setenv(native_engine.ENGINE_ENV, "native")
        with pytest.raises(native_engine.NativeEngineUnavailable, match="apt-get install g\\+\\+"):
            native_engine.engine_command()
        monkeypatch.setenv(native_engine.ENGINE_ENV, "auto")
        native_engine.engine_command.cache_clear()
        with caplog.at_level(logging.WARNING, logger="harness"):
            assert native_engine.engine_name() == "python"
        assert "using the Python engine" in caplog.text
    finally:
        native_engine.engine_command.cache_clear()


def test_locust_refuses_an_unknown_engine_choice_in_one_line(tmp_path: Path) -> None:
    locustfile = Path(__file__).resolve().parents[2] / "loadtests" / "triton_grpc.py"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(locustfile),
            "--headless",
            "-u",
            "1",
            "-t",
            "2s",
            "--triton-url",
            "127.0.0.1:1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, native_engine.ENGINE_ENV: "fortran"},
    )
    assert result.returncode == 2
    assert "HARNESS_LEAN_ENGINE='fortran' is not an engine" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.heavy  # compiles the engine into an empty cache
def test_a_cached_engine_that_no_longer_runs_is_rebuilt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    stale = native_engine.binary_path()
    stale.parent.mkdir(parents=True)
    stale.write_text("#!/bin/sh\nexit 127\n")  # as a binary whose shared libraries went away would
    stale.chmod(0o755)
    assert native_engine.build() == stale
    printed = subprocess.run([str(stale), "--schedule", "4", "constant", "0", "2"], capture_output=True, text=True)
    assert printed.stdout.split() == ["0.25", "0.5"]


@pytest.mark.integration
@pytest.mark.parametrize("engine_choice", ENGINES, indirect=True)
def test_responses_are_checked_against_their_entrys_expected_outputs(
    engine_choice: str, control: ControlClient, triton_url: str
) -> None:
    """identity answers its input: entries whose expected outputs differ fail with one line naming the entry and the
    output, the same in both engines; a difference within tolerance, and a right answer, are successes."""
    control.load("identity")
    rng = np.random.default_rng(3)
    inputs = [rng.standard_normal((1, 16)).astype(np.float32) for _ in range(4)]
    payloads = [serialize_request("identity", {"INPUT0": array}) for array in inputs]
    wrong_value = inputs[1].copy()
    wrong_value[0, 2] += 0.5
    other_class = int(np.argmin(inputs[3][0]))
    wrong_top1 = inputs[3].copy()
    wrong_top1[0, other_class] = inputs[3].max() + 1.0

    def expected(array: np.ndarray, atol: float = 0.0, top1: bool = False) -> list[Expected]:
        return [Expected("OUTPUT0", "FP32", (1, 16), array.tobytes(), atol, 0.0, top1)]

    expect = [
        expected(inputs[0]),
        expected(wrong_value),
        expected(inputs[2] + np.float32(1e-7), atol=1e-6),
        expected(wrong_top1, top1=True),
    ]
    link = EngineLink(triton_url, payloads, 10.0)
    try:
        link.configure(triton_url, payloads, 10.0, expect)
        latencies, errors = run_lanes(link, 1, 40)
    finally:
        link.close()
    messages = {message for _, message in errors}
    assert messages == {
        f"validation: entry 1, output 'OUTPUT0': {float(inputs[1][0, 2]):.9g} at element 2, "
        f"expected {float(wrong_value[0, 2]):.9g}",
        f"validation: entry 3, output 'OUTPUT0': top-1 class {int(np.argmax(inputs[3][0]))} in row 0, expected {other_class}",
    }
    assert len(errors) >= 18 and len(latencies) >= 18  # one lane, entries in turn: half of them wrong


def thread_policies(pid: int) -> list[int]:
    """The scheduling policy of each of a process's threads (/proc's stat field 41: 0 ordinary, 1 SCHED_FIFO)."""
    policies = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        policies.append(int(fields[41 - 3]))
    return policies


@pytest.mark.skipif(os.geteuid() != 0, reason="real-time priority is granted to root (CI runs as root)")
@pytest.mark.parametrize(("policy", "fifo_threads"), [(None, 1), ("normal", 0)])
def test_the_compiled_open_loop_sender_runs_at_real_time_priority(
    monkeypatch: pytest.MonkeyPatch, policy: str | None, fifo_threads: int
) -> None:
    """The sender thread (and only it) runs under SCHED_FIFO, so that a busy server on the same cores cannot hold a
    send back; HARNESS_SENDER_POLICY=normal keeps the ordinary policy for every thread."""
    if policy is None:
        monkeypatch.delenv("HARNESS_SENDER_POLICY", raising=False)
    else:
        monkeypatch.setenv("HARNESS_SENDER_POLICY", policy)
    with slow_server(delay_s=0.01) as server:
        link = EngineLink(server.url, b"", 10.0, command=[str(native_engine.build())])
        try:
            link.schedule(Schedule(1, 50.0, "constant", 0, 1000))
            assert server.wait_for("started", 5) >= 5
            assert link.pid is not None
            assert thread_policies(link.pid).count(1) == fifo_threads
        finally:
            link.close()
