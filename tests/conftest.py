"""Shared fixtures: one real tritonserver per test session on loopback, serving the bundled repository."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.triton.control import ControlClient
from harness.triton.repository import BUNDLED_REPOSITORY
from harness.triton.server import LocalServer


@pytest.fixture(scope="session")
def triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """The real server, started once with no model loaded (explicit model control); tests load what they need."""
    log = tmp_path_factory.mktemp("triton") / "triton.log"
    with LocalServer(BUNDLED_REPOSITORY, log) as server:
        yield server


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
