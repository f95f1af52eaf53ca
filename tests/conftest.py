"""Shared fixtures: one real tritonserver per test session on loopback, serving the bundled repository."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.triton.control import ControlClient
from harness.triton.repository import BUNDLED_REPOSITORY
from harness.triton.server import LocalServer
from helpers.server_guard import restart_if_down


@pytest.fixture(scope="session")
def triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """The real server, started once with no model loaded (explicit model control); tests load what they need."""
    log = tmp_path_factory.mktemp("triton") / "triton.log"
    with LocalServer(BUNDLED_REPOSITORY, log) as server:
        yield server


@pytest.fixture(autouse=True)
def _session_server_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that needs the session's server gets a live one, and a server that dies (or hangs) under a test fails
    that test by name and is restarted on the same ports, so the tests after it do not each wait out a timeout.
    (Triton 2.51 has crashed under the suite: SIGSEGV or SIGABRT right after a model reload.)"""
    if "triton" not in request.fixturenames:
        yield
        return
    server: LocalServer = request.getfixturevalue("triton")
    before = restart_if_down(server)
    if before:
        pytest.fail(f"the session's tritonserver was down before this test ({before}); restarted it")
    yield
    after = restart_if_down(server)
    if after:
        pytest.fail(f"the session's tritonserver went down during this test ({after}); restarted it for the next")


@pytest.fixture(scope="session")
def triton_url(triton: LocalServer) -> str:
    return triton.endpoints.grpc_url


@pytest.fixture()
def control(triton_url: str) -> Iterator[ControlClient]:
    with ControlClient(triton_url) as client:
        yield client


@pytest.fixture(scope="session")
def repository() -> Path:
    return BUNDLED_REPOSITORY


def pytest_collection_finish(session: pytest.Session) -> None:
    """Locust's import gevent-patches the importing process (threads, sockets, subprocess): in the test process
    that hangs or breaks unrelated tests. Tests run Locust as real processes; a test module that pulls it in at
    import time fails the run here, by name, instead of hanging it later."""
    import sys

    if "locust" in sys.modules or "gevent.monkey" in sys.modules and _gevent_patched():
        raise pytest.UsageError(
            "a test module imported Locust (it gevent-patches the test process); import the "
            "Locust-free module instead, or run Locust as a subprocess"
        )


def _gevent_patched() -> bool:
    from gevent import monkey

    return bool(monkey.is_module_patched("threading"))
