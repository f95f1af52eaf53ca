"""Who may send a sweep's load: workers announce themselves, the master accepts or refuses them and notices losses.

A worker started anywhere (`python3 -m harness.locustfile --worker --master-host H --master-port P ...`) sends
one `harness_hello` right after connecting: harness and Locust versions, the options that shape its requests,
its host and load engine. The master compares them with its own and refuses a mismatch with a one-line reason
(`harness_refused`; the worker logs it and exits non-zero), because a worker of another version or model would
silently measure something else. Then the worker measures its clock against the master's in a few round trips
(`harness_clock_ask`/`_tell`, as NTP does: harness.load.clock) and tells the master the offset it will apply
(`harness_clock_set`); a worker counts as ready only then, so no schedule starts on an unmeasured clock. The master
then watches the accepted workers: one that quits, or that Locust marks `missing` after missed heartbeats, is
lost, never silently.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from importlib.metadata import version
from typing import TYPE_CHECKING, Any, Callable

from harness import __version__
from harness.load.clock import EXCHANGES, ClockSample, WorkerClock, best_sample, clock_sample

if TYPE_CHECKING:
    from locust.env import Environment
    from locust.runners import MasterRunner

# Locust itself is imported only inside the functions that run in a Locust process: importing it patches the
# importing process for gevent, and the pure parts here (worker_command, mismatch) are used by tests and tools.

log = logging.getLogger("harness")
HELLO = "harness_hello"
REFUSED = "harness_refused"
CLOCK_ASK = "harness_clock_ask"  # worker -> master: {"t0"}, on the worker's clock
CLOCK_TELL = "harness_clock_tell"  # master -> worker: {"t0", "t1", "t2"}, t1 and t2 on the master's clock
CLOCK_SET = "harness_clock_set"  # worker -> master: {"offset_ms", "delay_ms"}, the offset it applies from now on
# Between levels a worker leaves Locust's client list for a moment (client_stopped, then client_ready again);
# gone for longer than this, it quit.
ABSENT_GRACE_S = 3.0
# The options that change what a worker sends; they must be the master's.
COMPARED_OPTIONS = ("model", "batch_size", "input_seed", "arrivals", "schedule", "mix")
REFUSED_EXIT_CODE = 3


@dataclass(frozen=True)
class WorkerInfo:
    """An accepted worker, as it announced itself."""

    client_id: str
    host: str
    engine: str
    pid: int


@dataclass(frozen=True)
class LostWorker:
    worker: WorkerInfo
    reason: str  # "exited (code -9)", "missed its heartbeats", "quit"

    def __str__(self) -> str:
        return f"worker {self.worker.host} pid {self.worker.pid} {self.reason}"


def host_label(master_host: str | None = None, master_port: int = 0) -> str:
    """This machine's name and the address it reaches the master from (hostnames repeat across containers)."""
    name = socket.gethostname()
    if not master_host:
        return name
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((master_host, master_port or 1))  # UDP: no packet leaves, the route picks the source
            return f"{name} ({probe.getsockname()[0]})"
    except OSError:
        return name


def compared_options(parsed: Any) -> dict[str, Any]:
    return {name: getattr(parsed, name, None) for name in COMPARED_OPTIONS}


def announcement(parsed: Any, host: str, engine: str) -> dict[str, Any]:
    return {
        "harness": __version__,
        "locust": version("locust"),
        "options": compared_options(parsed),
        "host": host,
        "engine": engine,
        "pid": os.getpid(),
    }


def mismatch(master: dict[str, Any], worker: dict[str, Any], options: bool = True) -> str | None:
    """Why a worker cannot take part, in one line; None when it matches the master (`options`: compare them too)."""
    for key, what in (("harness", "harness version"), ("locust", "Locust version")):
        if worker.get(key) != master[key]:
            return f"{what} {worker.get(key)} differs from the master's {master[key]}; install {master[key]}"
    for name, value in master["options"].items() if options else ():
        theirs = worker.get("options", {}).get(name)
        if theirs != value:
            flag = "--" + name.replace("_", "-")
            return f"{flag} {theirs} differs from the master's {value}; start the worker with {flag} {value}"
    return None


def worker_command(master_host: str, master_port: int, parsed: Any = None) -> str:
    """The line that starts a worker anywhere the harness is installed (any folder, a wheel: the locustfile is
    found as a module, not by a path that holds only in a checkout), with the options the master checks."""
    line = f"python3 -m harness.locustfile --worker --master-host {master_host} --master-port {master_port}"
    if parsed is None:
        return line
    options = compared_options(parsed)
    return line + "".join(f" --{name.replace('_', '-')} {value}" for name, value in options.items() if value not in ("", None))


def install_worker(environment: Environment, host: str, engine: str, clock: WorkerClock) -> None:
    """Worker side: announce ourselves, then measure our clock against the master's; on refusal, say why in one
    line and exit non-zero."""
    from locust.runners import WorkerRunner

    runner = environment.runner
    assert isinstance(runner, WorkerRunner)
    runner.register_message(REFUSED, _on_refused, concurrent=True)
    runner.send_message(HELLO, announcement(environment.parsed_options, host, engine))
    ClockHandshake(runner, clock).start()


