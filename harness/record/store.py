"""Run folder I/O: run.json and levels.csv written atomically, and runs read back from a folder, a run.json
or a report.html that embeds its run. No plotting here."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
from pathlib import Path
from typing import Any

from harness.analysis.capacity import upgraded
from harness.errors import ResultsError
from harness.record.model import PERCENTILES, Level, Run, run_from_dict, run_to_dict

RUN_FILE = "run.json"
LEVELS_FILE = "levels.csv"
EMBED_ID = "harness-run"

LEVEL_COLUMNS: tuple[str, ...] = (
    "label",
    "model",
    "kind",
    "count",
    "batch_size",
    "skipped_reason",
    "mode",
    "concurrency",
    "offered_rps",
    "achieved_rps",
    "achieved_ips",
    "requests",
    "failures",
    *(f"{p}_ms" for p in PERCENTILES),
    "mean_ms",
    "max_ms",
    "queue_us",
    "compute_input_us",
    "compute_infer_us",
    "compute_output_us",
    "avg_batch",
    "stable",
    "client_saturated",
    "client_cpu_percent",
    "late_sends",
    "max_send_lag_ms",
    "dropped",
    "flags",
    "arrivals_cv",
    "inconsistent",
    "scheduled_rps",
    "goodput_rps",
    "send_lag_p50_us",
    "send_lag_p99_us",
    "send_lag_max_us",
    "asked_arrivals_cv",
    "mix_model",  # --mix: a model's own row (its part of the level above); "" on a level's own row
)


def save_run(run: Run, folder: Path) -> None:
    """Write run.json and levels.csv into folder, each atomically, so a crash mid-sweep leaves a valid run."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResultsError(f"cannot create run folder {folder} ({exc.strerror}); choose a writable results folder") from exc
    write_atomic(folder / RUN_FILE, json.dumps(run_to_dict(run), indent=2) + "\n")
    write_atomic(folder / LEVELS_FILE, levels_csv(run))


def write_atomic(path: Path, text: str) -> None:
    """Write text to a temporary file beside path, fsync it, then rename it over path.

    Readers see either the old file or the new one, never a half-written one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        # os.open with 0o666 lets the umask decide permissions, as a plain open() would.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        raise ResultsError(f"cannot write {path} ({exc.strerror}); check the folder is writable and has space") from exc
    finally:  # also on Ctrl-C; after a successful rename there is nothing left to remove
        tmp.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); platforms without directory fds skip it."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def levels_csv(run: Run) -> str:
    """One row per curve and level; a skipped curve gets one row with its reason and empty level columns."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(LEVEL_COLUMNS)
    for curve in run.curves:
        head = [
            run.metadata.label,
            curve.model,
            curve.instance_group.kind,
            curve.instance_group.count,
            curve.batch_size,
            curve.skipped_reason,
        ]
        if not curve.levels:
            writer.writerow(_cells(head + [None] * (len(LEVEL_COLUMNS) - len(head))))
        for level in curve.levels:
            writer.writerow(_cells(head + _level_cells(level) + [None]))
            for model, part in level.models.items():  # a mix: each model's row after the combined one
                writer.writerow(_cells([head[0], model, *head[2:]] + _level_cells(part.as_level(level)) + [model]))
    if run.metadata.interrupted:  # a last row says where and why the run stopped early
        head = [run.metadata.label, run.metadata.model, None, None, None, f"run interrupted: {run.metadata.interrupted}"]
        writer.writerow(_cells(head + [None] * (len(LEVEL_COLUMNS) - len(head))))
    return out.getvalue()


def _level_cells(level: Level) -> list[Any]:
    lat, server = level.latency_ms, level.server_us
    server_cells = [server.queue, server.compute_input, server.compute_infer, server.compute_output] if server else [None] * 4
    return [
        level.mode,
        level.concurrency,
        level.offered_rps,
        level.achieved_rps,
        level.achieved_ips,
        level.requests,
        level.failures,
        *(lat.get(p) for p in PERCENTILES),
        lat.mean,
        lat.max,
        *server_cells,
        level.avg_batch,
        level.stable,
        level.client_saturated,
        level.client_cpu_percent,
        level.late_sends,
        level.max_send_lag_ms,
        level.dropped,
        ";".join(level.flags),
        level.arrivals_cv,
        ";".join(level.inconsistent),
        level.scheduled_rps,
        level.goodput_rps,
        *((lag.p50, lag.p99, lag.max) if (lag := level.send_lag_us) else (None, None, None)),
        level.asked_arrivals_cv,
    ]


def _cells(values: list[Any]) -> list[str]:
    return ["" if v is None else str(v) for v in values]


def embed_json(run: Run, element_id: str = EMBED_ID) -> str:
    """The run as a <script type="application/json"> element for an HTML page.

    Every '<' is written as the JSON escape \\u003c, so neither '</script>' nor '<!--' inside a string can
    end or confuse the element; json.loads reads the text back unchanged."""
    text = json.dumps(run_to_dict(run), separators=(",", ":")).replace("<", "\\u003c")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def extract_embedded(html: str, element_id: str = EMBED_ID) -> dict[str, Any] | None:
    """The run dict embedded by embed_json, or None when the page has no such element."""
    pattern = rf'<script type="application/json" id="{re.escape(element_id)}">(.*?)</script>'
    match = re.search(pattern, html, re.DOTALL)
    if match is None:
        return None
    try:
        data = json.loads(match.group(1))
    except json.JSONDecodeError as exc:
        raise ResultsError(f"embedded run is damaged ({exc.msg}); re-render the report from run.json") from exc
    if not isinstance(data, dict):
        raise ResultsError("embedded run is not a JSON object; re-render the report from run.json")
    return data


def load_run(path: str | Path) -> Run:
    """Read a run from a run folder, a run.json, or a report.html that embeds its run."""
    path = Path(path)
    if not path.exists():
        raise ResultsError(f"{path}: no such file or folder; give a run folder, run.json or report.html")
    if path.is_dir():
        path = _run_file_in(path)
    text = _read_text(path)
    if text.lstrip().startswith("<"):  # an HTML page, whatever its name
        data = extract_embedded(text)
        if data is None:
            raise ResultsError(
                f"{path}: no embedded harness run; give a report.html written by the harness (a compare page "
                "holds several runs: pass their run folders instead)"
            )
    else:
        data = _parse_json(text, path)
    return upgraded(run_from_dict(data, source=str(path)))


def _run_file_in(folder: Path) -> Path:
    run_file = folder / RUN_FILE
    if not run_file.is_file():
        raise ResultsError(f"{folder}: folder has no {RUN_FILE}; give a run folder written by the harness")
    return run_file


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read ({exc.strerror}); check its permissions") from exc
    except UnicodeDecodeError as exc:
        raise ResultsError(f"{path}: not a text file; give a run folder, run.json or report.html") from exc


def _parse_json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg}); the file is damaged, "
            "restore it or re-run"
        ) from exc
