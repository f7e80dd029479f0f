"""`python -m cicd.run_job` against a fake Jobs API and a fake clock: no workspace, no sleeping.

The fake returns the SDK's own dataclasses (databricks.sdk.service.jobs), so a field renamed in
the SDK breaks these tests instead of the build server.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from databricks.sdk.errors.platform import ResourceDoesNotExist, Unauthenticated
from databricks.sdk.service._internal import Wait
from databricks.sdk.service.jobs import (
    NotebookOutput,
    Run,
    RunLifeCycleState,
    RunNowResponse,
    RunOutput,
    RunResultState,
    RunState,
    RunTask,
)

from cicd.jobs.runs import TERMINAL_STATES
from cicd.jobs.stack_outputs import job_id_from_stack, stack_host
from cicd.project import PROJECT_DIR
from cicd.run_job import main

HOST = "https://fake-workspace.cloud.databricks.com"
JOB_ID = 4242
RUN_ID = 9001
TASK_RUN_ID = 9002
RUN_PAGE = f"{HOST}/#job/{JOB_ID}/run/{RUN_ID}"
EXIT_VALUE = '{"rows_written": 1234, "status": "ok"}'


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.now += seconds


def _run(
    life_cycle: RunLifeCycleState,
    result: RunResultState | None = None,
    message: str | None = None,
) -> Run:
    terminal = life_cycle in TERMINAL_STATES
    return Run(
        job_id=JOB_ID,
        run_id=RUN_ID,
        run_page_url=RUN_PAGE,
        state=RunState(life_cycle_state=life_cycle, result_state=result, state_message=message),
        tasks=[
            RunTask(
                task_key="etl",
                run_id=TASK_RUN_ID,
                state=RunState(
                    life_cycle_state=life_cycle, result_state=result if terminal else None
                ),
            )
        ],
    )


class FakeJobs:
    """Implements the four calls run_job makes, like WorkspaceClient.jobs does."""

    def __init__(
        self,
        runs: list[Run],
        outputs: dict[int, RunOutput] | None = None,
        fail_with: BaseException | None = None,
    ) -> None:
        self.runs = runs  # returned in turn by get_run; the last one repeats
        self.outputs = outputs or {}
        self.fail_with = fail_with
        self.run_now_calls: list[dict[str, Any]] = []
        self.get_run_calls: list[int] = []
        self.cancelled: list[int] = []

    def run_now(
        self,
        job_id: int,
        *,
        job_parameters: dict[str, str] | None = None,
        notebook_params: dict[str, str] | None = None,
    ) -> Wait[Run]:
        if self.fail_with is not None:
            raise self.fail_with
        self.run_now_calls.append(
            {"job_id": job_id, "notebook_params": notebook_params, "job_parameters": job_parameters}
        )
        return Wait(
            lambda **_: None,
            response=RunNowResponse(run_id=RUN_ID, number_in_job=RUN_ID),
            run_id=RUN_ID,
        )

    def get_run(self, run_id: int) -> Run:
        assert run_id == RUN_ID
        self.get_run_calls.append(run_id)
        index = min(len(self.get_run_calls), len(self.runs)) - 1
        return self.runs[index]

    def get_run_output(self, run_id: int) -> RunOutput:
        return self.outputs[run_id]

    def cancel_run(self, run_id: int) -> None:
        self.cancelled.append(run_id)


class FakeClient:
    def __init__(self, jobs: FakeJobs) -> None:
        self.jobs = jobs
        self.config = type("Config", (), {"host": HOST})()


def _main(argv: list[str], jobs: FakeJobs, clock: FakeClock | None = None) -> int:
    clock = clock or FakeClock()
    return main(argv, client_factory=lambda: FakeClient(jobs), clock=clock, sleep=clock.sleep)


def _success_jobs() -> FakeJobs:
    return FakeJobs(
        runs=[
            _run(RunLifeCycleState.PENDING, message="Waiting for cluster"),
            _run(RunLifeCycleState.RUNNING),
            _run(RunLifeCycleState.RUNNING),
            _run(RunLifeCycleState.TERMINATED, RunResultState.SUCCESS),
        ],
        outputs={TASK_RUN_ID: RunOutput(notebook_output=NotebookOutput(result=EXIT_VALUE))},
    )


def test_success_prints_url_state_and_exit_value(capsys: pytest.CaptureFixture[str]) -> None:
    jobs = _success_jobs()
    clock = FakeClock()
    code = _main(
        ["--job-id", str(JOB_ID), "--param", "run_date=2024-01-31", "--param", "mode=full"],
        jobs,
        clock,
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert jobs.run_now_calls == [
        {
            "job_id": JOB_ID,
            "notebook_params": {"run_date": "2024-01-31", "mode": "full"},
            "job_parameters": None,
        }
    ]
    assert RUN_PAGE in out
    assert "result: SUCCESS" in out
    assert EXIT_VALUE in out
    # One progress line per state change, with elapsed seconds; RUNNING twice is printed once.
    progress = [line for line in out.splitlines() if line.startswith("[")]
    assert [line.split("]")[1].split()[0] for line in progress] == [
        "PENDING",
        "RUNNING",
        "TERMINATED",
    ]
    assert "Waiting for cluster" in progress[0]
    assert progress[-1].startswith("[    45s]")
    assert clock.sleeps == [15.0, 15.0, 15.0]
    assert err == ""


def test_job_parameters_go_to_job_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    jobs = _success_jobs()
    assert _main(["--job-id", str(JOB_ID), "--job-param", "env=staging"], jobs) == 0
    assert jobs.run_now_calls[0]["job_parameters"] == {"env": "staging"}
    assert jobs.run_now_calls[0]["notebook_params"] is None


def test_failure_exits_1_with_state_message(capsys: pytest.CaptureFixture[str]) -> None:
    message = "Task etl failed with message: ZeroDivisionError: division by zero"
    jobs = FakeJobs(
        runs=[
            _run(RunLifeCycleState.RUNNING),
            _run(RunLifeCycleState.TERMINATED, RunResultState.FAILED, message),
        ],
        outputs={
            TASK_RUN_ID: RunOutput(
                error="ZeroDivisionError: division by zero", error_trace="Traceback ...\n"
            )
        },
    )
    code = _main(["--job-id", str(JOB_ID)], jobs)
    out, err = capsys.readouterr()
    assert code == 1
    assert "result: FAILED" in out
    assert message in out
    assert "error: ZeroDivisionError: division by zero" in out
    assert "exit value: (none)" in out
    assert RUN_PAGE in out
    assert "did not succeed: FAILED" in err
    assert jobs.cancelled == []


@pytest.mark.parametrize(
    "life_cycle, result",
    [
        (RunLifeCycleState.TERMINATED, RunResultState.CANCELED),
        (RunLifeCycleState.TERMINATED, RunResultState.SUCCESS_WITH_FAILURES),
        (RunLifeCycleState.SKIPPED, None),
        (RunLifeCycleState.INTERNAL_ERROR, None),
    ],
)
def test_every_other_end_is_a_failure(
    capsys: pytest.CaptureFixture[str],
    life_cycle: RunLifeCycleState,
    result: RunResultState | None,
) -> None:
    jobs = FakeJobs(runs=[_run(life_cycle, result, "ended")], outputs={TASK_RUN_ID: RunOutput()})
    assert _main(["--job-id", str(JOB_ID)], jobs) == 1


def test_timeout_cancels_the_run_and_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    jobs = FakeJobs(runs=[_run(RunLifeCycleState.RUNNING)])
    clock = FakeClock()
    code = _main(
        ["--job-id", str(JOB_ID), "--timeout", "100", "--poll-interval", "30"], jobs, clock
    )
    out, err = capsys.readouterr()
    assert code == 3
    assert jobs.cancelled == [RUN_ID]
    # Never sleeps past the deadline: 30 + 30 + 30 + 10.
    assert clock.sleeps == [30.0, 30.0, 30.0, 10.0]
    assert "TIMED OUT" in out
    assert RUN_PAGE in out
    assert f"run {RUN_ID}" in err and "cancelled it" in err


def test_interrupt_cancels_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    jobs = FakeJobs(runs=[_run(RunLifeCycleState.RUNNING)])
    clock = FakeClock()

    def interrupted_sleep(seconds: float) -> None:
        raise KeyboardInterrupt

    code = main(
        ["--job-id", str(JOB_ID)],
        client_factory=lambda: FakeClient(jobs),
        clock=clock,
        sleep=interrupted_sleep,
    )
    assert code == 130
    assert jobs.cancelled == [RUN_ID]


def _assert_clean_error(err: str, *needles: str) -> None:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]


def _sdk_retry_timeout() -> TimeoutError:
    """What the SDK raises once its retries give up: TimeoutError from requests' ConnectionError."""
    try:
        try:
            raise requests.exceptions.ConnectionError("[Errno 111] Connection refused")
        except requests.exceptions.ConnectionError as cause:
            raise TimeoutError("Timed out after 0:05:00") from cause
    except TimeoutError as wrapped:
        return wrapped


