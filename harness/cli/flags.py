"""Flags several commands share: where the server comes from, how long levels last, workers, input data,
the open-loop traffic shape."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness import defaults
from harness.analysis.capacity import STABLE_WINDOWS
from harness.cli.parse import parse_seconds, parse_url
from harness.errors import ConfigError
from harness.load.arrivals import parse_arrivals
from harness.load.trace import read_trace
from harness.net import bind_error, free_port
from harness.record.model import Agreement
from harness.triton.input_data import parse_shapes
from harness.triton.repository import resolve_repository
from harness.triton.server import ServerSource


def add_server_flags(parser: argparse.ArgumentParser, with_url: bool = True) -> None:
    parser.add_argument("--model-repository", metavar="DIR", help="Triton model repository (default: the bundled one)")
    parser.add_argument("--tritonserver", metavar="PATH", help="tritonserver binary (default: nvidia-pytriton's, then PATH)")
    if with_url:
        parser.add_argument("--url", metavar="HOST:PORT", help="a running Triton's gRPC endpoint (no server is started)")


def server_source(args: argparse.Namespace) -> ServerSource:
    """add_server_flags' flags, checked now (a bad --url or --model-repository is one line before anything starts)."""
    url = getattr(args, "url", None)
    return ServerSource(
        url=parse_url(url) if url else None,
        model_repository=None if url else resolve_repository(args.model_repository),
        tritonserver=args.tritonserver,
        metrics_url=getattr(args, "metrics_url", None),
        protocol=getattr(args, "protocol", defaults.PROTOCOL),
    )


def add_protocol_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--protocol",
        choices=defaults.PROTOCOLS,
        default=defaults.PROTOCOL,
        help=f"what the load speaks: grpc, or http (KServe v2 REST; --url is then Triton's HTTP port) "
        f"(default {defaults.PROTOCOL})",
    )


def add_metrics_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metrics-url",
        metavar="HOST:PORT",
        help="Triton's Prometheus metrics endpoint of a --url server (default: its host, port 8002)",
    )


def add_input_data_flags(parser: argparse.ArgumentParser) -> None:
    """Real request data instead of seeded random tensors (harness.triton.input_data reads and checks it)."""
    parser.add_argument(
        "--input-data",
        metavar="PATH",
        help="requests cycle through this data: perf_analyzer's JSON input-data file, a folder of .npy "
        "files, or a folder of images (decoded and resized to the model's input)",
    )
    parser.add_argument(
        "--shape",
        metavar="NAME:DIMS",
        action="append",
        default=[],
        help="the sizes of an input's variable dimensions, batch dimension excluded, e.g. tokens:64 "
        "(repeat for several inputs); with or without --input-data (default: 16 each)",
    )


def add_level_flags(parser: argparse.ArgumentParser, warmup_s: float, window_s: float, max_windows: int) -> None:
    """How long each level is measured: the same flags on every measuring command, each with its own defaults."""
    parser.add_argument("--warmup", default=f"{warmup_s:g}s", help=f"untimed warm-up per level (default {warmup_s:g}s)")
    parser.add_argument("--window", default=f"{window_s:g}s", help=f"measurement window (default {window_s:g}s)")
    parser.add_argument("--max-windows", type=int, default=max_windows, help=f"window budget per level (default {max_windows})")


def level_fields(args: argparse.Namespace) -> dict[str, Any]:
    """add_level_flags' flags as SweepSpec fields, checked."""
    if args.max_windows < STABLE_WINDOWS:
        raise ConfigError(f"--max-windows must be >= {STABLE_WINDOWS} (stability needs {STABLE_WINDOWS} windows)")
    return {
        "warmup_s": parse_seconds(args.warmup, "--warmup"),
        "window_s": parse_seconds(args.window, "--window"),
        "max_windows": args.max_windows,
    }


def add_workers_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        type=int,
        help=f"Locust worker processes (default: one per 4 cores, at least 1: {defaults.measuring_workers()} here)",
    )


