"""--protocol grpc|http: on every command that sends load, into the spec, the server source, the driver's Locust
options and the load options a worker reads; grpc unless asked (harness.defaults.PROTOCOL)."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness import defaults
from harness.cli.flags import server_source
from harness.cli.main import build_parser
from harness.cli.sweep_flags import spec_from_args
from harness.cli.ui import _locust_options
from harness.errors import ConfigError
from harness.load.engine import compiled
from harness.load.options import LoadOptions
from harness.triton.server import Endpoints, RemoteServer

COMMANDS = {
    "sweep": ["sweep", "--model", "m"],
    "search": ["search", "--model", "m"],
    "plan": ["plan", "--model", "m", "--traffic", "100"],
    "ui": ["ui", "--model", "m"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_that_sends_load_takes_it_grpc_by_default(command: str) -> None:
    assert defaults.PROTOCOL == "grpc"
    assert build_parser().parse_args(COMMANDS[command]).protocol == "grpc"
    args = build_parser().parse_args([*COMMANDS[command], "--protocol", "http", "--url", "127.0.0.1:8000"])
    assert args.protocol == "http" and server_source(args).protocol == "http"


def test_the_sweep_spec_records_it_and_a_remote_http_url_is_the_load_and_control_endpoint() -> None:
    args = build_parser().parse_args(["sweep", "--model", "m", "--url", "127.0.0.1:8000", "--protocol", "http"])
    assert spec_from_args(args).protocol == "http"
    endpoints = RemoteServer("127.0.0.1:8000", "http").endpoints
    assert endpoints.load_url("http") == "127.0.0.1:8000" and endpoints.control() == ("127.0.0.1:8000", "http")


def test_a_server_we_started_takes_http_load_on_its_http_port_and_control_on_grpc() -> None:
    endpoints = Endpoints(grpc_url="127.0.0.1:1", http_url="127.0.0.1:2")
    assert endpoints.load_url("http") == "127.0.0.1:2" and endpoints.load_url("grpc") == "127.0.0.1:1"
    assert endpoints.control() == ("127.0.0.1:1", "grpc")


def test_the_ui_hands_it_to_master_and_workers_and_workers_read_it() -> None:
    args = build_parser().parse_args(["ui", "--model", "m", "--protocol", "http"])
    args.prometheus_port = None
    options = _locust_options(args, "127.0.0.1:2", Path("/tmp"))
    assert options[options.index("--protocol") + 1] == "http" and options[options.index("--host") + 1] == "127.0.0.1:2"
    assert LoadOptions.from_parsed(SimpleNamespace(protocol="http")).protocol == "http"
    assert LoadOptions.from_parsed(argparse.Namespace()).protocol == "grpc"


def test_http_refuses_output_checks_in_one_line() -> None:
    compiled.check_protocol("grpc", validating=True)  # gRPC checks outputs
    compiled.check_protocol("http")
    with pytest.raises(ConfigError, match="--protocol http does not check responses.*use --protocol grpc"):
        compiled.check_protocol("http", validating=True)
