"""How a measuring run ended, and the exit status that says so: one reading of every way out of the loop."""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import (
    INTERRUPTED_EXIT,
    OK_EXIT,
    UNEXPECTED_EXIT,
    BudgetSpent,
    HarnessError,
    ServerLostError,
    WorkersLostError,
)

RUNNING = "running"  # a run saved while it is still being measured


@dataclass(frozen=True)
class Ending:
    """`stopped` is recorded (the search section's `stopped`); `cause` is the one line users read."""

    stopped: str  # "done", "interrupted", "budget", "server-lost", "workers-lost", "error", "defect"
    cause: str = ""
    exit_code: int = OK_EXIT

    @property
    def complete(self) -> bool:
        return self.stopped == "done"

    @property
    def asked_for(self) -> bool:
        """A stop the user asked for (Ctrl-C, SIGTERM, a budget): said by the summary, not as an error."""
        return self.stopped in ("interrupted", "budget")

    def at(self, where: str) -> Ending:
        """The same ending, its cause saying which level it cut short."""
        return Ending(self.stopped, f"{self.cause} (at {where})", self.exit_code) if where and self.cause else self


DONE = Ending("done")
INTERRUPTED = Ending("interrupted", "stopped by Ctrl-C or SIGTERM", INTERRUPTED_EXIT)
DEFECT = Ending("defect", "the run stopped on an unexpected error (its traceback follows)", UNEXPECTED_EXIT)


def ending_of(error: HarnessError) -> Ending:
    """A lost server or worker, a spent budget, a model that will not load, a full disk, bad input..."""
    stopped = (
        "budget"
        if isinstance(error, BudgetSpent)
        else "server-lost"
        if isinstance(error, ServerLostError)
        else "workers-lost"
        if isinstance(error, WorkersLostError)
        else "error"
    )
    return Ending(stopped, str(error), error.exit_code)