def parse_workers(value: int | None) -> int:
    workers = defaults.measuring_workers() if value is None else value
    if workers < 1:
        raise ConfigError(f"--workers {workers}: give at least 1")
    return workers


def input_data_fields(args: argparse.Namespace) -> dict[str, Any]:
    """--input-data and --shape as SweepSpec fields: one reading for every command that takes them (sweep, search)."""
    return {"input_data": str(Path(args.input_data).resolve()) if args.input_data else "", "shapes": _shapes(args.shape)}


def _shapes(items: list[str]) -> tuple[str, ...]:
    """--shape items, checked now (a typo is one line before anything starts)."""
    parse_shapes(items)
    return tuple(items)


def add_generator_flags(parser: argparse.ArgumentParser) -> None:
    """The load generator's limits that every measuring command takes."""
    parser.add_argument(
        "--saturation-cpu",
        type=float,
        default=defaults.SATURATION_CPU_PERCENT,
        metavar="PERCENT",
        help="a load-generator process at or above this CPU (percent of one core) flags its level "
        f"client-saturated (default {defaults.SATURATION_CPU_PERCENT:g}; Locust's --saturation-cpu)",
    )
    parser.add_argument(
        "--request-timeout",
        default=f"{defaults.REQUEST_TIMEOUT_S:g}s",
        help="a request unanswered this long fails; a window of failures ends the run "
        f"(default {defaults.REQUEST_TIMEOUT_S:g}s)",
    )
    add_prometheus_flags(parser)
    add_protocol_flag(parser)


def generator_fields(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "request_timeout_s": parse_seconds(args.request_timeout, "--request-timeout"),
        "saturation_cpu": _saturation_cpu(args.saturation_cpu),
        **prometheus_fields(args),
        "protocol": args.protocol,
    }


def add_prometheus_flags(parser: argparse.ArgumentParser) -> None:
    """The Locust master's client metrics for Prometheus (harness.load.client_metrics): every command that sends load."""
    parser.add_argument(
        "--prometheus-port",
        metavar="PORT",
        help="serve the load generator's metrics for Prometheus at http://ADDRESS:PORT/metrics while it runs "
        "(0: a free port, printed; default: off)",
    )
    parser.add_argument(
        "--prometheus-bind",
        default=defaults.PROMETHEUS_BIND,
        metavar="ADDRESS",
        help=f"address of that endpoint (default {defaults.PROMETHEUS_BIND}; 0.0.0.0 lets another machine scrape it)",
    )


def prometheus_fields(args: argparse.Namespace) -> dict[str, Any]:
    """--prometheus-port and --prometheus-bind, checked now: a port that is no port, taken, or on an address not of
    this machine is one line before anything starts; 0 becomes the free port chosen."""
    bind = args.prometheus_bind
    if args.prometheus_port is None:
        return {"prometheus_port": None, "prometheus_bind": bind}
    text = str(args.prometheus_port).strip()
    if not text.isdigit() or int(text) > 65535:
        raise ConfigError(f"--prometheus-port {text!r} is not a port; give 1-65535, or 0 for a free one")
    if (why := bind_error(bind)) is not None:
        raise ConfigError(
            f"--prometheus-bind {bind}: cannot listen there ({why}); give an address of this machine, "
            f"e.g. {defaults.PROMETHEUS_BIND} or 0.0.0.0"
        )
    port = int(text) or free_port()
    if (why := bind_error(bind, port)) is not None:
        raise ConfigError(f"--prometheus-port {text}: taken on {bind} ({why}); give another, or 0 for a free one")
    return {"prometheus_port": port, "prometheus_bind": bind}


def _saturation_cpu(percent: float) -> float:
    if not percent > 0:
        raise ConfigError(f"--saturation-cpu must be a CPU percent above 0 (one core is 100), not {percent:g}")
    return percent


