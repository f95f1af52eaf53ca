"""Engine steering: what the engine is told, read off a fake engine's log of the frames it received.

Expected schedules follow from the options alone: sender i of n at a total rate R sends R/n requests/s, i/R
seconds after the common start, on seed run_seed * 1_000_003 + i (harness.load.arrivals' rules, written out).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.load.arrivals import ZeroRateError
from harness.load.engine.link import EngineLink
from harness.load.options import LoadOptions
from harness.load.steering import EngineSteering
from helpers import fake_engine

OPTIONS = LoadOptions(
    triton_url="127.0.0.1:9",
    model="m",
    target_rps=30.0,
    num_users=3,
    arrivals="poisson",
    input_seed=7,
    max_in_flight=50,
    request_timeout_s=4.0,
    start_at=1000.0,
)


def steering(tmp_path: Path, options: LoadOptions = OPTIONS, payloads: list[bytes] | None = None) -> EngineSteering:
    """Steering a fake engine; `payloads` (consumed one per engine() call, the last repeated) stand for the request."""
    command = fake_engine.command({}, tmp_path)
    queue = list(payloads or [b"request"])
    payload = lambda: queue.pop(0) if len(queue) > 1 else queue[0]  # noqa: E731
    return EngineSteering(options, payload, lambda url, body, timeout: EngineLink(url, body, timeout, command=command))


def received(tmp_path: Path, engine: EngineSteering) -> list[dict[str, Any]]:
    engine.close()  # the fake engine has read every frame once it has quit
    return fake_engine.received(tmp_path)


def test_open_loop_users_send_as_their_global_sender_index(tmp_path: Path) -> None:
    engine = steering(tmp_path)
    engine.await_index(0)
    engine.await_index(1)
    engine.schedule(1, 2)  # local user 1 is the level's sender 2 (of 3)
    engine.schedule(0, 0)
    schedules = [c for c in received(tmp_path, engine) if c["op"] == "schedule"]
    assert schedules == [
        {
            "op": "schedule",
            "id": 1,
            "rps": 10.0,
            "arrivals": "poisson",
            "seed": 7 * 1_000_003 + 2,
            "max_in_flight": 50,
            "start": pytest.approx(1000.0 + 2 / 30.0),
            "index": 2,
            "senders": 3,
        },
        {
            "op": "schedule",
            "id": 0,
            "rps": 10.0,
            "arrivals": "poisson",
            "seed": 7 * 1_000_003,
            "max_in_flight": 50,
            "start": 1000.0,
            "index": 0,
            "senders": 3,
        },
    ]


def test_the_engine_starts_with_the_request_and_is_reconfigured_only_when_it_changes(tmp_path: Path) -> None:
    engine = steering(tmp_path, payloads=[b"first", b"first", b"second!"])
    engine.engine()
    engine.engine()
    engine.engine()
    configs = [c for c in received(tmp_path, engine) if c["op"] == "config"]
    assert configs == [
        {"op": "config", "url": "127.0.0.1:9", "payload": 5, "timeout": 4.0},
        {"op": "config", "url": "127.0.0.1:9", "payload": 7, "timeout": 4.0},
    ]


def test_an_index_for_a_user_that_stopped_or_belongs_to_another_test_is_ignored(tmp_path: Path) -> None:
    engine = steering(tmp_path)
    engine.engine()
    engine.await_index(0)
    engine.unschedule(0)
    engine.schedule(0, 0)  # came after the user stopped
    engine.await_index(1)
    engine.restart(replace(OPTIONS, start_at=2000.0))
    engine.schedule(1, 1)  # came after the test ended
    engine.schedule(5, 0)  # never asked for
    ops = [c["op"] for c in received(tmp_path, engine)]
    assert ops == ["config", "unschedule", "quit"]


def test_an_open_loop_user_without_a_rate_is_refused_at_once(tmp_path: Path) -> None:
    engine = steering(tmp_path, replace(OPTIONS, target_rps=0.0))
    with pytest.raises(ZeroRateError):
        engine.await_index(0)
    engine.schedule(0, 0)
    assert fake_engine.received(tmp_path) == []  # no engine was even started


def test_gamma_senders_take_their_slots_of_one_common_stream(tmp_path: Path) -> None:
    """gamma:CV: every sender gets the level's whole rate, the run seed itself and the common start (no phase), with
    its index and the sender count: the engine keeps slots index, index + n... of that one stream."""
    engine = steering(tmp_path, replace(OPTIONS, arrivals="gamma:3"))
    engine.await_index(0)
    engine.schedule(0, 2)
    (sent,) = [c for c in received(tmp_path, engine) if c["op"] == "schedule"]
    assert sent == {
        "op": "schedule",
        "id": 0,
        "rps": 30.0,
        "arrivals": "gamma:3",
        "seed": 7,
        "max_in_flight": 50,
        "start": 1000.0,
        "index": 2,
        "senders": 3,
    }


def test_a_schedule_file_goes_to_the_engine_once_scaled_to_the_rate(tmp_path: Path) -> None:
    """--schedule: the file's gaps, time-scaled to --target-rps (30 req/s for a file of 100 req/s), go to the
    engine before the first trace schedule and again only when they change; without a rate, the file's own."""
    intervals = tmp_path / "intervals.txt"
    intervals.write_text("5000\n15000\n")  # 2 sends per 20 ms: 100 req/s
    engine = steering(tmp_path, replace(OPTIONS, schedule=str(intervals)))
    assert engine.open_loop_rate() == 30.0
    for user in (0, 1):
        engine.await_index(user)
        engine.schedule(user, user)
    engine.restart(replace(OPTIONS, schedule=str(intervals), target_rps=0.0))
    assert engine.open_loop_rate() == pytest.approx(100.0)
    engine.await_index(0)
    engine.schedule(0, 0)
    commands = [c for c in received(tmp_path, engine) if c["op"] in ("trace", "schedule")]
    assert [c["op"] for c in commands] == ["trace", "schedule", "schedule", "trace", "schedule"]
    assert commands[0]["gaps"] == pytest.approx([0.005 * 100 / 30, 0.015 * 100 / 30])
    assert commands[3]["gaps"] == pytest.approx([0.005, 0.015])
    assert [(c["arrivals"], c["rps"], c["index"], c["senders"]) for c in commands[1:3]] == [
        ("trace", 30.0, 0, 3),
        ("trace", 30.0, 1, 3),
    ]


