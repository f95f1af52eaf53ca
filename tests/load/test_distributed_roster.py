"""Which workers a sweep's master accepts: the one-line reasons, and the command line it prints for them."""

from __future__ import annotations

import argparse
import shlex

import pytest

from harness.cli.sweep_flags import check_local_address
from harness.errors import ConfigError
from harness.load.roster import mismatch, worker_command

MASTER = {
    "harness": "0.1.0",
    "locust": "2.47.0",
    "options": {"model": "identity", "batch_size": 1, "input_seed": 0, "arrivals": "constant"},
}


def worker(**changes: object) -> dict:
    options = {**MASTER["options"], **{k: v for k, v in changes.items() if k in MASTER["options"]}}
    return {**MASTER, **{k: v for k, v in changes.items() if k not in MASTER["options"]}, "options": options}


def test_a_matching_worker_is_accepted() -> None:
    assert mismatch(MASTER, worker()) is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"harness": "0.0.9"}, "harness version 0.0.9 differs from the master's 0.1.0; install 0.1.0"),
        ({"locust": "2.40.0"}, "Locust version 2.40.0 differs from the master's 2.47.0; install 2.47.0"),
        (
            {"model": "mnist_cnn"},
            "--model mnist_cnn differs from the master's identity; start the worker with --model identity",
        ),
        ({"batch_size": 8}, "--batch-size 8 differs from the master's 1; start the worker with --batch-size 1"),
        (
            {"arrivals": "poisson"},
            "--arrivals poisson differs from the master's constant; start the worker with --arrivals constant",
        ),
    ],
)
def test_a_mismatched_worker_gets_one_line_naming_the_difference_and_the_fix(changes: dict, reason: str) -> None:
    assert mismatch(MASTER, worker(**changes)) == reason


def test_the_printed_worker_line_carries_every_checked_option() -> None:
    parsed = argparse.Namespace(**MASTER["options"])
    words = shlex.split(worker_command("10.1.2.3", 5557, parsed))
    assert words[:9] == [
        "python3",
        "-m",
        "harness.locustfile",
        "--worker",
        "--master-host",
        "10.1.2.3",
        "--master-port",
        "5557",
        "--model",
    ]
    pairs = dict(zip(words[6::2], words[7::2], strict=True))
    assert pairs == {
        "--master-port": "5557",
        "--model": "identity",
        "--batch-size": "1",
        "--input-seed": "0",
        "--arrivals": "constant",
    }


def test_only_addresses_of_this_machine_can_be_bound() -> None:
    check_local_address("127.0.0.1")
    check_local_address("0.0.0.0")
    with pytest.raises(ConfigError, match="--master-bind 192.0.2.1: not an address of this machine"):
        check_local_address("192.0.2.1")
    with pytest.raises(ConfigError, match="--master-bind no.such.host.invalid"):
        check_local_address("no.such.host.invalid")


def test_without_option_checks_only_versions_refuse() -> None:
    """The web UI's master: its form may change the options, so only a version mismatch is refused."""
    assert mismatch(MASTER, worker(model="mnist_cnn"), options=False) is None
    assert mismatch(MASTER, worker(harness="0.0.9"), options=False).startswith("harness version 0.0.9")
