"""--prometheus-port and --prometheus-bind: checked before anything starts, on every command that sends load."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

import pytest

from harness import defaults
from harness.cli.flags import add_prometheus_flags, prometheus_fields
from harness.cli.main import build_parser
from harness.errors import ConfigError
from harness.net import LOOPBACK
from helpers.processes import harness


def fields(*argv: str) -> dict:
    parser = argparse.ArgumentParser()
    add_prometheus_flags(parser)
    return prometheus_fields(parser.parse_args(list(argv)))


def test_off_unless_asked_and_on_loopback_by_default() -> None:
    assert fields() == {"prometheus_port": None, "prometheus_bind": LOOPBACK}
    assert defaults.PROMETHEUS_BIND == LOOPBACK


def test_zero_is_a_free_port_chosen_now() -> None:
    port = fields("--prometheus-port", "0")["prometheus_port"]
    assert isinstance(port, int) and 0 < port <= 65535
    with socket.create_server((LOOPBACK, port)):  # free indeed
        pass


@pytest.mark.parametrize("value", ["abc", "-1", "70000", "80.5", ""])
def test_a_value_that_is_no_port(value: str) -> None:
    with pytest.raises(ConfigError, match=rf"--prometheus-port '{value}' is not a port; give 1-65535, or 0 for a free one"):
        fields("--prometheus-port", value)


def test_a_taken_port() -> None:
    with socket.create_server((LOOPBACK, 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"--prometheus-port {port}: taken on {LOOPBACK} .*; give another, or 0"):
            fields("--prometheus-port", str(port))


def test_an_address_not_of_this_machine() -> None:
    with pytest.raises(ConfigError, match="--prometheus-bind 192.0.2.1: cannot listen there .*give an address of this"):
        fields("--prometheus-port", "0", "--prometheus-bind", "192.0.2.1")  # TEST-NET-1: never local


@pytest.mark.parametrize("command", [["sweep"], ["search"], ["ui"]])
def test_every_command_that_sends_load_takes_them(command: list[str]) -> None:
    args = build_parser().parse_args([*command, "--model", "m", "--prometheus-port", "0", "--prometheus-bind", "0.0.0.0"])
    assert (args.prometheus_port, args.prometheus_bind) == ("0", "0.0.0.0")


@pytest.mark.integration  # the harness command as a real process (no server: it stops before one starts)
@pytest.mark.parametrize("command", ["sweep", "search", "ui"])
def test_a_bad_port_stops_the_command_before_anything_starts(command: str, tmp_path: Path) -> None:
    result = harness(command, "--model", "identity", "--prometheus-port", "nine", cwd=tmp_path, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == (
        f"harness {command}: error: --prometheus-port 'nine' is not a port; give 1-65535, or 0 for a free one"
    )
    assert list(tmp_path.iterdir()) == []  # no run folder, no server log
