"""Parsing of the small textual specs users type: SLOs, instance groups, load levels, durations, percents."""

from __future__ import annotations

import re

from harness.errors import ConfigError
from harness.record.model import InstanceGroup, Slo

_PERCENTILE_NAMES = {"p50": "p50", "p90": "p90", "p95": "p95", "p99": "p99", "p99.9": "p999", "p999": "p999"}
_TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
_SLO_RE = re.compile(r"^\s*(p[0-9.]+)\s*(?:=|<=)\s*([0-9]*\.?[0-9]+)\s*(us|ms|s)?\s*$", re.IGNORECASE)


def parse_slo(text: str) -> Slo:
    """'p99=100ms' -> Slo('p99', 100.0). Accepts p50/p90/p95/p99/p99.9 and us/ms/s (ms by default)."""
    match = _SLO_RE.match(text or "")
    if not match:
        raise ConfigError(f"--slo {text!r}: expected PERCENTILE=LIMIT, for example p99=100ms")
    name, value, unit = match.group(1).lower(), float(match.group(2)), (match.group(3) or "ms").lower()
    if name not in _PERCENTILE_NAMES:
        raise ConfigError(f"--slo {text!r}: unknown percentile {name}; use one of p50, p90, p95, p99, p99.9")
    if value <= 0:
        raise ConfigError(f"--slo {text!r}: the latency limit must be positive")
    return Slo(percentile=_PERCENTILE_NAMES[name], limit_ms=value * _TIME_UNITS_MS[unit])


def parse_model_slos(text: str, models: tuple[str, ...], default: str) -> tuple[Slo, tuple[tuple[str, Slo], ...]]:
    """'p99=100ms' (every model), or 'a:p99=50ms,b:p99=200ms' (each its own; an unprefixed item sets the others'):
    the run's SLO and the models' own. A model not in `models` is refused, naming them."""
    common, own = None, {}
    for item in _items(text, "--slo"):
        name, sep, objective = item.rpartition(":")
        if not sep:
            common = parse_slo(item)
            continue
        name = name.strip()
        if name not in models:
            raise ConfigError(f"--slo {item!r}: {name} is not a model of this run ({', '.join(models)}); name one of them")
        if name in own:
            raise ConfigError(f"--slo: {name} has two objectives; give each model one")
        own[name] = parse_slo(objective)
    return common or parse_slo(default), tuple((m, own[m]) for m in models if m in own)


_INSTANCE_RE = re.compile(r"^(cpu|gpu):([0-9]+)(?:x([0-9]+))?$", re.IGNORECASE)


def parse_instances(text: str) -> list[InstanceGroup]:
    """'cpu:1,cpu:2x4,gpu:1' -> instance groups, in the given order; `xT` gives each CPU instance T threads."""
    groups = []
    for item in _items(text, "--instances"):
        match = _INSTANCE_RE.match(item)
        if not match or int(match.group(2)) < 1:
            raise ConfigError(f"--instances: {item!r} is not KIND:COUNT[xTHREADS]; use for example cpu:1,cpu:2x4,gpu:1")
        kind, count, threads = match.group(1).upper(), int(match.group(2)), match.group(3)
        if threads is not None and int(threads) < 1:
            raise ConfigError(f"--instances: {item!r} asks for {threads} threads; give at least 1, e.g. cpu:2x4")
        if threads is not None and kind == "GPU":
            raise ConfigError(f"--instances: {item!r}: threads are a CPU setting; write gpu:{count}")
        groups.append(
            InstanceGroup(
                kind="GPU" if kind == "GPU" else "CPU", count=count, threads=int(threads) if threads is not None else None
            )
        )
    return groups


def thread_warnings(groups: list[InstanceGroup], cores: int | None) -> list[str]:
    """Threads beyond the host's cores are allowed (the figure is recorded as asked) but worth a word."""
    if not cores:
        return []
    return [
        f"warning: {group} asks for {group.threads} threads per instance on a host with {cores} cores; "
        "they will share cores (measured and recorded as asked)"
        for group in groups
        if group.threads and group.threads > cores
    ]


def parse_int_list(text: str, flag: str) -> list[int]:
    """'1,2,4,8' -> [1, 2, 4, 8]; each a positive integer."""
    values = []
    for item in _items(text, flag):
        if not item.isdigit() or int(item) < 1:
            raise ConfigError(f"{flag}: {item!r} is not a positive integer; use for example 1,2,4,8")
        values.append(int(item))
    return values


def parse_float_list(text: str, flag: str) -> list[float]:
    """'100,200.5' -> [100.0, 200.5]; each positive."""
    values = []
    for item in _items(text, flag):
        try:
            value = float(item)
        except ValueError:
            value = -1.0
        if value <= 0:
            raise ConfigError(f"{flag}: {item!r} is not a positive number; use for example 100,200,400")
        values.append(value)
    return values


def parse_seconds(text: str, flag: str) -> float:
    """'10', '10s', '500ms', '2m' -> seconds."""
    match = re.match(r"^\s*([0-9]*\.?[0-9]+)\s*(ms|s|m)?\s*$", str(text))
    if not match:
        raise ConfigError(f"{flag}: {text!r} is not a duration; use for example 10s, 500ms or 2m")
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0}[match.group(2) or "s"]
    return float(match.group(1)) * scale


def parse_percent(text: str, flag: str) -> float:
    """'10%' or '0.1' -> 0.1."""
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ConfigError(f"{flag}: {text!r} is not a percentage; use for example 10%") from None
    if not 0 < value < 1:
        raise ConfigError(f"{flag}: {text!r} must be between 0% and 100%")
    return value


def parse_share(text: str, flag: str) -> float:
    """'20%' or '0.2' -> 0.2; 0 and above (a headroom may be 0 % or over 100 %)."""
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ConfigError(f"{flag}: {text!r} is not a share; use for example 20%") from None
    if not (value >= 0 and value < float("inf")):
        raise ConfigError(f"{flag}: {text!r} must be 0% or more")
    return value


def parse_url(text: str) -> str:
    """'host:port' (a gRPC endpoint) -> the same, checked."""
    host, _, port = (text or "").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--url {text!r}: expected HOST:PORT of Triton's gRPC endpoint, for example 127.0.0.1:8001")
    return text


def _items(text: str, flag: str) -> list[str]:
    items = [part.strip() for part in (text or "").split(",") if part.strip()]
    if not items:
        raise ConfigError(f"{flag}: empty list")
    return items
