"""Run a stack's Databricks job once, wait for it, report the result (the build server's gate).

Usage::

    python -m cicd.run_job --stack staging [--param KEY=VALUE ...] [--timeout 3600]
    python -m cicd.run_job --job-id 123 [--job-param KEY=VALUE ...] [--poll-interval 15]

``--stack NAME`` reads the job id from the stack's ``jobId`` output
(``pulumi stack output jobId --stack NAME``, run in the Pulumi project directory) and the
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
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TextIO

from databricks.sdk.errors.base import DatabricksError
from databricks.sdk.errors.platform import NotFound, PermissionDenied, Unauthenticated
from databricks.sdk.service._internal import Wait
from databricks.sdk.service.jobs import (
    Run,
    RunLifeCycleState,
    RunLifecycleStateV2State,
    RunNowResponse,
    RunOutput,
    RunResultState,
)

from cicd.config import ConfigError, pulumi_config_map

EXIT_SUCCESS = 0
EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
EXIT_TIMED_OUT = 3
EXIT_UNREACHABLE = 4
EXIT_INTERRUPTED = 130

DEFAULT_TIMEOUT_SECONDS = 3600.0
DEFAULT_POLL_INTERVAL_SECONDS = 15.0
PULUMI_TIMEOUT_SECONDS = 300.0

# Life cycle states after which the run will not change any more.
TERMINAL_STATES = frozenset(
    {RunLifeCycleState.TERMINATED, RunLifeCycleState.SKIPPED, RunLifeCycleState.INTERNAL_ERROR}
)

# The Pulumi project (Pulumi.yaml) is the parent of this package.
PROJECT_DIR = Path(__file__).resolve().parent.parent


class JobsLike(Protocol):
    """The part of ``WorkspaceClient.jobs`` this command uses (a fake implements it in tests)."""

    def run_now(
        self,
        job_id: int,
        *,
        job_parameters: dict[str, str] | None = None,
        notebook_params: dict[str, str] | None = None,
    ) -> Wait[Run]: ...

    def get_run(self, run_id: int) -> Run: ...

    def get_run_output(self, run_id: int) -> RunOutput: ...

    def cancel_run(self, run_id: int) -> object: ...


class ClientLike(Protocol):
    @property
    def jobs(self) -> JobsLike: ...


class JobIdError(Exception):
    """The job id could not be resolved from the stack; the message says why and what to do."""


# --------------------------------------------------------------------------------------------
# Arguments


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


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cicd.run_job",
        description="Run a Databricks job once, wait for it and report the result. Exit codes: "
        "0 success, 1 run failed/cancelled/skipped, 2 usage error, 3 timed out (run cancelled), "
        "4 workspace unreachable, authentication failed or job not found, 130 interrupted.",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--stack", metavar="NAME", help="read the job id from this stack's jobId output"
    )
    target.add_argument("--job-id", type=_positive_int, metavar="N", help="the job to run")
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
        type=_positive_seconds,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help="cancel the run and exit 3 if it has not finished after this long (default: 3600)",
    )
    parser.add_argument(
        "--poll-interval",
        type=_positive_seconds,
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


# --------------------------------------------------------------------------------------------
# Job id from the stack


def job_id_from_stack(stack: str, *, cwd: Path = PROJECT_DIR) -> int:
    """``pulumi stack output jobId --stack <stack>`` as an int, or JobIdError saying what to do."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise JobIdError(
            f"cannot read the job id of stack {stack!r}: the pulumi CLI is not on PATH. "
            "Install it (https://www.pulumi.com/docs/install/) or pass --job-id."
        )
    command = [pulumi, "stack", "output", "jobId", "--json", "--stack", stack, "--non-interactive"]
    env = dict(os.environ, PULUMI_SKIP_UPDATE_CHECK="true")
    try:
        done = subprocess.run(
            command,
            cwd=cwd if (cwd / "Pulumi.yaml").is_file() else None,
            env=env,
            capture_output=True,
            text=True,
            timeout=PULUMI_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise JobIdError(f"cannot run `pulumi stack output` for stack {stack!r}: {exc}") from None
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {done.returncode}"
        raise JobIdError(
            f"cannot read output jobId of stack {stack!r}: {reason}. Check that the stack exists "
            "and has been deployed (pulumi up), and that PULUMI_BACKEND_URL (or "
            "PULUMI_ACCESS_TOKEN) and PULUMI_CONFIG_PASSPHRASE are set; or pass --job-id."
        )
    try:
        value = json.loads(done.stdout)
    except ValueError:
        value = done.stdout.strip()
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise JobIdError(
            f"output jobId of stack {stack!r} is {done.stdout.strip()!r}, not a job id; "
            "pass --job-id."
        )
    return value


# --------------------------------------------------------------------------------------------
# Running and watching


def _life_cycle(run: Run) -> RunLifeCycleState | None:
    if run.state is not None and run.state.life_cycle_state is not None:
        return run.state.life_cycle_state
    # Newer responses may carry only the v2 status.
    if run.status is not None and run.status.state is RunLifecycleStateV2State.TERMINATED:
        return RunLifeCycleState.TERMINATED
    return None


def _state_name(state: RunLifeCycleState | None) -> str:
    return state.value if state is not None else "UNKNOWN"


def _result_name(result: RunResultState | None) -> str:
    return result.value if result is not None else "NONE"


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


@dataclass
class RunWatcher:
    """Starts one run of a job and follows it to the end; reports to ``out``/``err``."""

    jobs: JobsLike
    job_id: int
    notebook_params: dict[str, str] | None
    job_parameters: dict[str, str] | None
    timeout: float
    poll_interval: float
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    out: TextIO
    err: TextIO
    run_id: int | None = None
    run_page_url: str | None = None
    _last_state: RunLifeCycleState | None = field(default=None, repr=False)
    _reported_a_state: bool = field(default=False, repr=False)

    def _say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def _complain(self, text: str) -> None:
        print(text, file=self.err, flush=True)

    def run(self) -> int:
        started_at = self.clock()
        waiter = self.jobs.run_now(
            job_id=self.job_id,
            notebook_params=self.notebook_params,
            job_parameters=self.job_parameters,
        )
        self.run_id = self._run_id_of(waiter)
        self._say(f"started run {self.run_id} of job {self.job_id}")
        try:
            return self._follow(started_at)
        except KeyboardInterrupt:
            self._complain(f"interrupted: cancelling run {self.run_id}")
            self._cancel()
            return EXIT_INTERRUPTED

    @staticmethod
    def _run_id_of(waiter: Wait[Run]) -> int:
        response: object = waiter.response
        if isinstance(response, RunNowResponse) and response.run_id is not None:
            return response.run_id
        run_id: object = waiter.bind().get("run_id")
        if isinstance(run_id, int):
            return run_id
        raise DatabricksError("run-now returned no run_id")

    def _follow(self, started_at: float) -> int:
        assert self.run_id is not None
        while True:
            run = self.jobs.get_run(self.run_id)
            elapsed = self.clock() - started_at
            if run.run_page_url and self.run_page_url is None:
                self.run_page_url = run.run_page_url
                self._say(f"run page: {self.run_page_url}")
            state = _life_cycle(run)
            if not self._reported_a_state or state != self._last_state:
                self._reported_a_state = True
                self._last_state = state
                message = run.state.state_message if run.state is not None else None
                suffix = f" - {_one_line(message)}" if message else ""
                self._say(f"[{elapsed:6.0f}s] {_state_name(state)}{suffix}")
            if state in TERMINAL_STATES:
                return self._report(run)
            remaining = self.timeout - elapsed
            if remaining <= 0:
                return self._timed_out(elapsed)
            self.sleep(min(self.poll_interval, remaining))

    def _cancel(self) -> bool:
        assert self.run_id is not None
        try:
            self.jobs.cancel_run(self.run_id)
        except (DatabricksError, OSError) as exc:
            self._complain(f"could not cancel run {self.run_id}: {_one_line(str(exc))}")
            return False
        return True

    def _timed_out(self, elapsed: float) -> int:
        cancelled = self._cancel()
        what = "cancelled it" if cancelled else "cancelling it FAILED, cancel it by hand"
        self._say(
            f"result: TIMED OUT after {elapsed:.0f}s (last state {_state_name(self._last_state)})"
        )
        if self.run_page_url:
            self._say(f"run page: {self.run_page_url}")
        self._complain(
            f"run {self.run_id} of job {self.job_id} did not finish within {self.timeout:.0f}s; "
            f"{what}."
        )
        return EXIT_TIMED_OUT

    def _report(self, run: Run) -> int:
        state = run.state
        result = state.result_state if state is not None else None
        message = state.state_message if state is not None else None
        self._say(f"result: {_result_name(result)} ({_state_name(_life_cycle(run))})")
        if message:
            self._say(f"state message: {_one_line(message, 1000)}")
        task_runs = [task for task in (run.tasks or []) if task.run_id is not None]
        if task_runs:
            for task in sorted(task_runs, key=lambda t: t.task_key):
                task_result = task.state.result_state if task.state is not None else None
                assert task.run_id is not None
                self._report_output(
                    task.run_id, f"task {task.task_key}: {_result_name(task_result)}"
                )
        elif self.run_id is not None:
            self._report_output(self.run_id, "run output")
        self._say(f"run page: {run.run_page_url or self.run_page_url or '(not available)'}")
        if result is RunResultState.SUCCESS:
            return EXIT_SUCCESS
        self._complain(
            f"run {self.run_id} of job {self.job_id} did not succeed: {_result_name(result)}"
            + (f" - {_one_line(message)}" if message else "")
        )
        return EXIT_RUN_FAILED

    def _report_output(self, run_id: int, heading: str) -> None:
        self._say(heading)
        try:
            output = self.jobs.get_run_output(run_id)
        except DatabricksError as exc:
            self._say(f"  output not available: {_one_line(str(exc))}")
            return
        notebook = output.notebook_output
        if notebook is not None and notebook.result is not None:
            truncated = " (truncated)" if notebook.truncated else ""
            self._say(f"  exit value{truncated}: {notebook.result}")
        else:
            self._say("  exit value: (none)")
        if output.error:
            self._say(f"  error: {_one_line(output.error, 1000)}")


# --------------------------------------------------------------------------------------------
# Entry point


def stack_host(stack: str, project_dir: Path = PROJECT_DIR) -> str | None:
    """`databricks:host` of `Pulumi.<stack>.yaml`, the workspace the stack deploys to."""
    try:
        host = pulumi_config_map(project_dir / f"Pulumi.{stack}.yaml").get("databricks:host")
    except ConfigError:
        return None
    return host or None


def _host_of(client: object | None) -> str:
    host = getattr(getattr(client, "config", None), "host", None)
    if isinstance(host, str) and host:
        return host
    env_host = os.environ.get("DATABRICKS_HOST")
    return env_host or "<no host: DATABRICKS_HOST is not set and no ~/.databrickscfg profile>"


def _workspace_client() -> ClientLike:
    from databricks.sdk import WorkspaceClient

    return WorkspaceClient()


def _explain(exc: BaseException, host: str, job_id: int, watcher: RunWatcher | None) -> str:
    running = ""
    if watcher is not None and watcher.run_id is not None:
        running = f" Run {watcher.run_id} may still be running"
        running += f": {watcher.run_page_url}" if watcher.run_page_url else "."
    if isinstance(exc, Unauthenticated):
        return (
            f"authentication to {host} failed ({_one_line(str(exc), 200)}): check "
            "DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET (service principal OAuth secret)."
            + running
        )
    if isinstance(exc, PermissionDenied):
        return (
            f"permission denied on {host} ({_one_line(str(exc), 200)}): the identity needs "
            f"CAN MANAGE RUN on job {job_id}." + running
        )
    if isinstance(exc, NotFound) or "does not exist" in str(exc):
        return (
            f"job {job_id} not found on {host} ({_one_line(str(exc), 200)}): check that "
            "DATABRICKS_HOST is the workspace the stack deploys to and the stack's jobId output."
            + running
        )
    if isinstance(exc, DatabricksError):
        return f"the workspace {host} refused the request: {_one_line(str(exc), 300)}." + running
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    return (
        f"cannot reach the Databricks workspace {host} ({type(cause).__name__}: "
        f"{_one_line(str(cause), 200)}): check DATABRICKS_HOST, the network and any proxy."
        + running
    )


def main(
    argv: Sequence[str] | None = None,
    *,
    client_factory: Callable[[], ClientLike] = _workspace_client,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    out, err = sys.stdout, sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        notebook_params = _params(parser, args.param, "--param")
        job_parameters = _params(parser, args.job_param, "--job-param")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE

    if args.job_id is not None:
        job_id: int = args.job_id
    else:
        try:
            job_id = job_id_from_stack(args.stack)
        except JobIdError as exc:
            print(f"error: {exc}", file=err, flush=True)
            return EXIT_UNREACHABLE
        print(f"stack {args.stack}: job {job_id}", file=out, flush=True)
        host = stack_host(args.stack)
        if host:
            # The job lives in the workspace the stack deploys to: one place names the host.
            os.environ["DATABRICKS_HOST"] = host

    try:
        client = client_factory()
    except ValueError as exc:
        # The SDK's Config raises ValueError when it cannot resolve credentials, including when
        # the host cannot be reached to discover its OAuth endpoints.
        print(
            f"error: cannot set up Databricks credentials for {_host_of(None)}: "
            f"{_one_line(str(exc), 300)}. Check DATABRICKS_HOST, DATABRICKS_CLIENT_ID and "
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