def test_a_bad_schedule_file_refuses_the_user_naming_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "intervals.txt"
    bad.write_text("100\nten\n")
    engine = steering(tmp_path, replace(OPTIONS, schedule=str(bad)))
    with pytest.raises(ConfigError, match="line 2: 'ten' is not a number"):
        engine.await_index(0)


def test_lanes_are_counted_and_acknowledged_commands_numbered(tmp_path: Path) -> None:
    engine = steering(tmp_path)
    engine.set_lanes(2)  # before the engine exists: remembered, nothing sent
    engine.engine()
    engine.set_lanes(engine.lanes + 1)
    engine.set_lanes(-1)
    assert engine.lanes == 0
    commands = received(tmp_path, engine)
    assert [c for c in commands if c["op"] in ("lanes", "stop")] == [
        {"op": "lanes", "n": 3, "seq": 1},
        {"op": "lanes", "n": 0, "seq": 2},
    ]


def test_user_indices_count_from_zero_in_every_test(tmp_path: Path) -> None:
    engine = steering(tmp_path)
    assert [engine.next_user_index() for _ in range(3)] == [0, 1, 2]
    engine.restart(OPTIONS)
    assert engine.next_user_index() == 0


def test_several_requests_go_to_the_engine_as_one_list(tmp_path: Path) -> None:
    engine = steering(tmp_path, payloads=[(b"a", b"bb", b"ccc")])  # type: ignore[list-item]
    engine.engine()
    engine.engine()
    configs = [c for c in received(tmp_path, engine) if c["op"] == "config"]
    assert configs == [{"op": "config", "url": "127.0.0.1:9", "payloads": [1, 2, 3], "timeout": 4.0}]


def test_the_schedule_origin_is_the_masters_instant_on_this_hosts_clock(tmp_path: Path) -> None:
    engine = steering(tmp_path)
    engine.clock.offset_s = 0.004  # this host runs 4 ms ahead of the master
    engine.await_index(0)
    engine.schedule(0, 2)
    (schedule,) = [c for c in received(tmp_path, engine) if c["op"] == "schedule"]
    assert schedule["start"] == pytest.approx(OPTIONS.start_at + 0.004 + 2 / OPTIONS.target_rps)
