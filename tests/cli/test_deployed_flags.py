"""Unit tests, no server: `harness sweep --url` without --instances measures the model as deployed."""

from __future__ import annotations

import pytest

from harness.cli.main import build_parser
from harness.cli.sweep_flags import spec_from_args
from harness.errors import ConfigError
from harness.record.model import InstanceGroup
from harness.sweep.spec import SweepSpec


def _spec(*argv: str) -> SweepSpec:
    return spec_from_args(build_parser().parse_args(["sweep", "--model", "m", *argv]))


def test_url_without_instances_means_as_deployed() -> None:
    assert _spec("--url", "h:1").instances == (InstanceGroup(source="deployed"),)
    assert _spec().instances == (InstanceGroup("CPU", 1, "override"),)
    assert _spec("--url", "h:1", "--instances", "cpu:2").instances == (InstanceGroup("CPU", 2, "override"),)
    with pytest.raises(ConfigError, match="--max-batch-size changes the deployed config"):
        _spec("--url", "h:1", "--max-batch-size", "4")
