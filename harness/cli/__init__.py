"""Commands: one registration per command; handlers turn flags into typed specs.

Nothing imports this package: it is the top of the house (the `harness` entry point).
"""

from harness.cli.main import main

__all__ = ["main"]
