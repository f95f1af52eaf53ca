"""The harness's exception tree. Raised with context deep down, turned into one line and an exit code in the CLI.

Every exception the harness raises on purpose lives here, so a command's exit code says which kind of problem it
met, whichever command met it::

    HarnessError                exit 2   base; the message names the problem and the fix
    +-- ConfigError             exit 2   bad flags, specs, files or environment settings given by the user
    +-- ServerError             exit 3   Triton could not be found, started, reached or stopped
    |   +-- ServerLostError     exit 3   mid-sweep it exited, hung or failed a whole window: the run kept
    +-- ModelError              exit 4   a model failed to load, rejected a request, or answered wrongly
    |   +-- UnknownModel        exit 4   a model name the repository does not have (every command)
    |   +-- GpuUnavailable      exit 4   a GPU instance group on a GPU-less server: the sweep skips it
    +-- LoadError               exit 5   the load generator (Locust master, workers, engines) failed
    |   +-- NativeEngineUnavailable      the compiled engine cannot be built here: the Python engine stands in
    |   +-- WorkersLostError    exit 5   fewer sweep workers remain than expected: stopped, the run kept
    +-- BudgetSpent             exit 6   `harness search --budget` ran out: stopped where it was, the run kept
    +-- ResultsError            exit 2   a run folder, run.json or report.html is missing, unreadable or unknown

Two exit statuses belong to no error: INTERRUPTED_EXIT (130, Ctrl-C or SIGTERM: a stop asked for, the run kept) and
UNEXPECTED_EXIT (1, a defect: its traceback follows). 0 is a run that ended as asked.
"""

from __future__ import annotations

from collections.abc import Iterable

OK_EXIT = 0
UNEXPECTED_EXIT = 1
"""A defect, not a user's problem: the traceback follows, and a measuring run is kept, incomplete."""
INTERRUPTED_EXIT = 130
"""Ctrl-C or SIGTERM stopped a long-running command (128 + SIGINT, whichever of the two signals it was)."""


class HarnessError(Exception):
    """Base of every error the harness reports to a user. The message names the problem and the fix."""

    exit_code = 2


class ConfigError(HarnessError):
    """Bad flags, specs or files given by the user."""


class ServerError(HarnessError):
    """The Triton server could not be found, started, reached, or stopped."""

    exit_code = 3


class ServerLostError(ServerError):
    """The server exited, stopped answering, or failed every request mid-sweep: the run ends, interrupted."""


class ModelError(HarnessError):
    """A model failed to load, rejected a request, or answered with the wrong shape."""

    exit_code = 4


class UnknownModel(ModelError):
    """A model name the repository does not have: one message and one exit code in every command."""

    def __init__(self, model: str, known: Iterable[str], where: str = "the server's repository") -> None:
        names = ", ".join(sorted(known)) or "none"
        super().__init__(f"unknown model {model!r}; {where} has: {names}")
        self.model = model


class GpuUnavailable(ModelError):
    """A GPU instance group was asked of a server that has no GPU: a skip, not a failure."""


class LoadError(HarnessError):
    """The load generator (Locust master or workers) failed."""

    exit_code = 5


class NativeEngineUnavailable(LoadError):
    """The compiled engine cannot be built or run here; callers fall back to the Python engine unless told not to."""


class WorkersLostError(LoadError):
    """Fewer Locust workers remain than the sweep needs: it stops, keeping every level measured so far."""


class BudgetSpent(HarnessError):
    """The search's --budget ran out, between configurations or inside one: it stops where it is, keeping every
    level measured so far, the run incomplete (not an error: the exit status says which configurations are missing)."""

    exit_code = 6


class ResultsError(HarnessError):
    """A run folder, run.json or report.html is missing, unreadable, or of an unknown schema."""
