"""Triton server lifecycle: launch a local tritonserver on loopback, or use one someone else runs.

A local server runs in its own process session, is polled for readiness while its log is scanned for errors,
and is always stopped (terminate -> wait -> kill), also on Ctrl-C and on errors, with the Python backend's
shared-memory regions it left behind removed.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from harness.errors import ServerError
from harness.net import LOOPBACK, free_port, port_is_free
from harness.procs import start_child, stop_child
from harness.triton.binary import TritonInstall, find_triton, prepare_backend_dir
from harness.triton.repository import resolve_repository

_SHM_DIR = Path("/dev/shm")
_SHM_PREFIX = "triton_python_backend_shm_region"
# Lines Triton logs as errors on every GPU-less machine: not the reason a start failed.
_BENIGN_ERRORS = ("CudaDriverHelper has not been initialized", "Failed to initialize NVML", "DCGM")
# How long a server we stop waits for its models to unload: the measuring is over by then, and in poll mode a
# Python-backend model never unloads at exit (Triton 2.51 waited out all of its default 30 s, or our old 10).
EXIT_TIMEOUT_S = 3


@dataclass(frozen=True)
class ServerSource:
    """Where a command's server comes from (--url, --model-repository, --tritonserver, --metrics-url), checked when
    the flags were read: a running Triton's gRPC endpoint (nothing is started), or a repository to start one on."""

    url: str | None = None  # host:port of a running Triton's gRPC endpoint (its HTTP one under --protocol http)
    model_repository: Path | None = None  # None: the bundled one
    tritonserver: str | None = None  # the binary (default: nvidia-pytriton's, then PATH)
    metrics_url: str | None = None  # a --url server's Prometheus endpoint (default: its host, port 8002)
    protocol: str = "grpc"  # --protocol: what --url speaks (the load's protocol)


@dataclass(frozen=True)
class Endpoints:
    grpc_url: str  # host:port, what clients and users are given ("" for a --url given as HTTP)
    http_url: str | None = None  # host:port: health checks when we launched the server, --protocol http's load
    metrics_url: str | None = None

    def load_url(self, protocol: str) -> str:
        """Where the load goes: the HTTP endpoint under --protocol http, else the gRPC one."""
        return (self.http_url or "") if protocol == "http" else self.grpc_url

    def control(self) -> tuple[str, str]:
        """(url, protocol) of the control calls: gRPC where there is a gRPC endpoint (the server we started), HTTP
        for a --url given as HTTP."""
        return (self.grpc_url, "grpc") if self.grpc_url else (self.http_url or "", "http")


class RemoteServer:
    """A server someone else runs: nothing to launch or stop."""

    def __init__(self, url: str, protocol: str = "grpc") -> None:
        self.endpoints = Endpoints(grpc_url=url) if protocol != "http" else Endpoints(grpc_url="", http_url=url)
        self.log_path: Path | None = None

    def __enter__(self) -> RemoteServer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def exit_cause(self) -> str | None:
        """Someone else's server: whether it still runs is not ours to see (requests failing will tell)."""
        return None


