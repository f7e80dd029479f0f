"""Run a stack's Databricks job once, wait for it, report the result (the build server's gate).

Usage::

    python -m cicd.run_job --stack staging [--job KEY] [--param KEY=VALUE ...] [--timeout 3600]
    python -m cicd.run_job --job-id 123 [--job-param KEY=VALUE ...] [--poll-interval 15]

``--stack NAME`` reads the job id from the stack's outputs (``jobId`` for the main job, ``jobIds``
for the job ``--job KEY`` names; run in the Pulumi project directory) and the
workspace from ``databricks:host`` in ``Pulumi.<NAME>.yaml``; ``--job-id`` skips Pulumi (the
host then comes from ``DATABRICKS_HOST`` or a profile). ``--param`` passes notebook parameters (``dbutils.widgets``) to the run,
``--job-param`` job-level parameters (for jobs that define them); both repeatable.

The run is started with the official Databricks SDK for Python (``databricks.sdk``), which takes
its credentials as it always does: ``DATABRICKS_HOST`` plus ``DATABRICKS_CLIENT_ID`` /
``DATABRICKS_CLIENT_SECRET`` (service principal, OAuth M2M) from the environment, or a
``~/.databrickscfg`` profile. While waiting it prints one line per life cycle state change with
the elapsed seconds, then the run page URL, the result state and, for every task run, the value the
notebook passed to ``dbutils.notebook.exit()``. If ``--timeout`` seconds pass first, the run is
cancelled.

Exit codes:

====  ==========================================================================================
0     the run finished with result state SUCCESS
1     the run finished without succeeding: FAILED, CANCELED, TIMEDOUT (the job's own timeout),
      SUCCESS_WITH_FAILURES, skipped, or an internal error of the Jobs service
2     usage error: bad or missing arguments (argparse prints what is wrong)
3     the run did not finish within ``--timeout``; it was cancelled
4     the job could not be started or watched: workspace unreachable, authentication or
      permission failure, job not found, or (with ``--stack``) no ``pulumi`` CLI / no ``jobId``
      output. One line on stderr names the host or stack and what to check.
130   interrupted (Ctrl-C, or the CI job was cancelled); the run was cancelled
====  ==========================================================================================
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from databricks.sdk.errors.base import DatabricksError
from databricks.sdk.errors.platform import NotFound, PermissionDenied, Unauthenticated

from cicd.jobs.cli import (
    DEFAULT_POLL_INTERVAL_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    EXIT_INTERRUPTED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    one_line,
    positive_seconds,
)
from cicd.jobs.provenance import DIGEST_PARAM, RELEASE_PARAM, ProvenanceError, stack_run_record
from cicd.jobs.runs import RunWatcher
from cicd.jobs.stack_outputs import JobIdError, job_id_from_stack, stack_host, workspace_client
from cicd.project import PROJECT_DIR

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    if key != key.strip():
        raise argparse.ArgumentTypeError(f"parameter name {key!r} has surrounding spaces")
    return key, value


def _positive_int(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cicd.run_job",
        description="Run a Databricks job once, wait for it and report the result. Exit codes: "
        "0 success, 1 run failed/cancelled/skipped, 2 usage error, 3 timed out (run cancelled), "
        "4 workspace unreachable, authentication failed or job not found, 130 interrupted.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples:\n"
        "  python -m cicd.run_job --stack staging --timeout 3600\n"
        "  python -m cicd.run_job --stack prod --job orders_quality --param run_date=2026-12-01\n"
        "  python -m cicd.run_job --job-id 123 --job-param env=dev",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--stack", metavar="NAME", help="read the job id from this stack's jobId output"
    )
    target.add_argument("--job-id", type=_positive_int, metavar="N", help="the job to run")
    parser.add_argument(
        "--job",
        metavar="KEY",
        default="main",
        help="with --stack: which of the stack's jobs (a key of databricks-cicd:jobs; default"
        " 'main', databricks-cicd:job), e.g. --job orders_quality",
    )
    parser.add_argument(
        "--param",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="notebook parameter for this run (repeatable)",
    )
    parser.add_argument(
        "--job-param",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="job-level parameter for this run, for jobs that define job parameters (repeatable)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help="cancel the run and exit 3 if it has not finished after this long (default: 3600)",
    )
    parser.add_argument(
        "--poll-interval",
        type=positive_seconds,
        default=DEFAULT_POLL_INTERVAL_SECONDS,
        metavar="SECONDS",
        help="seconds between status checks (default: 15)",
    )
    return parser


def _params(
    parser: argparse.ArgumentParser, pairs: list[tuple[str, str]], flag: str
) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params:
            parser.error(f"argument {flag}: {key!r} given more than once")
        params[key] = value
    return params or None


def _host_of(client: object | None) -> str:
    host = getattr(getattr(client, "config", None), "host", None)
    if isinstance(host, str) and host:
        return host
    env_host = os.environ.get("DATABRICKS_HOST")
    return env_host or "<no host: DATABRICKS_HOST is not set and no ~/.databrickscfg profile>"


def _explain(exc: BaseException, host: str, job_id: int, watcher: RunWatcher | None) -> str:
    running = ""
    if watcher is not None and watcher.run_id is not None:
        running = f" Run {watcher.run_id} may still be running"
        running += f": {watcher.run_page_url}" if watcher.run_page_url else "."
    # A workspace often answers a bad personal access token with 403 "Invalid access token",
    # which the SDK raises as PermissionDenied: that is a credential problem, not a missing right.
    if isinstance(exc, Unauthenticated) or "invalid access token" in str(exc).lower():
        return (
            f"authentication to {host} failed ({one_line(str(exc), 200)}): check "
            "DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET (service principal OAuth secret),"
            " or DATABRICKS_TOKEN." + running
        )
    if isinstance(exc, PermissionDenied):
        return (
            f"permission denied on {host} ({one_line(str(exc), 200)}): the identity needs "
            f"CAN MANAGE RUN on job {job_id}." + running
        )
    if isinstance(exc, NotFound) or "does not exist" in str(exc):
        return (
            f"job {job_id} not found on {host} ({one_line(str(exc), 200)}): check that "
            "DATABRICKS_HOST is the workspace the stack deploys to and the stack's jobId output."
            + running
        )
    if isinstance(exc, DatabricksError):
        return f"the workspace {host} refused the request: {one_line(str(exc), 300)}." + running
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    return (
        f"cannot reach the Databricks workspace {host} ({type(cause).__name__}: "
        f"{one_line(str(cause), 200)}): check DATABRICKS_HOST, the network and any proxy." + running
    )


def main(
    argv: Sequence[str] | None = None,
    *,
    client_factory: Callable[[], WorkspaceClient] = workspace_client,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    project_dir: Path = PROJECT_DIR,
) -> int:
    out, err = sys.stdout, sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        notebook_params = _params(parser, args.param, "--param")
        job_parameters = _params(parser, args.job_param, "--job-param")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE

    if args.job_id is not None and args.job != "main":
        print("error: --job picks a job of --stack; with --job-id leave it out", file=err)
        return EXIT_USAGE
    if args.job_id is not None:
        job_id: int = args.job_id
    else:
        try:
            job_id = job_id_from_stack(args.stack, job=args.job)
        except JobIdError as exc:
            print(f"error: {exc}", file=err, flush=True)
            return EXIT_UNREACHABLE
        print(f"stack {args.stack}: job {args.job} ({job_id})", file=out, flush=True)
        host = stack_host(args.stack)
        if host:
            # The job lives in the workspace the stack deploys to: one place names the host.
            os.environ["DATABRICKS_HOST"] = host
        try:
            # The run records what it ran (live release, content digest): staging's green runs
            # are what lets a release reach production (cicd.jobs.provenance).
            record = stack_run_record(project_dir, args.stack)
        except ProvenanceError as exc:
            print(f"error: {exc}", file=err, flush=True)
            return EXIT_USAGE
        print(
            f"recording with the run: release {record[RELEASE_PARAM]},"
            f" content {record[DIGEST_PARAM]}",
            file=out,
            flush=True,
        )
        notebook_params = {**(notebook_params or {}), **record}

    try:
        client = client_factory()
    except ValueError as exc:
        # The SDK's Config raises ValueError when it cannot resolve credentials, including when
        # the host cannot be reached to discover its OAuth endpoints.
        print(
            f"error: cannot set up Databricks credentials for {_host_of(None)}: "
            f"{one_line(str(exc), 300)}. Check DATABRICKS_HOST, DATABRICKS_CLIENT_ID and "
            "DATABRICKS_CLIENT_SECRET (or the ~/.databrickscfg profile), and that the host "
            "is reachable.",
            file=err,
            flush=True,
        )
        return EXIT_UNREACHABLE
    except (DatabricksError, OSError) as exc:
        print(f"error: {_explain(exc, _host_of(None), job_id, None)}", file=err, flush=True)
        return EXIT_UNREACHABLE

    watcher = RunWatcher(
        jobs=client.jobs,
        job_id=job_id,
        notebook_params=notebook_params,
        job_parameters=job_parameters,
        timeout=args.timeout,
        poll_interval=args.poll_interval,
        clock=clock,
        sleep=sleep,
        out=out,
        err=err,
    )
    try:
        return watcher.run()
    except (DatabricksError, OSError) as exc:
        # DatabricksError, requests' ConnectionError/Timeout and the SDK's retry TimeoutError are
        # all OSError subclasses: an API or network failure, never a traceback.
        print(f"error: {_explain(exc, _host_of(client), job_id, watcher)}", file=err, flush=True)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        print("interrupted", file=err, flush=True)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
