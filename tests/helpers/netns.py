"""Hosts for multi-host tests: Linux network namespaces on one bridge, with addresses only in 127.0.0.0/8.

Each host is a namespace with one veth (`eth0`) whose other end is a port of a bridge living in its own
"switch" namespace, so the machine's own network is never touched. Addresses are 127.77.N.x/24 and every veth
end has `route_localnet=1`, so the kernel routes these loopback-range addresses between namespaces while no
packet can leave the machine. Each host's `lo` keeps only 127.0.0.1/32 (else all of 127/8 would be local).
Namespaces are deleted on every exit path of `hosts()`; processes started in them must be stopped first.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from harness.procs import start_child
from harness.triton.binary import find_triton, prepare_backend_dir
from harness.triton.server import remove_orphan_shm

IP = shutil.which("ip")


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=30)


def namespaces_unavailable() -> str | None:
    """Why namespaces cannot be made here (not root, no `ip`, no kernel support), or None when they can."""
    if os.geteuid() != 0:
        return "network namespace tests need root (ip netns add)"
    if IP is None:
        return "network namespace tests need iproute2's `ip` (apt-get install iproute2)"
    probe = f"hxprobe{os.getpid()}"
    try:
        _run(IP, "netns", "add", probe)
        _run(IP, "-n", probe, "link", "add", "p0", "type", "veth", "peer", "name", "p1")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        detail = (getattr(exc, "stderr", b"") or b"").decode(errors="replace").strip()
        return f"cannot create network namespaces with veth pairs here: {detail or exc}"
    finally:
        subprocess.run([IP, "netns", "del", probe], capture_output=True, timeout=30)
    return None


@dataclass(frozen=True)
class Hosts:
    """Role -> namespace and address; commands run inside a host with `exec`."""

    namespaces: dict[str, str]
    addresses: dict[str, str]
    switch: str

    def exec(self, role: str, *args: str) -> list[str]:
        assert IP is not None
        return [IP, "netns", "exec", self.namespaces[role], *args]

    def link_down(self, role: str) -> None:
        """Pull the host's cable: nothing more reaches it or leaves it, the processes inside live on."""
        assert IP is not None
        _run(IP, "-n", self.namespaces[role], "link", "set", "eth0", "down")


def remove_stale() -> None:
    """Namespaces of a test process that was killed before its finalizer ran (`hx<pid>...`, pid gone)."""
    assert IP is not None
    listing = subprocess.run([IP, "netns", "list"], capture_output=True, text=True, timeout=30).stdout
    for name in re.findall(r"^(hx(\d+)\w*)", listing, re.MULTILINE):
        if not psutil.pid_exists(int(name[1])):
            subprocess.run([IP, "netns", "del", name[0]], capture_output=True, timeout=30)


@contextmanager
def hosts(roles: list[str]) -> Iterator[Hosts]:
    """One namespace per role on a shared bridge; all of them deleted however the block ends."""
    assert IP is not None
    remove_stale()
    tag = f"hx{os.getpid()}"
    subnet = f"127.77.{os.getpid() % 250 + 1}"
    switch = f"{tag}sw"
    namespaces = {role: f"{tag}{role[:6]}{index}" for index, role in enumerate(roles)}
    addresses = {role: f"{subnet}.{index + 1}" for index, role in enumerate(roles)}
    made: list[str] = []
    try:
        _run(IP, "netns", "add", switch)
        made.append(switch)
        _run(IP, "-n", switch, "link", "add", "br0", "type", "bridge")
        _run(IP, "-n", switch, "link", "set", "br0", "up")
        for index, role in enumerate(roles):
            namespace, port = namespaces[role], f"v{index}"
            _run(IP, "netns", "add", namespace)
            made.append(namespace)
            _run(IP, "-n", switch, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", namespace)
            _run(IP, "-n", switch, "link", "set", port, "master", "br0", "up")
            _run(IP, "netns", "exec", switch, "sysctl", "-qw", f"net.ipv4.conf.{port}.route_localnet=1")
            _run(IP, "-n", namespace, "link", "set", "lo", "up")
            _run(IP, "-n", namespace, "addr", "del", "127.0.0.1/8", "dev", "lo")
            _run(IP, "-n", namespace, "addr", "add", "127.0.0.1/32", "dev", "lo")
            _run(IP, "-n", namespace, "addr", "add", f"{addresses[role]}/24", "dev", "eth0")
            _run(IP, "-n", namespace, "link", "set", "eth0", "up")
            _run(
                IP,
                "netns",
                "exec",
                namespace,
                "sysctl",
                "-qw",
                "net.ipv4.conf.eth0.route_localnet=1",
                "net.ipv4.conf.all.route_localnet=1",
            )
        yield Hosts(namespaces, addresses, switch)
    finally:
        for namespace in reversed(made):
            subprocess.run([IP, "netns", "del", namespace], capture_output=True, timeout=30)


@contextmanager
def triton_in(hosts_: Hosts, role: str, repository: Path, log: Path, grpc_port: int = 8001) -> Iterator[str]:
    """tritonserver inside a host, listening on its address only; yields its gRPC URL; stopped by PID."""
    install = find_triton()
    address = hosts_.addresses[role]
    with tempfile.TemporaryDirectory(prefix="harness-netns-triton-") as work:
        backend_dir = prepare_backend_dir(install, Path(work) / "backends")
        args = [
            str(install.binary),
            "--model-repository",
            str(repository),
            "--model-control-mode",
            "explicit",
            "--grpc-address",
            address,
            "--grpc-port",
            str(grpc_port),
            "--http-address",
            address,
            "--http-port",
            str(grpc_port - 1),
            "--allow-metrics",
            "false",
            "--exit-timeout-secs",
            "3",
            "--log-verbose",
            "0",
        ]
        if backend_dir:
            args += ["--backend-directory", str(backend_dir)]
        process = start_child(hosts_.exec(role, *args), log, env={**os.environ, **install.env})
        try:
            yield f"{address}:{grpc_port}"
        finally:
            if process.poll() is None:
                # A worker cut off mid-request leaves a connection Triton's shutdown waits on past its exit
                # timeout (SIGKILL after the 20 s wait in 3 of 3 runs): 3 s for requests, 8 s in all, then killed.
                process.terminate()
                try:
                    process.wait(timeout=8)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
                remove_orphan_shm()
