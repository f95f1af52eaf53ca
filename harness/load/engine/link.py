"""The Locust side of the load engine: starts it (compiled or Python, see harness.load.engine.compiled), steers it,
reads its results. The frames are harness.load.engine.protocol's.

Runs under gevent (Locust); the pipes of gevent's subprocess are cooperative, so reading results blocks only
the pump greenlet. The engine is our child, stopped by PID.
"""

from __future__ import annotations

import array
import contextlib
import subprocess
from collections.abc import Sequence
from typing import Any

from harness.load.engine import protocol
from harness.load.engine.compiled import engine_command
from harness.load.engine.protocol import Batch, HttpTarget, Schedule
from harness.load.engine.validation import Expected
from harness.procs import stop_child


class EngineLink:
    def __init__(
        self,
        url: str,
        payload: bytes | Sequence[bytes],
        timeout_s: float,
        command: Sequence[str] | None = None,
        target: HttpTarget | None = None,
    ) -> None:
        """Start the engine: this process's choice (engine_command), or `command` (a test's fake engine)."""
        self.command = tuple(command) if command is not None else engine_command()
        self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
            list(self.command), stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.configure(url, payload, timeout_s, target=target)
        self._seq = 0

    def configure(
        self,
        url: str,
        payload: bytes | Sequence[bytes],
        timeout_s: float,
        expect: Sequence[Sequence[Expected]] = (),
        target: HttpTarget | None = None,
    ) -> None:
        """One request, or several that the engine sends in turn (--input-data entries); with `expect`, per request
        the outputs its response must carry (a wrong one is an error: harness.load.engine.validation); with
        `target`, the payloads are HTTP bodies (--protocol http)."""
        requests = {"payload": payload} if isinstance(payload, bytes) else {"payloads": list(payload)}
        checks = {"expect": [[want.frame() for want in entry] for entry in expect]} if expect else {}
        http = target.fields() if target is not None else {}
        self._send({"op": protocol.CONFIG, "url": url, **requests, "timeout": timeout_s, **checks, **http})

    @property
    def pid(self) -> int | None:
        """The engine process's PID while it runs (its threads and counters are read from /proc by benchmarks)."""
        return self._process.pid if self._process is not None else None

    def set_lanes(self, count: int) -> int:
        """Ask for `count` closed-loop lanes; returns the sequence number its acknowledgement will carry."""
        return self._command({"op": protocol.LANES, "n": count})

    def schedule(self, schedule: Schedule) -> None:
        """One open-loop sender (protocol.Schedule): its origin, arrival process and, for a stream common to the
        level's senders, its slots."""
        self._send(schedule.message())

    def set_trace(self, gaps_s: Sequence[float]) -> None:
        """The gaps (seconds) that later "trace" schedules replay, looped."""
        self._send({"op": protocol.TRACE, "gaps": array.array("d", gaps_s).tobytes()})

    def unschedule(self, key: int) -> None:
        self._send({"op": protocol.UNSCHEDULE, "id": key})

    def stop(self) -> int:
        """Stop every lane and schedule; returns the sequence number its acknowledgement will carry."""
        return self._command({"op": protocol.STOP})

    def _command(self, message: dict[str, Any]) -> int:
        self._seq += 1
        self._send({**message, "seq": self._seq})
        return self._seq

    def read(self) -> Batch | None:
        """The next batch of results; None once the engine has gone."""
        process = self._process
        if process is None or process.stdout is None:
            return None
        message = protocol.read_frame(process.stdout)
        return Batch.from_message(message) if message is not None else None

    def close(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            self._write(process, {"op": protocol.QUIT})
            process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            stop_child(process)
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):  # an engine that died leaves the unsent "quit" in its stdin
                    pipe.close()

    def _send(self, message: dict[str, Any]) -> None:
        if self._process is not None:
            self._write(self._process, message)

    @staticmethod
    def _write(process: subprocess.Popen[bytes], message: dict[str, Any]) -> None:
        assert process.stdin is not None
        process.stdin.write(protocol.encode(message))
        process.stdin.flush()
