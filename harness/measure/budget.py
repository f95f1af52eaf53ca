"""--budget: a bound on the whole run, looked at before each curve and, through the level's health check, every
time a level waits (every harness.sweep.runner.HEALTH_POLL_S), so one curve cannot run past it."""

from __future__ import annotations

import time
from typing import Callable

from harness.errors import BudgetSpent


class Budget:
    def __init__(self, seconds: float | None, server_health: Callable[[], str | None], command: str) -> None:
        self.seconds, self.server_health, self.command = seconds, server_health, command
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def check(self) -> None:
        if self.seconds is not None and self.elapsed() > self.seconds:
            raise BudgetSpent(
                f"the {self.command}'s --budget of {self.seconds:g} s ran out after {self.elapsed():.1f} s; "
                "a longer --budget measures what is left"
            )

    def health(self) -> str | None:
        """The level's health check: the server's exit cause, or BudgetSpent once the budget is gone."""
        self.check()
        return self.server_health()