class LocalServer:
    """A tritonserver we start on loopback ports, in explicit model control unless told otherwise."""

    def __init__(
        self,
        repository: Path,
        log_path: Path,
        binary: str | None = None,
        grpc_port: int | None = None,
        startup_timeout_s: float = 180.0,
        model_control_mode: str | None = "explicit",
    ) -> None:
        self.repository = Path(repository).resolve()
        self.log_path = Path(log_path)
        self.startup_timeout_s = startup_timeout_s
        self._binary = binary
        self._grpc_port = grpc_port
        self.model_control_mode = model_control_mode  # None: Triton's default ("none": load everything at start)
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._ports: tuple[int, int, int] | None = None  # (grpc, http, metrics) once chosen: a restart keeps them
        self.endpoints = Endpoints(grpc_url="")

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> None:
        if not (self.repository / ".").is_dir():
            raise ServerError(f"model repository {str(self.repository)!r} is not a folder; fix --model-repository")
        install = find_triton(self._binary)
        self._workdir = tempfile.TemporaryDirectory(prefix="harness-triton-")
        backend_dir = prepare_backend_dir(install, Path(self._workdir.name) / "backends")
        try:
            self._launch(install, backend_dir)
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def restart(self) -> None:
        """Stop what is left of the server (dead or hung) and start it again on the same ports, so that clients
        holding its URLs reach the new one. Nothing it had loaded is loaded again (explicit model control)."""
        self.stop(timeout_s=0.5)  # dead or hung: nothing to wait for, a hung one is killed
        self.start()

    def _choose_ports(self) -> tuple[int, int, int]:
        if self._ports is not None:  # a restart: the ports the last process held, once the kernel frees them
            _wait_until_free(self._ports)
            return self._ports
        grpc_port = self._grpc_port or free_port()
        if self._grpc_port and not port_is_free(grpc_port):
            raise ServerError(f"port {grpc_port} on {LOOPBACK} is already in use; pick another --grpc-port or omit it")
        self._ports = (grpc_port, free_port(), free_port())
        return self._ports

    def _launch(self, install: TritonInstall, backend_dir: Path | None) -> None:
        grpc_port, http_port, metrics_port = self._choose_ports()
        self.endpoints = Endpoints(
            grpc_url=f"{LOOPBACK}:{grpc_port}",
            http_url=f"{LOOPBACK}:{http_port}",
            metrics_url=f"{LOOPBACK}:{metrics_port}",
        )
        args = [
            str(install.binary),
            "--model-repository",
            str(self.repository),
            "--grpc-address",
            LOOPBACK,
            "--grpc-port",
            str(grpc_port),
            "--http-address",
            LOOPBACK,
            "--http-port",
            str(http_port),
            "--metrics-address",
            LOOPBACK,
            "--metrics-port",
            str(metrics_port),
            "--exit-timeout-secs",
            str(EXIT_TIMEOUT_S),
            "--log-verbose",
            "0",
        ]
        if self.model_control_mode:
            args += ["--model-control-mode", self.model_control_mode]
        if backend_dir:
            args += ["--backend-directory", str(backend_dir)]
        self._process = start_child(args, self.log_path, env={**os.environ, **install.env})

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise ServerError(
                    f"tritonserver exited during start-up (code {self._process.returncode}): {self._log_errors()}"
                )
            if self._http_ok("/v2/health/ready"):
                return
            time.sleep(0.25)
        raise ServerError(
            f"tritonserver not ready after {self.startup_timeout_s:.0f}s: {self._log_errors() or 'no error logged'} "
            f"(log: {self.log_path})"
        )

    def _http_ok(self, path: str) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.endpoints.http_url}{path}", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False

    def is_live(self) -> bool:
        """Its process runs and answers Triton's liveness check within 2 s (a hung server does not)."""
        return self._process is not None and self._process.poll() is None and self._http_ok("/v2/health/live")

    def exit_cause(self) -> str | None:
        """None while the server runs; once it has exited, one line: its exit status and its log's last lines."""
        code = self._process.poll() if self._process is not None else None
        if code is None:
            return None
        status = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        lines = [ln.strip() for ln in _tail(self.log_path, 3) if ln.strip()]
        return f"tritonserver exited ({status}); last log lines: {' | '.join(lines) or '(empty)'} (log: {self.log_path})"

    def _log_errors(self) -> str:
        return "; ".join(error_lines(self.log_path)[-3:]) or f"see {self.log_path}"

    def stop(self, timeout_s: float = 20.0) -> None:
        """terminate -> wait -> kill the server's process group, then clear the shared memory it left."""
        process, self._process = self._process, None
        if process is not None:
            stop_child(process, timeout_s, group=True)  # its own session: the backend stubs go with it
            remove_orphan_shm()
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None


def _wait_until_free(ports: tuple[int, ...], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not all(port_is_free(port) for port in ports):
        if time.monotonic() > deadline:
            raise ServerError(f"ports {ports} on {LOOPBACK} are still in use {timeout_s:.0f}s after tritonserver stopped")
        time.sleep(0.2)


def _tail(path: Path, count: int) -> list[str]:
    try:
        return Path(path).read_text(errors="replace").splitlines()[-count:]
    except OSError:
        return []


def error_lines(log_path: Path) -> list[str]:
    """Error lines of a Triton log (glog 'E' lines and 'error:' messages), without the GPU-less noise."""
    try:
        text = Path(log_path).read_text(errors="replace")
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        stripped = line.strip()
        is_error = (stripped[:1] == "E" and stripped[1:5].isdigit()) or "error:" in stripped.lower()
        if is_error and not any(noise in stripped for noise in _BENIGN_ERRORS):
            found.append(stripped.split("] ", 1)[-1].strip('"'))
    return found


def remove_orphan_shm() -> None:
    """Remove Python-backend shared-memory regions that no live process still maps (left by a dead stub)."""
    regions = [p for p in _SHM_DIR.glob(f"{_SHM_PREFIX}*")] if _SHM_DIR.is_dir() else []
    if not regions:
        return
    mapped = _mapped_shm_names()
    for region in regions:
        if region.name not in mapped:
            region.unlink(missing_ok=True)


def _mapped_shm_names() -> set[str]:
    names: set[str] = set()
    for maps in Path("/proc").glob("[0-9]*/maps"):
        try:
            text = maps.read_text()
        except OSError:
            continue
        names.update(part.split()[0] for part in text.split("/dev/shm/")[1:] if part.strip())
    return names


def open_source(source: ServerSource, log_path: Path) -> LocalServer | RemoteServer:
    """The server a command works with: the one at --url, or one started on the repository (log at log_path)."""
    if source.url:
        return RemoteServer(source.url, source.protocol)
    return LocalServer(resolve_repository(source.model_repository), log_path, binary=source.tritonserver)


def open_server(
    url: str | None,
    repository: Path,
    log_path: Path,
    binary: str | None = None,
    grpc_port: int | None = None,
) -> LocalServer | RemoteServer:
    """--url given: use that server; otherwise launch one on the repository."""
    if url:
        return RemoteServer(url)
    return LocalServer(repository, log_path, binary=binary, grpc_port=grpc_port)
