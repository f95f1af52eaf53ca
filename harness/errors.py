"""The harness's exception tree. Raised with context deep down, turned into one line and an exit code in the CLI."""

from __future__ import annotations


class HarnessError(Exception):
    """Base of every error the harness reports to a user. The message names the problem and the fix."""

    exit_code = 2


class ConfigError(HarnessError):
    """Bad flags, specs or files given by the user."""


class ServerError(HarnessError):
    """The Triton server could not be found, started, reached, or stopped."""

    exit_code = 3


class ServerLost(ServerError):
    """The server exited, stopped answering, or failed every request mid-sweep: the run ends, interrupted."""


class ModelError(HarnessError):
    """A model is unknown, failed to load, or rejected a request."""

    exit_code = 4


class GpuUnavailable(ModelError):
    """A GPU instance group was asked of a server that has no GPU: a skip, not a failure."""


class LoadError(HarnessError):
    """The load generator (Locust master or workers) failed."""

    exit_code = 5


class ResultsError(HarnessError):
    """A run folder, run.json or report.html is missing, unreadable, or of an unknown schema."""
