"""`harness latency`'s measurement: single-request latency for batch 1..N, the network in-process vs through Triton,
on CPU and (where there is one) GPU, for the model and each of its variants in the repository (those `harness
variants` wrote, found by their variant.json, each with its agreement; and a hand-made `<model>_int8` sibling).

One client, one request in flight: what a lone user sees and the floor under every capacity curve. No load driver,
so not `session.measure`'s life, but the same promises: the server is reached or started and always stopped, each
row is saved as it is measured, and however the run ends (done, Ctrl-C or SIGTERM, an error) run.json and the
report say so.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType

from harness import __version__
from harness.analysis.agreement import agreement_text
from harness.errors import OK_EXIT, GpuUnavailable, HarnessError, ModelError, UnknownModel
from harness.measure.job import command_line
from harness.record.model import InstanceGroup, Kind, LatencyRow, Metadata, Run, Slo
from harness.record.store import save_run
from harness.record.sysinfo import git_revision, host_info, package_versions
from harness.report.latency_section import HEADERS, latency_cells
from harness.report.run_page import write_report
from harness.triton import inprocess
from harness.triton.control import ControlClient, make_inputs
from harness.triton.probe import ProbeResult, probe
from harness.triton.repository import resolve_repository
from harness.triton.server import ServerSource, open_source
from harness.triton.variant_file import variants_of
from harness.triton.variants import Variant, load_variant


@dataclass(frozen=True)
class LatencyJob:
    model: str
    source: ServerSource
    batches: tuple[int, ...]
    calls: int
    threads: int
    folder: Path | None = None  # None: results/<timestamp>-latency-<model>
    label: str = ""


def measure_latency(job: LatencyJob) -> int:
    """Time every row, printing each as it is measured; the run is kept however this ends (an error is re-raised
    after it is saved, for the command to say in one line)."""
    folder = job.folder or Path("results") / f"{datetime.now():%Y%m%d-%H%M%S}-latency-{job.model}"
    folder.mkdir(parents=True, exist_ok=True)
    repository = resolve_repository(job.source.model_repository)  # in-process timing reads the model's files
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM as Ctrl-C: the server is stopped, the rows kept
    run, interrupted = _new_run(job), "the run stopped on an unexpected error (its traceback follows)"
    print(_line(HEADERS), flush=True)
    try:
        with open_source(job.source, folder / "triton.log") as server, ControlClient(server.endpoints.grpc_url) as control:
            run = replace(run, metadata=replace(run.metadata, triton_version=control.server_version()))
            for base in _variant_rows(control, repository, job.model):
                for row in _rows(control, server.endpoints.grpc_url, repository, base, job.batches, job):
                    run = replace(run, latency=run.latency + (row,))
                    save_run(run, folder)
                    print(_line(latency_cells(row)), flush=True)
        interrupted = ""
    except KeyboardInterrupt:
        interrupted = "stopped by Ctrl-C or SIGTERM"
        raise
    except HarnessError as exc:
        interrupted = str(exc)
        raise
    finally:
        _finish(run, folder, interrupted)
    return OK_EXIT


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


PRECISIONS = {"fp32": "float", "int8": "int8", "onnx": "float", "onnx-int8": "int8", "bf16": "bf16", "fp16": "fp16"}


def _variant_rows(control: ControlClient, repository: Path, model: str) -> list[LatencyRow]:
    """A row template per model to time: the model itself, then its variants (variant.json), or a hand-made
    `<model>_int8` sibling as the bundled mnist_cnn_int8 (no agreement recorded)."""
    known = dict(control.repository_models())
    if model not in known:
        raise UnknownModel(model, known)
    rows = [LatencyRow(model=model, precision="float", path="", device="", batch_size=0, variant="fp32")]
    found = [(name, a) for name, a in variants_of(repository, model) if name in known]
    for name, agreement in found:
        precision = PRECISIONS.get(agreement.variant, "float")
        rows.append(
            replace(rows[0], model=name, precision=precision, variant=agreement.variant, agreement=agreement_text(agreement))
        )
    if not found and f"{model}_int8" in known:
        rows.append(replace(rows[0], model=f"{model}_int8", precision="int8", variant="int8", agreement="not measured"))
    return rows


def _rows(
    control: ControlClient, url: str, repository: Path, base: LatencyRow, batches: Sequence[int], job: LatencyJob
) -> list[LatencyRow]:
    """Every row of one model (the original or a variant): Triton CPU, Triton GPU, in-process CPU, in-process GPU."""
    spec_batches = _batches(control, base.model, batches)
    rows: list[LatencyRow] = []
    devices: tuple[Kind, ...] = ("CPU", "GPU")
    for device in devices:
        rows += _triton_rows(control, url, replace(base, path="triton", device=device), device, spec_batches, job)
        rows += _inprocess_rows(control, repository, replace(base, path="in-process", device=device), spec_batches, job)
    control.unload(base.model)
    return rows


def _batches(control: ControlClient, model: str, batches: Sequence[int]) -> list[int]:
    control.load(model)
    max_batch = control.model_spec(model).max_batch_size
    return [b for b in batches if b == 1 or (max_batch and b <= max_batch)]


def _triton_rows(
    control: ControlClient, url: str, base: LatencyRow, device: Kind, batches: Sequence[int], job: LatencyJob
) -> list[LatencyRow]:
    model = base.model
    threads = job.threads if device == "CPU" else None
    group = InstanceGroup(device, 1, threads=threads)
    try:
        load_variant(control, model, Variant(group))
    except (GpuUnavailable, ModelError) as exc:
        return [replace(base, batch_size=b, skipped_reason=_one_line(exc)) for b in batches]
    spec = control.model_spec(model)
    return [_row(base, b, probe(url, model, make_inputs(spec, b, seed=0), job.calls)) for b in batches]


def _inprocess_rows(
    control: ControlClient, repository: Path, base: LatencyRow, batches: Sequence[int], job: LatencyJob
) -> list[LatencyRow]:
    model, device = base.model, base.device
    reason = _inprocess_skip(repository, model, device)
    if reason:
        return [replace(base, batch_size=b, skipped_reason=reason) for b in batches]
    spec = control.model_spec(model)
    rows = []
    for b in batches:
        try:
            result = inprocess.time_in_process(
                repository,
                model,
                make_inputs(spec, b, seed=0),
                job.calls,
                device="cuda:0" if device == "GPU" else "cpu",
                threads=job.threads,
            )
        except (RuntimeError, NotImplementedError) as exc:  # e.g. quantized kernels that exist for CPU only
            rows.append(replace(base, batch_size=b, skipped_reason=_one_line(exc)))
            continue
        rows.append(_row(base, b, result))
    return rows


def _inprocess_skip(repository: Path, model: str, device: str) -> str | None:
    if not inprocess.has_network(repository, model):
        return f"no build_{model}() in the repository's _nets/nets.py, nor an imported model file"
    if device == "GPU" and not inprocess.gpu_available():
        return "no GPU (torch sees no CUDA device)"
    return None


def _row(base: LatencyRow, batch: int, result: ProbeResult) -> LatencyRow:
    return replace(
        base,
        batch_size=batch,
        calls=result.calls,
        median_ms=round(result.median_ms, 4),
        p90_ms=round(result.p90_ms, 4),
        min_ms=round(result.min_ms, 4),
        max_ms=round(result.max_ms, 4),
    )


_WIDTHS = (20, 9, 9, 10, 6, 5, 4, 9, 9, 9, 9)  # model, variant, precision, path, device: left-aligned


def _line(cells: Sequence[str]) -> str:
    """A row as it is measured, in fixed columns (the table is printed one row at a time: progress)."""
    fixed = [f"{cell:<{w}}" if i < 5 else f"{cell:>{w}}" for i, (cell, w) in enumerate(zip(cells, _WIDTHS, strict=False))]
    return "  ".join(fixed + list(cells[len(_WIDTHS) :])).rstrip()


def _new_run(job: LatencyJob) -> Run:
    settings = {"kind": "latency", "batch_sizes": list(job.batches), "calls": job.calls, "warmup_calls": 10,
                "threads": job.threads}  # fmt: skip
    metadata = Metadata(
        harness_version=__version__,
        git_revision=git_revision(),
        model=job.model,
        label=job.label,
        host=host_info(),
        versions=package_versions(),
        started_at=_now(),
        settings=settings,
        command_line=command_line(),
    )
    return Run(metadata=metadata, slo=Slo())


def _finish(run: Run, folder: Path, interrupted: str) -> None:
    """The rows measured so far, saved with how the run ended; a failure to write them is the run's error."""
    metadata = replace(run.metadata, complete=not interrupted, interrupted=interrupted, ended_at=_now())
    run = replace(run, metadata=metadata)
    save_run(run, folder)
    write_report(run, folder / "report.html")
    status = "complete" if not interrupted else f"INTERRUPTED: {interrupted}; kept every row measured"
    print(f"\nrun {status}\nrun:    {folder / 'run.json'}\nreport: {folder / 'report.html'}")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
