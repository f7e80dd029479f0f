"""Following one run of a Databricks job to its end and reporting it: life cycle states as they
change, the run page, the result and every task's exit value; a run past its deadline is
cancelled. The build server's gate (`cicd.run_job`) and any command that waits for a run use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from databricks.sdk.errors.base import DatabricksError
from databricks.sdk.service._internal import Wait
from databricks.sdk.service.jobs import (
    JobsAPI,
    Run,
    RunLifeCycleState,
    RunLifecycleStateV2State,
    RunNowResponse,
    RunResultState,
    SubmitRunResponse,
)

from cicd.jobs.cli import (
    EXIT_INTERRUPTED,
    EXIT_RUN_FAILED,
    EXIT_SUCCESS,
    EXIT_TIMED_OUT,
    one_line,
)
from policy.databricks_guardrails.redact import redact_text

# Life cycle states after which the run will not change any more.
TERMINAL_STATES = frozenset(
    {RunLifeCycleState.TERMINATED, RunLifeCycleState.SKIPPED, RunLifeCycleState.INTERNAL_ERROR}
)


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


@dataclass
class RunWatcher:
    """Starts one run of a job and follows it to the end; reports to ``out``/``err``."""

    jobs: JobsAPI  # WorkspaceClient.jobs
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
    # What the run is of, in messages: the job by default.
    label: str | None = None
    run_page_url: str | None = None
    _last_state: RunLifeCycleState | None = field(default=None, repr=False)
    _reported_a_state: bool = field(default=False, repr=False)

    @property
    def subject(self) -> str:
        return self.label or f"job {self.job_id}"

    @staticmethod
    def run_id_of(waiter: Wait[Run]) -> int:
        return RunWatcher._run_id_of(waiter)

    # Redacted (`policy/databricks_guardrails/redact.py`): a run's output and error come from
    # the job's code, and land in CI logs.
    def _say(self, text: str) -> None:
        print(redact_text(text), file=self.out, flush=True)

    def _complain(self, text: str) -> None:
        print(redact_text(text), file=self.err, flush=True)

    def run(self) -> int:
        started_at = self.clock()
        waiter = self.jobs.run_now(
            job_id=self.job_id,
            notebook_params=self.notebook_params,
            job_parameters=self.job_parameters,
        )
        return self.watch(self._run_id_of(waiter), started_at)

    def watch(self, run_id: int, started_at: float | None = None) -> int:
        """Follow a run already started (e.g. a one-off `jobs.submit` run) to its end."""
        self.run_id = run_id
        started_at = self.clock() if started_at is None else started_at
        self._say(f"started run {self.run_id} of {self.subject}")
        try:
            return self._follow(started_at)
        except KeyboardInterrupt:
            self._complain(f"interrupted: cancelling run {self.run_id}")
            self._cancel()
            return EXIT_INTERRUPTED

    @staticmethod
    def _run_id_of(waiter: Wait[Run]) -> int:
        response: object = waiter.response
        if (
            isinstance(response, (RunNowResponse, SubmitRunResponse))
            and response.run_id is not None
        ):
            return response.run_id
        run_id: object = waiter.bind().get("run_id")
        if isinstance(run_id, int):
            return run_id
        raise DatabricksError("the Jobs API returned no run_id")

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
                suffix = f" - {one_line(message)}" if message else ""
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
            self._complain(f"could not cancel run {self.run_id}: {one_line(str(exc))}")
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
            f"run {self.run_id} of {self.subject} did not finish within {self.timeout:.0f}s; "
            f"{what}."
        )
        return EXIT_TIMED_OUT

    def _report(self, run: Run) -> int:
        state = run.state
        result = state.result_state if state is not None else None
        message = state.state_message if state is not None else None
        self._say(f"result: {_result_name(result)} ({_state_name(_life_cycle(run))})")
        if message:
            self._say(f"state message: {one_line(message, 1000)}")
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
            f"run {self.run_id} of {self.subject} did not succeed: {_result_name(result)}"
            + (f" - {one_line(message)}" if message else "")
        )
        return EXIT_RUN_FAILED

    def _report_output(self, run_id: int, heading: str) -> None:
        self._say(heading)
        try:
            output = self.jobs.get_run_output(run_id)
        except DatabricksError as exc:
            self._say(f"  output not available: {one_line(str(exc))}")
            return
        notebook = output.notebook_output
        if notebook is not None and notebook.result is not None:
            truncated = " (truncated)" if notebook.truncated else ""
            self._say(f"  exit value{truncated}: {notebook.result}")
        else:
            self._say("  exit value: (none)")
        if output.error:
            self._say(f"  error: {one_line(output.error, 1000)}")
