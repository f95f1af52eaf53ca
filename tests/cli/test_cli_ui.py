"""`harness ui` as a user (or a supervisor) runs it: exposure rules, the login, and SIGTERM with its own Triton."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
import pytest

from helpers.processes import HARNESS, alive, command_lines, harness_ui, orphaned_shm, shm_regions, stop_process

INTERRUPTED = 130  # Ctrl-C and SIGTERM alike (docs/serving-and-load.md, "Stopping")
LOGIN = "operator:s3cret-for-tests"


def _without_login() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "HARNESS_WEB_LOGIN"}


@pytest.mark.parametrize("web_host", ["0.0.0.0", "*"])
def test_exposing_the_web_ui_without_a_login_is_a_one_line_error(web_host: str, tmp_path: Path) -> None:
    # Refused before anything binds or starts: no Triton, no Locust (the URL is never contacted).
    result = subprocess.run(
        [*HARNESS, "ui", "--url", "127.0.0.1:9", "--model", "identity", "--web-host", web_host],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=_without_login(),
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("harness ui: error: --web-host") and "HARNESS_WEB_LOGIN=user:password" in lines[0]


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor())


def _log_in(opener: urllib.request.OpenerDirector, web: str, user: str, password: str) -> str:
    form = urllib.parse.urlencode({"username": user, "password": password}).encode()
    with opener.open(f"{web}/harness-login", data=form, timeout=10) as response:
        return response.url  # where the login redirected to


@pytest.mark.integration
def test_ui_with_its_own_triton_asks_for_the_login_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    shm_before = shm_regions()
    with harness_ui(None, "identity", 1, tmp_path, "--web-login", env={"HARNESS_WEB_LOGIN": LOGIN}) as (process, web):
        descendants = psutil.Process(process.pid).children(recursive=True)
        named = command_lines(descendants)
        assert any("tritonserver" in line for _, line in named)
        assert len([p for p, line in named if "locust" in line]) == 2  # master + worker

        stranger = _opener()
        with stranger.open(f"{web}/stats/requests", timeout=10) as response:  # no session: the login page
            assert urllib.parse.urlsplit(response.url).path == "/login"
        assert urllib.parse.urlsplit(_log_in(stranger, web, "operator", "wrong")).path == "/login"
        user = _opener()
        assert urllib.parse.urlsplit(_log_in(user, web, *LOGIN.split(":"))).path == "/"
        with user.open(f"{web}/stats/requests", timeout=10) as response:
            assert json.load(response)["worker_count"] == 1

        assert stop_process(process, signal.SIGTERM) == INTERRUPTED
    assert alive(descendants) == []  # tritonserver, its backend stubs, the Locust master and worker
    assert orphaned_shm(shm_before) == set()
    output = (tmp_path / "harness-ui.out").read_text()
    assert "stopping ..." in output and "Traceback" not in output
    assert len(list((tmp_path / "results").glob("ui-*/latency.json"))) == 1  # results kept
