"""The command-line side of the tools that start and follow job runs or ask staging about one
(`cicd.run_job`, `cicd.gate`, `cicd.promote`): their exit codes, the timeout and staging options,
one-line messages. Nothing here loads the
Databricks SDK, so a command that never reaches a workspace (`cicd.gate plan` of a rollback, every
`cicd.promote` edit but a verified promotion) starts without it: about 1.3 s of imports."""

from __future__ import annotations

import argparse

EXIT_SUCCESS = 0
EXIT_RUN_FAILED = 1
EXIT_REFUSED = 1  # cicd.promote, cicd.gate: a check said no, and nothing was changed
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


def add_staging_options(parser: argparse.ArgumentParser) -> None:
    """Where a release must have run green first, and whose credentials read it there
    (`cicd.promote`, `cicd.gate plan|stage`)."""
    parser.add_argument(
        "--staging-stack",
        default="staging",
        help="the stack whose job must have run the release green (default: staging)",
    )
    parser.add_argument(
        "--staging-job-id",
        type=int,
        metavar="N",
        help="the staging job (default: found by the staging stack's job name)",
    )
    parser.add_argument(
        "--staging-profile",
        metavar="PROFILE",
        help="~/.databrickscfg profile of a staging reader (default:"
        " STAGING_READER_CLIENT_ID/_SECRET, else the SDK's default credentials)",
    )


def one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