def add_model_flags(parser: argparse.ArgumentParser, what: str) -> None:
    """--model (several: curves of one run) and --variants, for the commands that measure a model and its variants."""
    parser.add_argument(
        "--model",
        required=True,
        help="model name in the repository; several, comma-separated (NAME,NAME_int8), are curves of one run",
    )
    parser.add_argument(
        "--variants",
        metavar="LIST",
        help=f"also {what} these variants of --model (made by `harness variants`), e.g. int8,onnx: NAME_int8, NAME_onnx",
    )


def model_fields(args: argparse.Namespace) -> dict[str, Any]:
    """add_model_flags' flags as SweepSpec fields: the models (the original first), their variants' agreements."""
    models = _models(args)
    return {
        "model": models[0],
        "models": models if len(models) > 1 else (),
        "agreements": _agreements(args, models),
        "validate_outputs": _validate_outputs(args, models),
    }


def _models(args: argparse.Namespace) -> tuple[str, ...]:
    """--model NAME[,NAME...] and --variants LIST: every model the sweep measures, the original first."""
    from harness.triton.variant_file import parse_variants, variant_model

    names = [name.strip() for name in args.model.split(",") if name.strip()]
    if not names:
        raise ConfigError(f"--model {args.model!r}: give a model name")
    variants = parse_variants(args.variants) if args.variants else ()
    names += [variant_model(names[0], v) for v in variants]
    if len(set(names)) > 1 and getattr(args, "expect_workers", None) and not getattr(args, "mix", None):
        raise ConfigError(
            "several models (--variants, --model A,B) restart the sweep's workers per model, which --expect-workers "
            "cannot (workers started elsewhere keep their --model): sweep each model in a run of its own"
        )
    return tuple(dict.fromkeys(names))


def _validate_outputs(args: argparse.Namespace, models: tuple[str, ...]) -> bool:
    if getattr(args, "validate_outputs", False) and not (args.variants or len(models) > 1):
        raise ConfigError("--validate-outputs checks variants against their original: add --variants or --model NAME,VARIANT")
    return bool(getattr(args, "validate_outputs", False))


def _agreements(args: argparse.Namespace, models: tuple[str, ...]) -> tuple[tuple[str, Agreement], ...]:
    """The variant.json of each model that is a variant, from a local repository (a --url server's repository is
    not here to read: its curves carry no agreement). A --variants model missing there is one line, before any load."""
    from harness.triton.repository import model_names, resolve_repository
    from harness.triton.variant_file import read_variant

    if args.url and not args.model_repository:
        return ()
    repository = resolve_repository(args.model_repository)
    if args.variants:
        known = model_names(repository)
        for name in models[1:]:
            if name not in known:
                raise ConfigError(
                    f"--variants: no model {name!r} in {repository}; make it first with harness variants --model "
                    f"{models[0]} --variants {args.variants}"
                )
    return tuple((name, a) for name in models if (a := read_variant(repository, name)) is not None)


def add_arrival_flags(p: argparse.ArgumentParser) -> None:
    """--arrivals and --schedule: the open-loop traffic shape (docs/load-shapes.md); `harness ui` takes them too."""
    p.add_argument(
        "--arrivals",
        metavar="KIND",
        help="open-loop arrivals: constant (default), poisson, or gamma:CV (bursty above 1, e.g. gamma:3)",
    )
    p.add_argument(
        "--schedule",
        metavar="FILE",
        help="replay recorded traffic: perf_analyzer's --request-intervals file (one interval in microseconds per "
        "line) or a .csv of send offsets in seconds, looped; at its own rate, or scaled to each --rate",
    )


def arrival_fields(args: argparse.Namespace) -> dict[str, Any]:
    """--arrivals and --schedule as SweepSpec fields, checked now: a bad one is one line before any load."""
    if args.schedule and args.arrivals:
        raise ConfigError("--schedule replays a file's own arrivals; drop --arrivals, or drop --schedule")
    arrivals = parse_arrivals(args.arrivals or defaults.ARRIVALS)
    if not args.schedule:
        return {"arrivals": arrivals}
    trace = read_trace(args.schedule)
    return {"arrivals": arrivals, "schedule": str(Path(args.schedule).resolve()), "trace": trace}
