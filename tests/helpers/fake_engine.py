"""A fake load engine at the frame-protocol seam: a real child process that speaks harness.load.engine.protocol
over stdin/stdout, logs every command it receives and answers with scripted results frames.

    python tests/helpers/fake_engine.py SCRIPT.json LOG.jsonl

SCRIPT is {"on_config": [frame, ...], "on_ack": {"<seq>": [frame, ...]}, "ack_delay_s": float, "exit": bool}:
the frames sent after the first "config", the frames sent before the acknowledgement of command `seq` (the
last of them carries the ack, as the real engines send the results so far with it), how long to wait before
answering a command with a seq, and whether to exit right after the config frames (an engine that dies). A frame
is {"lat": [us, ...], "err": [[us, message], ...], "cpu": s, "late", "max_lag_ms", "dropped", "in_flight",
"sent": [wall-clock s, ...], "lag": [us, ...]}; "cpu" and "in_flight" carry on from the previous frame where not given. Each
command is one JSON line of LOG (payload bytes as their length, "payloads" as a list of lengths, a trace's "gaps"
as numbers).

`command(script, tmp_path)` writes the script and returns the command line an EngineLink starts.
"""

from __future__ import annotations

import array
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout under test, also when run as a script

from harness.load.engine import protocol  # noqa: E402
from harness.load.engine.protocol import Batch  # noqa: E402


def command(script: dict[str, Any], folder: Path) -> list[str]:
    """Write `script` into `folder` and return the command that starts a fake engine playing it."""
    path = folder / "fake_engine_script.json"
    path.write_text(json.dumps(script))
    return [sys.executable, str(Path(__file__).resolve()), str(path), str(folder / "fake_engine_log.jsonl")]


def received(folder: Path) -> list[dict[str, Any]]:
    """The commands the fake engine started by `command(..., folder)` received, in order."""
    log = folder / "fake_engine_log.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def frame(lat: Sequence[int] = (), err: Sequence[Sequence[Any]] = (), **counts: Any) -> dict[str, Any]:
    """A scripted results frame (JSON-friendly); "cpu" and "in_flight", where not given, carry on from the last."""
    return {"lat": list(lat), "err": [list(e) for e in err], **counts}


_state = {"cpu": 0.0, "in_flight": 0}  # as a real engine's: its CPU so far and the requests in flight carry on


def _batch(spec: dict[str, Any], ack: int | None = None) -> bytes:
    _state.update({key: spec[key] for key in _state if key in spec})
    return Batch(
        array.array("I", spec.get("lat", [])),
        [(int(us), str(m)) for us, m in spec.get("err", [])],
        float(_state["cpu"]),
        ack,
        int(spec.get("late", 0)),
        float(spec.get("max_lag_ms", 0.0)),
        int(spec.get("dropped", 0)),
        int(_state["in_flight"]),
        array.array("d", spec.get("sent", [])),
        array.array("I", spec.get("lag", [])),
    ).encode()


def _loggable(key: str, value: Any) -> Any:
    """A command's field as logged: a trace's gaps as numbers, other bytes as their length."""
    if key == "gaps":
        return list(array.array("d", value))
    if isinstance(value, bytes):
        return len(value)
    return [len(p) for p in value] if key == "payloads" else value


def main(script_path: str, log_path: str) -> int:
    script = json.loads(Path(script_path).read_text())
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    configured = False
    with open(log_path, "a") as log:
        while (message := protocol.read_frame(stdin)) is not None:
            logged = {k: _loggable(k, v) for k, v in message.items()}
            log.write(json.dumps(logged) + "\n")
            log.flush()
            if message["op"] == protocol.QUIT:
                return 0
            if message["op"] == protocol.CONFIG and not configured:
                configured = True
                for spec in script.get("on_config", []):
                    stdout.write(_batch(spec))
                stdout.flush()
                if script.get("exit"):
                    return 3
            if "seq" in message:
                time.sleep(float(script.get("ack_delay_s", 0.0)))
                specs = script.get("on_ack", {}).get(str(message["seq"]), [])
                for spec in specs[:-1]:
                    stdout.write(_batch(spec))
                stdout.write(_batch(specs[-1] if specs else {}, ack=message["seq"]))
                stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
