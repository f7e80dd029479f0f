"""The command-line side of the tools that start and follow job runs (`cicd.run_job`,
`cicd.gate run`): their exit codes, the timeout options, one-line messages. Nothing here loads the
Databricks SDK, so a command that never reaches a workspace (`cicd.gate plan` of a rollback, every
`cicd.promote` edit but a verified promotion) starts without it: about 1.3 s of imports."""

from __future__ import annotations

import argparse

EXIT_SUCCESS = 0
EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
EXIT_TIMED_OUT = 3
EXIT_UNREACHABLE = 4
EXIT_INTERRUPTED = 130

# How long a run may take before it is cancelled, and how often it is looked at.
DEFAULT_TIMEOUT_SECONDS = 3600.0
DEFAULT_POLL_INTERVAL_SECONDS = 15.0


def positive_seconds(text: str) -> float:
    """A command-line timeout or poll interval: a finite number of seconds above zero."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return seconds


def one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