class ClockHandshake:
    """Worker side: EXCHANGES round trips, one after the other; the best sets the clock's offset."""

    def __init__(self, runner: Any, clock: WorkerClock) -> None:
        self.runner, self.clock = runner, clock
        self.samples: list[ClockSample] = []
        runner.register_message(CLOCK_TELL, self._on_tell)  # inline, not a new greenlet: t3 is stamped at once

    def start(self) -> None:
        self.runner.send_message(CLOCK_ASK, {"t0": self.clock.now()})

    def _on_tell(self, environment: Environment, msg: Any, **_: Any) -> None:
        t3 = self.clock.now()
        self.samples.append(clock_sample(msg.data["t0"], msg.data["t1"], msg.data["t2"], t3))
        if len(self.samples) < EXCHANGES:
            self.start()
            return
        best = best_sample(self.samples)
        self.clock.offset_s = best.offset_s
        log.info("clock offset against the master: %+.3f ms (round trip %.3f ms)", best.offset_s * 1e3, best.delay_s * 1e3)
        self.runner.send_message(CLOCK_SET, {"offset_ms": best.offset_s * 1e3, "delay_ms": best.delay_s * 1e3})


def _on_clock_ask(environment: Environment, msg: Any, **_: Any) -> None:
    """Master side of one round trip: the master's clock when the ask came and as the answer leaves."""
    t1 = time.time()
    assert environment.runner is not None
    environment.runner.send_message(CLOCK_TELL, {"t0": msg.data["t0"], "t1": t1, "t2": time.time()}, client_id=msg.node_id)


def _on_refused(environment: Environment, msg: Any, **_: Any) -> None:
    log.error("refused by the master: %s", msg.data["reason"])
    environment.process_exit_code = REFUSED_EXIT_CODE
    assert environment.runner is not None
    environment.runner.quit()


class Roster:
    """Master side: the accepted workers, the refusals, and the workers lost since the last look."""

    def __init__(self, environment: Environment, notify: Callable[[str], None] | None = None) -> None:
        self.environment = environment
        self.notify = notify or (lambda line: log.warning("%s", line))
        # A sweep's options are fixed, so a worker's must match; the web UI's form may still change them.
        self.compare_options = False
        self.accepted: dict[str, WorkerInfo] = {}
        self.refused: list[str] = []
        self.offsets_ms: dict[str, float] = {}  # each worker's clock minus the master's, as it measured it
        self.lost: dict[str, LostWorker] = {}
        self._absent_since: dict[str, float] = {}
        from locust.runners import MasterRunner

        runner = environment.runner
        assert isinstance(runner, MasterRunner)
        runner.register_message(HELLO, self._on_hello)
        runner.register_message(CLOCK_ASK, _on_clock_ask)  # inline: t1 and t2 are stamped as the ask is handled
        runner.register_message(CLOCK_SET, self._on_clock_set)

    @property
    def runner(self) -> MasterRunner:
        from locust.runners import MasterRunner

        runner = self.environment.runner
        assert isinstance(runner, MasterRunner)
        return runner

    @property
    def active(self) -> list[WorkerInfo]:
        return [w for cid, w in self.accepted.items() if cid not in self.lost]

    @property
    def ready(self) -> list[WorkerInfo]:
        """Active workers whose clock offset is measured: those a level may start on."""
        return [w for w in self.active if w.client_id in self.offsets_ms]

    def _on_clock_set(self, environment: Environment, msg: Any, **_: Any) -> None:
        self.offsets_ms[msg.node_id] = float(msg.data["offset_ms"])

    def _on_hello(self, environment: Environment, msg: Any, **_: Any) -> None:
        client_id, data = msg.node_id, msg.data
        master = announcement(environment.parsed_options, "", "")
        reason = mismatch(master, data, options=self.compare_options)
        if reason is not None:
            self._refuse(client_id, f"{data.get('host', client_id)}: {reason}")
            return
        self.accepted[client_id] = WorkerInfo(client_id, data["host"], data["engine"], int(data["pid"]))

    def _refuse(self, client_id: str, reason: str) -> None:
        from harness.load.locust_internals import drop_from_dispatch  # imports Locust: only in a Locust process

        self.refused.append(reason)
        self.notify(f"refused worker {reason}")
        runner = self.runner
        node = runner.clients.get(client_id)
        if node is not None:
            del runner.clients[client_id]
            drop_from_dispatch(runner, node)
        runner.send_message(REFUSED, {"reason": reason}, client_id=client_id)

    def mark_lost(self, client_id: str, reason: str) -> LostWorker | None:
        if client_id in self.lost or client_id not in self.accepted:
            return None
        self.lost[client_id] = LostWorker(self.accepted[client_id], reason)
        return self.lost[client_id]

    def check(self) -> list[LostWorker]:
        """Accepted workers lost since the previous check: Locust marked them missing, or they left for good."""
        found = []
        now = time.monotonic()
        for client_id in list(self.accepted):
            if client_id in self.lost:
                continue
            node = self.runner.clients.get(client_id)
            if node is not None:
                self._absent_since.pop(client_id, None)
                reason = "missed its heartbeats" if node.state == "missing" else None  # locust.runners.STATE_MISSING
            else:
                since = self._absent_since.setdefault(client_id, now)
                reason = "quit" if now - since > ABSENT_GRACE_S else None
            if reason and (lost := self.mark_lost(client_id, reason)):
                found.append(lost)
        return found
