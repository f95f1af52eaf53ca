"""Triton's perf_analyzer as a reference load generator: locate (or fetch) the binary, run one level (a concurrency,
or a request rate).

The binary ships inside the tritonclient 2.51.0 wheel (installed into the venv's bin/ by pip, or unpacked from a
downloaded wheel). It needs libb64.so.0d and libcudart.so.12, which nvidia-pytriton carries under hashed names
in site-packages/nvidia_pytriton.libs/: symlinks with the exact names go into a folder put on LD_LIBRARY_PATH.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

from harness.defaults import cache_dir
from harness.errors import LoadError

VERSION = "2.51.0"
CACHE = cache_dir() / "perf_analyzer"
_WHEEL_MEMBER = f"tritonclient-{VERSION}.data/data/bin/perf_analyzer"
_LIBRARIES = {"libb64.so.0d": "libb64-*.so.0d*", "libcudart.so.12": "libcudart-*.so.12*"}


def find_or_install(cache: Path = CACHE) -> Path:
    """perf_analyzer beside this Python, on PATH, in the cache, or unpacked from the tritonclient wheel."""
    for candidate in (
        Path(sys.executable).with_name("perf_analyzer"),
        shutil.which("perf_analyzer"),
        cache / "bin" / "perf_analyzer",
    ):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return _install(cache)


def _install(cache: Path) -> Path:
    with tempfile.TemporaryDirectory() as download:
        pip = [
            sys.executable,
            "-m",
            "pip",
            "download",
            f"tritonclient=={VERSION}",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
            download,
        ]
        result = subprocess.run(pip, capture_output=True, text=True, timeout=600, check=False)
        wheels = list(Path(download).glob("tritonclient-*.whl"))
        if result.returncode != 0 or not wheels:
            raise LoadError(
                f"cannot download tritonclient {VERSION} for perf_analyzer: "
                f"{(result.stderr or result.stdout).strip().splitlines()[-1:]}"
            )
        target = cache / "bin" / "perf_analyzer"
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheels[0]) as wheel:
            if _WHEEL_MEMBER not in wheel.namelist():
                raise LoadError(f"{wheels[0].name} holds no perf_analyzer (is this platform's wheel built with it?)")
            target.write_bytes(wheel.read(_WHEEL_MEMBER))
    target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return target


def library_dir(cache: Path = CACHE) -> Path:
    """A folder of symlinks named as perf_analyzer expects, to nvidia-pytriton's bundled copies."""
    sources = [Path(p) / "nvidia_pytriton.libs" for p in {sysconfig.get_paths()["purelib"], *sys.path} if p]
    bundled = next((s for s in sources if s.is_dir()), None)
    folder = cache / "lib"
    folder.mkdir(parents=True, exist_ok=True)
    for name, pattern in _LIBRARIES.items():
        found = sorted(bundled.glob(pattern)) if bundled else []
        link = folder / name
        if found and not link.exists():
            link.unlink(missing_ok=True)  # a dangling link from an older install
            link.symlink_to(found[0])
    return folder


def environment(cache: Path = CACHE) -> dict[str, str]:
    libraries = [str(library_dir(cache)), os.environ.get("LD_LIBRARY_PATH", "")]
    return {**os.environ, "LD_LIBRARY_PATH": os.pathsep.join(p for p in libraries if p)}


def run(
    url: str,
    model: str,
    concurrency: int,
    measurement_ms: int = 4000,
    batch_size: int = 1,
    stability_percent: int = 25,
    percentile: int | None = None,
    timeout_s: float = 300.0,
    request_rate: float | None = None,
    max_trials: int = 10,
    protocol: str = "grpc",
) -> dict[str, float]:
    """One level over gRPC (`protocol` "http": `-i http` to Triton's HTTP port at `url`): closed loop at
    `concurrency`, or open loop at `request_rate` (--request-rate-range, constant arrivals): requests/s and
    latency in ms (p50, p90, p95, p99, avg), and in request-rate mode the share of requests it sent late
    ("delayed_share", from its own warning; 0 without one).

    perf_analyzer repeats windows until 3 agree within stability_percent (on avg latency, or on `percentile`)."""
    binary = find_or_install()
    level = f"request rate {request_rate:g}" if request_rate else f"concurrency {concurrency}"
    # Open loop on its asynchronous API: the synchronous default blocks each of its 4 threads on a reply, which
    # caps it near 4 / latency (about 1,400 req/s on mnist_cnn here) whatever the rate asked.
    load = (
        ["--request-rate-range", f"{request_rate:g}:{request_rate:g}", "--async"]
        if request_rate
        else ["--concurrency-range", f"{concurrency}:{concurrency}"]
    )
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "perf.csv"
        args = [
            str(binary),
            "-m",
            model,
            "-u",
            url,
            "-i",
            protocol,
            "-b",
            str(batch_size),
            *load,
            "--measurement-interval",
            str(measurement_ms),
            "-s",
            str(stability_percent),
            "-r",
            str(max_trials),
            "-f",
            str(report),
        ]
        if percentile is not None:
            args.append(f"--percentile={percentile}")
        try:
            result = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, env=environment(), check=False)
        except subprocess.TimeoutExpired as exc:
            raise LoadError(f"perf_analyzer ran past {timeout_s:.0f}s at {level}") from exc
        output = result.stdout + result.stderr
        if result.returncode != 0 or not report.is_file():
            tail = " | ".join(output.strip().splitlines()[-2:])
            raise LoadError(f"perf_analyzer failed at {level} (code {result.returncode}): {tail}")
        with open(report, newline="") as handle:
            row = next(csv.DictReader(handle))
    avg = re.search(r"Avg latency: (\d+) usec", output)
    delayed = re.findall(r"([\d.]+)% of the requests were delayed", output)
    return {
        "rps": float(row["Inferences/Second"]) / batch_size,
        **{f"p{p}_ms": float(row[f"p{p} latency"]) / 1000.0 for p in (50, 90, 95, 99)},
        "avg_ms": float(avg.group(1)) / 1000.0 if avg else float("nan"),
        "delayed_share": float(delayed[-1]) / 100.0 if delayed else 0.0,
    }
