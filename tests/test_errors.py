"""The exception tree: every error class is drawn in errors.py's docstring with its exit code, and one message per kind."""

from __future__ import annotations

import inspect
import re

import pytest

from harness import errors
from harness.errors import HarnessError, ModelError, UnknownModel

CLASSES = {name: cls for name, cls in vars(errors).items() if inspect.isclass(cls) and issubclass(cls, HarnessError)}


def _drawn_tree() -> dict[str, tuple[int, str | None]]:
    """class name -> (indent depth, exit code written on its line) as the module docstring draws them."""
    drawn = {}
    for line in (errors.__doc__ or "").splitlines():
        match = re.match(r"^\s*((?:\|   |    )*)(?:\+-- )?([A-Z]\w+)\b(?:\s+exit (\d))?", line)
        if match and match.group(2) in CLASSES:
            drawn[match.group(2)] = (len(match.group(1)) // 4, match.group(3))
    return drawn


def test_every_exception_is_drawn_in_the_docstring_with_its_exit_code() -> None:
    drawn = _drawn_tree()
    missing = sorted(set(CLASSES) - set(drawn))
    assert missing == [], f"draw {missing} in harness/errors.py's docstring tree, under its parent, with its exit code"
    assert set(drawn) == set(CLASSES)
    for name, (_, code) in drawn.items():
        if code is not None:
            assert int(code) == CLASSES[name].exit_code, name


def test_the_drawing_nests_each_class_under_its_parent() -> None:
    drawn = _drawn_tree()
    for name, cls in CLASSES.items():
        if cls is HarnessError:
            continue
        parent = cls.__mro__[1].__name__
        depth = 0 if parent == "HarnessError" else drawn[parent][0] + 1
        assert drawn[name][0] == depth, name


def test_unknown_model_is_one_model_error_naming_the_known_ones() -> None:
    error = UnknownModel("mnist_cnnn", ["resnet", "identity"])
    assert isinstance(error, ModelError) and error.exit_code == 4
    assert str(error) == "unknown model 'mnist_cnnn'; the server's repository has: identity, resnet"
    assert str(UnknownModel("x", [], where="/tmp/repo")) == "unknown model 'x'; /tmp/repo has: none"


@pytest.mark.parametrize("module", ["harness.load.engine.compiled", "harness.triton.probe"])
def test_no_exception_class_is_defined_outside_errors(module: str) -> None:
    imported = __import__(module, fromlist=["_"])
    own = [
        name
        for name, cls in vars(imported).items()
        if inspect.isclass(cls) and issubclass(cls, Exception) and cls.__module__ == module
    ]
    assert own == []