@pytest.mark.parametrize(
    "make_error",
    [
        lambda: requests.exceptions.ConnectionError(
            "HTTPSConnectionPool(host='fake-workspace.cloud.databricks.com', port=443): "
            "Max retries exceeded (Caused by NewConnectionError: Name or service not known)"
        ),
        _sdk_retry_timeout,
    ],
    ids=["connection-error", "sdk-retry-timeout"],
)
def test_unreachable_workspace_exits_4_without_traceback(
    capsys: pytest.CaptureFixture[str], make_error: Callable[[], BaseException]
) -> None:
    error = make_error()
    jobs = FakeJobs(runs=[], fail_with=error)
    code = _main(["--job-id", str(JOB_ID)], jobs)
    out, err = capsys.readouterr()
    assert code == 4
    _assert_clean_error(err, "cannot reach", HOST, "DATABRICKS_HOST", "ConnectionError")


def test_unreachable_while_polling_names_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    class FlakyJobs(FakeJobs):
        def get_run(self, run_id: int) -> Run:
            if self.get_run_calls:
                raise requests.exceptions.ConnectionError("Connection reset by peer")
            return super().get_run(run_id)

    jobs = FlakyJobs(runs=[_run(RunLifeCycleState.RUNNING)])
    code = _main(["--job-id", str(JOB_ID)], jobs)
    _, err = capsys.readouterr()
    assert code == 4
    _assert_clean_error(err, "cannot reach", HOST, f"Run {RUN_ID} may still be running", RUN_PAGE)


