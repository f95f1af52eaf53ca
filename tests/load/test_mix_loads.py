"""A worker's load with --mix (harness.load.mix_loads through the LoadContext): one engine per model, users placed
on a model by their global index, closed-loop lanes and open-loop schedules on that model's engine only, and each
model's results counted apart. Fake engines (helpers/fake_engine.py) at the frame-protocol seam, one folder each."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

from harness.errors import ModelError
from harness.load.context import LoadContext
from harness.load.engine.link import EngineLink
from harness.load.options import LoadOptions
from helpers import fake_engine

OPTIONS = LoadOptions(triton_url="127.0.0.1:9", model="a", mix="a=3,b=1", num_users=4, start_at=1000.0)


class NoServer:
    def model_spec(self, model: str) -> None:
        raise ModelError(f"unknown model {model!r}")

    def close(self) -> None:
        return None


def mixed(tmp_path: Path, scripts: dict[str, dict] | None = None) -> LoadContext:
    """A context whose engines start, in the mix's order, as fake engines logging into tmp_path/a and tmp_path/b."""
    folders = iter(tmp_path / name for name in itertools.cycle("ab"))

    def launch(url: str, body: bytes | tuple[bytes, ...], timeout: float) -> EngineLink:
        folder = next(folders)
        folder.mkdir(exist_ok=True)
        return EngineLink(url, body, timeout, command=fake_engine.command((scripts or {}).get(folder.name, {}), folder))

    context = LoadContext(OPTIONS, launch)
    assert context.mix is not None
    for load in context.mix.loads.values():
        load.source._connect = lambda url: NoServer()  # type: ignore[assignment, method-assign, return-value]
    return context


def _ops(folder: Path, op: str) -> list[dict]:
    return [c for c in fake_engine.received(folder) if c["op"] == op]


def test_closed_loop_users_become_lanes_of_their_models_engine(tmp_path: Path) -> None:
    context = mixed(tmp_path)
    context.engine()
    assert context.mix is not None
    for user in range(4):  # as a worker's users would, each with the global index the master gave it
        context.mix.await_index(user, open_loop=False)
        context.schedule(user, user)
    context.unschedule(0)  # a user of a stops: a's lanes go down, b's stay
    context.close()
    assert [c["n"] for c in _ops(tmp_path / "a", "lanes")] == [1, 2, 3, 2]
    assert [c["n"] for c in _ops(tmp_path / "b", "lanes")] == [1]


def test_open_loop_senders_split_the_rate_by_weight_each_on_its_models_engine(tmp_path: Path) -> None:
    context = mixed(tmp_path)
    context.restart(replace(OPTIONS, target_rps=80.0))
    context.engine()
    assert context.mix is not None
    for user in range(4):
        context.mix.await_index(user, open_loop=True)
        context.schedule(user, user)
    context.close()
    a, b = _ops(tmp_path / "a", "schedule"), _ops(tmp_path / "b", "schedule")
    assert [(s["rps"], s["index"], s["senders"]) for s in a] == [(30.0, 0, 2), (30.0, 1, 2)]  # 60 req/s
    assert [(s["rps"], s["index"], s["senders"]) for s in b] == [(10.0, 0, 2), (10.0, 1, 2)]  # 20 req/s
    assert {s["seed"] for s in a}.isdisjoint({s["seed"] for s in b})  # two streams, not one sent twice


def test_each_models_results_are_counted_apart_and_together(tmp_path: Path) -> None:
    """Each engine answers its config with one frame and exits; each pump reads its own engine to the end."""
    scripts = {
        "a": {"on_config": [fake_engine.frame([1000, 2000, 3000], cpu=0.5)], "exit": True},
        "b": {"on_config": [fake_engine.frame([9000], err=[[4000, "boom"]], cpu=0.25)], "exit": True},
    }
    context = mixed(tmp_path, scripts)
    context.engine()
    events: list[tuple[str, bool]] = []
    for pump in context.pumps(lambda **event: events.append((event["name"], event["exception"] is not None))):
        pump()
    combined, parts = context.flush(), context.flush_models()
    context.close()
    assert sorted(events) == [("a", False)] * 3 + [("b", False), ("b", True)]
    assert (parts["a"].requests, parts["a"].failures, parts["b"].requests, parts["b"].failures) == (3, 0, 2, 1)
    assert (combined.requests, combined.failures) == (5, 1)
    assert combined.cpu_s >= 0.75  # both engines' CPU, not the last frame's alone
