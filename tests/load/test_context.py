"""LoadContext, the facade the plugin and users call: one engine and one control channel kept across tests on
the same server (reopening gRPC channels under gevent between tests crashed grpc's poller), both replaced when
the server changes. A fake engine (helpers/fake_engine.py) and a fake control client stand in."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from harness.errors import ModelError
from harness.load.context import LoadContext
from harness.load.engine.link import EngineLink
from harness.load.options import LoadOptions
from helpers import fake_engine

OPTIONS = LoadOptions(triton_url="127.0.0.1:9", model="m")


class UnknownModelControl:
    closed = 0

    def model_spec(self, model: str) -> None:
        raise ModelError(f"unknown model {model!r}")

    def close(self) -> None:
        UnknownModelControl.closed += 1


def context(tmp_path: Path) -> LoadContext:
    command = fake_engine.command({}, tmp_path)
    result = LoadContext(OPTIONS, lambda url, body, timeout: EngineLink(url, body, timeout, command=command))
    result.source._connect = lambda url: UnknownModelControl()  # type: ignore[assignment, return-value]
    return result


def test_a_new_test_on_the_same_server_keeps_the_engine_and_a_new_server_replaces_it(tmp_path: Path) -> None:
    UnknownModelControl.closed = 0
    load = context(tmp_path)
    load.engine()
    load.set_lanes(load.lanes + 2)
    load.restart(replace(OPTIONS, start_at=5.0))
    load.engine()
    assert UnknownModelControl.closed == 0
    load.restart(replace(OPTIONS, triton_url="127.0.0.2:9"))
    assert UnknownModelControl.closed == 1
    load.engine()
    load.close()
    commands = [(c["op"], c.get("url")) for c in fake_engine.received(tmp_path)]
    assert commands == [("config", "127.0.0.1:9"), ("lanes", None), ("quit", None), ("config", "127.0.0.2:9"), ("quit", None)]


def test_a_refused_user_is_the_processes_first_error_until_the_next_test(tmp_path: Path) -> None:
    load = context(tmp_path)
    load.refuse("open-loop users need a target rate")
    assert load.counters.first_error == "open-loop users need a target rate"
    load.restart(OPTIONS)
    assert load.counters.first_error is None
    load.close()


def test_a_new_protocol_on_the_same_server_replaces_the_engine_with_one_sent_http_bodies(tmp_path: Path) -> None:
    """An engine speaks one protocol for its life: --protocol http (the web form's field) gets a new one, whose
    config carries the HTTP target (protocol.py) and a KServe v2 body, not a ModelInferRequest."""
    command = fake_engine.command({}, tmp_path)
    load = LoadContext(OPTIONS, lambda *args: EngineLink(*args[:3], command=command, target=(args[3:] or (None,))[0]))
    load.source._connect = lambda url, **protocol: UnknownModelControl()  # type: ignore[assignment, return-value]
    load.engine()
    load.restart(replace(OPTIONS, protocol="http"))
    load.engine()
    load.close()
    configs = [c for c in fake_engine.received(tmp_path) if c["op"] == "config"]
    assert [c.get("protocol") for c in configs] == [None, "http"]
    assert configs[1]["path"] == "/v2/models/m/infer"
    # (the fake logs each body's length) no tensors for an unknown model: the JSON header is the whole body
    assert configs[1]["header_lengths"] == configs[1]["payloads"] and configs[1]["payloads"][0] > 0
    assert [c["op"] for c in fake_engine.received(tmp_path)].count("quit") == 2