def test_authentication_failure_exits_4(capsys: pytest.CaptureFixture[str]) -> None:
    jobs = FakeJobs(runs=[], fail_with=Unauthenticated("Invalid client secret"))
    assert _main(["--job-id", str(JOB_ID)], jobs) == 4
    _, err = capsys.readouterr()
    _assert_clean_error(err, "authentication", HOST, "DATABRICKS_CLIENT_SECRET")


def test_job_not_found_exits_4(capsys: pytest.CaptureFixture[str]) -> None:
    jobs = FakeJobs(runs=[], fail_with=ResourceDoesNotExist(f"Job {JOB_ID} does not exist."))
    assert _main(["--job-id", str(JOB_ID)], jobs) == 4
    _, err = capsys.readouterr()
    _assert_clean_error(err, f"job {JOB_ID} not found", HOST)


def test_credentials_that_cannot_be_configured_exit_4(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABRICKS_HOST", HOST)

    def no_client() -> Any:
        raise ValueError("default auth: cannot configure default credentials")

    assert main(["--job-id", str(JOB_ID)], client_factory=no_client) == 4
    _, err = capsys.readouterr()
    _assert_clean_error(err, HOST, "DATABRICKS_CLIENT_ID", "cannot configure default credentials")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--stack", "staging", "--job-id", "1"],
        ["--job-id", "abc"],
        ["--job-id", "0"],
        ["--job-id", "1", "--param", "no_equals_sign"],
        ["--job-id", "1", "--param", "=value"],
        ["--job-id", "1", "--param", "a=1", "--param", "a=2"],
        ["--job-id", "1", "--timeout", "-5"],
        ["--job-id", "1", "--timeout", "soon"],
        ["--job-id", "1", "--poll-interval", "0"],
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    jobs = _success_jobs()
    assert _main(argv, jobs) == 2
    _, err = capsys.readouterr()
    assert "usage:" in err
    assert jobs.run_now_calls == []


def test_param_value_may_contain_equals(capsys: pytest.CaptureFixture[str]) -> None:
    jobs = _success_jobs()
    assert _main(["--job-id", "7", "--param", "filter=a=b"], jobs) == 0
    assert jobs.run_now_calls[0]["notebook_params"] == {"filter": "a=b"}


# ------------------------------------------------------------------------------------------
# --stack: the job id from `pulumi stack output jobId`, with a fake pulumi on PATH


def _fake_pulumi(bin_dir: Path, script_body: str) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    exe = bin_dir / "pulumi"
    exe.write_text("#!/bin/sh\n" + script_body)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return exe


def test_stack_resolves_job_id_from_pulumi_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "pulumi-calls.txt"
    _fake_pulumi(
        tmp_path / "bin",
        f'echo "$PWD $@" >> "{log}"\necho \'"{JOB_ID}"\'\n',
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    jobs = _success_jobs()
    code = _main(["--stack", "staging", "--timeout", "3600"], jobs)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert jobs.run_now_calls[0]["job_id"] == JOB_ID
    cwd, *args = log.read_text().split()
    assert Path(cwd).resolve() == PROJECT_DIR
    assert args[:4] == ["stack", "output", "jobId", "--json"]
    assert args[args.index("--stack") + 1] == "staging"
    assert f"stack staging: job {JOB_ID}" in out


def test_stack_runs_against_the_host_its_stack_file_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake_pulumi(tmp_path / "bin", f"echo '\"{JOB_ID}\"'\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DATABRICKS_HOST", "https://some-other-workspace.example.com")
    seen: list[str] = []
    jobs = _success_jobs()

    def factory() -> Any:
        seen.append(os.environ["DATABRICKS_HOST"])
        return FakeClient(jobs)

    clock = FakeClock()
    code = main(["--stack", "staging"], client_factory=factory, clock=clock, sleep=clock.sleep)
    assert code == 0, capsys.readouterr().err
    staging_host = stack_host("staging")
    assert staging_host and staging_host.startswith("https://"), staging_host
    assert seen == [staging_host], f"client built for {seen}, stack file names {staging_host}"


def test_stack_without_job_output_exits_4(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake_pulumi(
        tmp_path / "bin",
        "echo \"error: current stack does not have output property 'jobId'\" >&2\nexit 255\n",
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    jobs = _success_jobs()
    assert _main(["--stack", "prod"], jobs) == 4
    _, err = capsys.readouterr()
    _assert_clean_error(err, "'prod'", "does not have output property 'jobId'", "--job-id")
    assert jobs.run_now_calls == []


def test_stack_output_that_is_not_a_job_id_exits_4(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake_pulumi(tmp_path / "bin", "echo '\"[unknown]\"'\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    assert _main(["--stack", "staging"], _success_jobs()) == 4
    _, err = capsys.readouterr()
    _assert_clean_error(err, "not a job id")


def test_missing_pulumi_cli_exits_4(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    jobs = _success_jobs()
    assert _main(["--stack", "staging"], jobs) == 4
    _, err = capsys.readouterr()
    _assert_clean_error(err, "pulumi CLI is not on PATH", "--job-id")
    assert jobs.run_now_calls == []


def test_module_runs_as_a_command(tmp_path: Path) -> None:
    """`python -m cicd.run_job` is wired to main(): a usage error exits 2 without a traceback."""
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "cicd.run_job", "--job-id", "1", "--param", "oops"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "expected KEY=VALUE" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_sdk_accepts_the_calls_run_job_makes() -> None:
    """Guards the fake against SDK drift: the real JobsAPI takes the same arguments."""
    import inspect

    from databricks.sdk.service.jobs import JobsAPI

    run_now = inspect.signature(JobsAPI.run_now).parameters
    assert {"job_id", "notebook_params", "job_parameters"} <= set(run_now)
    for name in ("get_run", "get_run_output", "cancel_run"):
        assert "run_id" in inspect.signature(getattr(JobsAPI, name)).parameters
    assert job_id_from_stack.__name__ == "job_id_from_stack"


def test_a_stack_run_records_the_release_and_content_it_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The staging gate's runs are the provenance production checks (cicd.jobs.provenance)."""
    from cicd.config import read_stack_file
    from cicd.releases.lock import LOCK_FILE, content_digest, read_lock

    _fake_pulumi(tmp_path / "bin", f"echo '\"{JOB_ID}\"'\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    jobs = _success_jobs()
    assert _main(["--stack", "staging", "--param", "run_date=2026-01-01"], jobs) == 0
    live = read_stack_file(PROJECT_DIR / "Pulumi.staging.yaml").releases.live
    digest = content_digest(read_lock(PROJECT_DIR / LOCK_FILE)[live])
    assert jobs.run_now_calls[0]["notebook_params"] == {
        "run_date": "2026-01-01",
        "cicd_release": live,
        "cicd_content_digest": digest,
    }
    assert f"recording with the run: release {live}, content {digest}" in capsys.readouterr().out
