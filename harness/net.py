"""Loopback addresses and free ports: what the server, the sweep's Locust master and `harness ui` all need.

Neutral ground (no Triton, no Locust), so the load room does not import the server module to find a port.
"""

from __future__ import annotations

import ipaddress
import socket

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now (the kernel's pick; racy by nature, so bind soon)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def bind_error(host: str, port: int = 0) -> str | None:
    """Why a server could not listen on host:port now, or None when it could: not an address of this machine, or the
    port taken (closed connections waiting out TIME_WAIT do not count, as servers bind with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except (OSError, UnicodeError) as exc:
            return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
    return None


def port_is_free(port: int) -> bool:
    """Whether a server could listen on loopback `port` now."""
    return bind_error(LOOPBACK, port) is None


def is_loopback(host: str) -> bool:
    """Whether an address serves this machine only ('', '*' and names may be reachable from elsewhere)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
