"""`python -m cicd.run_job` against a real HTTP server: the minilake emulator (tests/emulator.py),
through a real `databricks.sdk.WorkspaceClient`; only the clock is fake (no sleeping).

Runs need Docker to finish on minilake, so each test scripts the states its run goes through and
what runs/get-output gives (tests/emulator_runs.py), keyed by the job's notebook path. A failing
network is real too: a closed loopback port, or a second door to the emulator closed mid-run.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.service.compute import ClusterSpec
from databricks.sdk.service.jobs import NotebookTask, RunResultState, Task

from cicd.jobs.stack_outputs import stack_host
from cicd.project import PROJECT_DIR
from cicd.run_job import main
from tests.emulator import Emulator
from tests.emulator_runs import INVALID_PAT, REJECTED_TOKEN, RunScripts

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


class ClientFactory:
    """`main`'s client factory: hands out the given SDK client and counts the calls."""

    def __init__(self, client: WorkspaceClient) -> None:
        self.client = client
        self.hosts_seen: list[str | None] = []

    def __call__(self) -> WorkspaceClient:
        self.hosts_seen.append(os.environ.get("DATABRICKS_HOST"))
        return self.client


def _main(
    argv: list[str], client: WorkspaceClient | ClientFactory, clock: FakeClock | None = None
) -> int:
    clock = clock or FakeClock()
    factory = client if isinstance(client, ClientFactory) else ClientFactory(client)
    return main(argv, client_factory=factory, clock=clock, sleep=clock.sleep)


def _folder(name: str) -> str:
    return f"/Shared/run-job/{name}/"


def _job(client: WorkspaceClient, name: str) -> int:
    """A one-task notebook job; its runs follow the script registered for `_folder(name)`."""
    created = client.jobs.create(
        name=f"run-job-{name}",
        tasks=[
            Task(
                task_key="etl",
                notebook_task=NotebookTask(notebook_path=_folder(name) + "main"),
                new_cluster=ClusterSpec(
                    spark_version="15.4.x-scala2.12", node_type_id="i3.xlarge", num_workers=1
                ),
            )
        ],
    )
    assert created.job_id is not None
    return created.job_id


def _succeeding_job(client: WorkspaceClient, run_scripts: RunScripts, name: str) -> int:
    run_scripts.script(
        _folder(name),
        ("PENDING", None, "Waiting for cluster"),
        ("RUNNING", None, None),
        ("RUNNING", None, None),
        ("TERMINATED", "SUCCESS", None),
        exit_value=EXIT_VALUE,
    )
    return _job(client, name)


def _only_run(client: WorkspaceClient, job_id: int) -> int:
    run_ids = [run.run_id for run in client.jobs.list_runs(job_id=job_id)]
    assert len(run_ids) == 1, f"job {job_id} has runs {run_ids}"
    run_id = run_ids[0]
    assert run_id is not None
    return run_id


def _result(client: WorkspaceClient, run_id: int) -> RunResultState | None:
    state = client.jobs.get_run(run_id).state
    return state.result_state if state is not None else None


def _run_page(host: str, job_id: int, run_id: int) -> str:
    return f"{host}/#job/{job_id}/run/{run_id}"


def test_success_prints_url_state_and_exit_value(
    emulator: Emulator, run_scripts: RunScripts, capsys: pytest.CaptureFixture[str]
) -> None:
    client = emulator.client()
    job_id = _succeeding_job(client, run_scripts, "success")
    clock = FakeClock()
    code = _main(
        ["--job-id", str(job_id), "--param", "run_date=2024-01-31", "--param", "mode=full"],
        client,
        clock,
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    run_id = _only_run(client, job_id)
    # What reached the server: notebook parameters, no job parameters.
    assert run_scripts.requests[run_id] == {
        "job_id": job_id,
        "notebook_params": {"run_date": "2024-01-31", "mode": "full"},
    }
    assert _run_page(emulator.url, job_id, run_id) in out
    assert "result: SUCCESS" in out
    assert f"task etl: SUCCESS\n  exit value: {EXIT_VALUE}\n" in out
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


def test_job_parameters_go_to_job_parameters(
    emulator: Emulator, run_scripts: RunScripts, capsys: pytest.CaptureFixture[str]
) -> None:
    client = emulator.client()
    job_id = _succeeding_job(client, run_scripts, "job-parameters")
    assert _main(["--job-id", str(job_id), "--job-param", "env=staging"], client) == 0
    assert run_scripts.requests[_only_run(client, job_id)] == {
        "job_id": job_id,
        "job_parameters": {"env": "staging"},
    }


def test_param_value_may_contain_equals(
    emulator: Emulator, run_scripts: RunScripts, capsys: pytest.CaptureFixture[str]
) -> None:
    client = emulator.client()
    job_id = _succeeding_job(client, run_scripts, "equals")
    assert _main(["--job-id", str(job_id), "--param", "filter=a=b"], client) == 0
    request = run_scripts.requests[_only_run(client, job_id)]
    assert request["notebook_params"] == {"filter": "a=b"}


def test_failure_exits_1_with_state_message(
    emulator: Emulator, run_scripts: RunScripts, capsys: pytest.CaptureFixture[str]
) -> None:
    message = "Task etl failed with message: ZeroDivisionError: division by zero"
    run_scripts.script(
        _folder("failure"),
        ("RUNNING", None, None),
        ("TERMINATED", "FAILED", message),
        error="ZeroDivisionError: division by zero",
    )
    client = emulator.client()
    job_id = _job(client, "failure")
    code = _main(["--job-id", str(job_id)], client)
    out, err = capsys.readouterr()
    assert code == 1
    run_id = _only_run(client, job_id)
    assert "result: FAILED" in out
    assert message in out
    assert "task etl: FAILED\n  exit value: (none)\n" in out
    assert "error: ZeroDivisionError: division by zero" in out
    assert _run_page(emulator.url, job_id, run_id) in out
    assert "did not succeed: FAILED" in err
    # A finished run is left as it ended, not cancelled.
    assert _result(client, run_id) is RunResultState.FAILED


@pytest.mark.parametrize(
    "life_cycle, result",
    [
        ("TERMINATED", "CANCELED"),
        ("TERMINATED", "TIMEDOUT"),
        ("TERMINATED", "SUCCESS_WITH_FAILURES"),
        ("SKIPPED", None),
        ("INTERNAL_ERROR", None),
    ],
)
def test_every_other_end_is_a_failure(
    emulator: Emulator,
    run_scripts: RunScripts,
    capsys: pytest.CaptureFixture[str],
    life_cycle: str,
    result: str | None,
) -> None:
    name = f"end-{life_cycle}-{result}".lower()
    run_scripts.script(_folder(name), (life_cycle, result, "ended"))
    client = emulator.client()
    job_id = _job(client, name)
    assert _main(["--job-id", str(job_id)], client) == 1
    out, err = capsys.readouterr()
    assert f"result: {result or 'NONE'} ({life_cycle})" in out
    assert f"did not succeed: {result or 'NONE'} - ended" in err


def test_timeout_cancels_the_run_and_exits_3(
    emulator: Emulator, run_scripts: RunScripts, capsys: pytest.CaptureFixture[str]
) -> None:
    run_scripts.script(_folder("timeout"), ("RUNNING", None, None))
    client = emulator.client()
    job_id = _job(client, "timeout")
    clock = FakeClock()
    code = _main(
        ["--job-id", str(job_id), "--timeout", "100", "--poll-interval", "30"], client, clock
    )
    out, err = capsys.readouterr()
    assert code == 3
    run_id = _only_run(client, job_id)
    assert _result(client, run_id) is RunResultState.CANCELED
    # Never sleeps past the deadline: 30 + 30 + 30 + 10.
    assert clock.sleeps == [30.0, 30.0, 30.0, 10.0]
    assert "TIMED OUT" in out
    assert _run_page(emulator.url, job_id, run_id) in out
    assert f"run {run_id}" in err and "cancelled it" in err


def test_interrupt_cancels_the_run(
    emulator: Emulator, run_scripts: RunScripts, capsys: pytest.CaptureFixture[str]
) -> None:
    run_scripts.script(_folder("interrupt"), ("RUNNING", None, None))
    client = emulator.client()
    job_id = _job(client, "interrupt")

    def interrupted_sleep(seconds: float) -> None:
        raise KeyboardInterrupt

    code = main(
        ["--job-id", str(job_id)],
        client_factory=ClientFactory(client),
        clock=FakeClock(),
        sleep=interrupted_sleep,
    )
    assert code == 130
    run_id = _only_run(client, job_id)
    assert _result(client, run_id) is RunResultState.CANCELED
    assert f"interrupted: cancelling run {run_id}" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------
# The workspace cannot be used: exit 4 with one line that says what to check


def _assert_clean_error(err: str, *needles: str) -> None:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]


def _quick_client(host: str, token: str = "emulator-token") -> WorkspaceClient:
    """An SDK client that gives up retrying a connection after 1 s (its default is 5 min)."""
    return WorkspaceClient(config=Config(host=host, token=token, retry_timeout_seconds=1))


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there: connection refused


class SecondDoor:
    """The emulator's app served on a second loopback port, which a test closes to take the
    workspace off the network while a run is followed (minilake's state is shared)."""

    def __init__(self, emulator: Emulator) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._server = uvicorn.Server(
            uvicorn.Config(
                emulator.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
            )
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline and self._thread.is_alive(), "door did not open"
            time.sleep(0.01)

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        assert not self._thread.is_alive()


def test_unreachable_workspace_exits_4_without_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = _closed_port_url()
    # The SDK retries a refused connection until its retry timeout, then raises TimeoutError
    # from requests' ConnectionError.
    code = main(["--job-id", "4242"], client_factory=lambda: _quick_client(host))
    out, err = capsys.readouterr()
    assert code == 4
    _assert_clean_error(err, "cannot reach", host, "DATABRICKS_HOST", "ConnectionError")


def test_unreachable_while_polling_names_the_run(
    emulator: Emulator, run_scripts: RunScripts, capsys: pytest.CaptureFixture[str]
) -> None:
    run_scripts.script(_folder("network-lost"), ("RUNNING", None, None))
    job_id = _job(emulator.client(), "network-lost")
    door = SecondDoor(emulator)
    try:
        client = _quick_client(door.url)
        clock = FakeClock()

        def network_goes_down(seconds: float) -> None:
            door.close()
            clock.sleep(seconds)

        code = main(
            ["--job-id", str(job_id)],
            client_factory=ClientFactory(client),
            clock=clock,
            sleep=network_goes_down,
        )
    finally:
        door.close()
    _, err = capsys.readouterr()
    assert code == 4
    run_id = _only_run(emulator.client(), job_id)
    _assert_clean_error(
        err,
        "cannot reach",
        door.url,
        f"Run {run_id} may still be running",
        _run_page(door.url, job_id, run_id),
    )


def test_authentication_failure_exits_4(
    emulator: Emulator, run_scripts: RunScripts, capsys: pytest.CaptureFixture[str]
) -> None:
    client = emulator.client()
    job_id = _succeeding_job(client, run_scripts, "rejected-token")
    rejected = WorkspaceClient(host=emulator.url, token=REJECTED_TOKEN)
    assert _main(["--job-id", str(job_id)], rejected) == 4
    _, err = capsys.readouterr()
    _assert_clean_error(
        err, "authentication", emulator.url, "DATABRICKS_CLIENT_SECRET", "Credential was not sent"
    )
    assert list(client.jobs.list_runs(job_id=job_id)) == []


def test_an_invalid_access_token_is_reported_as_a_credential_problem(
    emulator: Emulator, run_scripts: RunScripts, capsys: pytest.CaptureFixture[str]
) -> None:
    client = emulator.client()
    job_id = _succeeding_job(client, run_scripts, "invalid-pat")
    invalid = WorkspaceClient(host=emulator.url, token=INVALID_PAT)
    assert _main(["--job-id", str(job_id)], invalid) == 4
    _, err = capsys.readouterr()
    _assert_clean_error(err, "authentication", "DATABRICKS_TOKEN", "Invalid access token")
    assert "CAN MANAGE RUN" not in err, err


def test_job_not_found_exits_4(emulator: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    client = emulator.client()
    missing = _job(client, "deleted") + 1000
    assert _main(["--job-id", str(missing)], client) == 4
    _, err = capsys.readouterr()
    _assert_clean_error(err, f"job {missing} not found", emulator.url, "does not exist")


def test_credentials_that_cannot_be_configured_exit_4(
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """main's own client (`WorkspaceClient()`) with a host and no credentials anywhere."""
    for name in list(os.environ):
        if name.startswith(("DATABRICKS_", "ARM_", "AZURE_", "GOOGLE_", "ACTIONS_ID_TOKEN")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABRICKS_HOST", emulator.url)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))  # no `databricks` or `az` CLI to ask
    assert main(["--job-id", "4242"]) == 4
    _, err = capsys.readouterr()
    _assert_clean_error(
        err, emulator.url, "DATABRICKS_CLIENT_ID", "cannot configure default credentials"
    )


# ------------------------------------------------------------------------------------------
# Usage errors: exit 2 before any client is made


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
def test_usage_errors_exit_2(
    emulator: Emulator, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    factory = ClientFactory(emulator.client())
    assert _main(argv, factory) == 2
    _, err = capsys.readouterr()
    assert "usage:" in err
    assert factory.hosts_seen == [], "a client was made: the run may have started"


def test_module_runs_as_a_command(tmp_path: Path) -> None:
    """`python -m cicd.run_job` is wired to main(): a usage error exits 2 without a traceback."""
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


# ------------------------------------------------------------------------------------------
# --stack: the job id from `pulumi stack output jobId`, with a fake pulumi on PATH


def _fake_pulumi(monkeypatch: pytest.MonkeyPatch, bin_dir: Path, script_body: str) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    exe = bin_dir / "pulumi"
    exe.write_text("#!/bin/sh\n" + script_body)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_stack_resolves_job_id_from_pulumi_output(
    emulator: Emulator,
    run_scripts: RunScripts,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = emulator.client()
    job_id = _succeeding_job(client, run_scripts, "stack")
    log = tmp_path / "pulumi-calls.txt"
    _fake_pulumi(monkeypatch, tmp_path / "bin", f'echo "$PWD $@" >> "{log}"\necho \'"{job_id}"\'\n')
    code = _main(["--stack", "staging", "--timeout", "3600"], client)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert run_scripts.requests[_only_run(client, job_id)]["job_id"] == job_id
    cwd, *args = log.read_text().split()
    assert Path(cwd).resolve() == PROJECT_DIR
    assert args[:4] == ["stack", "output", "jobId", "--json"]
    assert args[args.index("--stack") + 1] == "staging"
    assert f"stack staging: job main ({job_id})" in out


def test_job_picks_one_of_the_stacks_jobs_by_key(
    emulator: Emulator,
    run_scripts: RunScripts,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--job KEY` runs the job of that key from the stack's jobIds output."""
    client = emulator.client()
    main_id = _succeeding_job(client, run_scripts, "stack-main")
    quality_id = _succeeding_job(client, run_scripts, "stack-quality")
    outputs = json.dumps(
        {"jobId": str(main_id), "jobIds": {"main": str(main_id), "orders_quality": str(quality_id)}}
    )
    _fake_pulumi(monkeypatch, tmp_path / "bin", f"cat <<'JSON'\n{outputs}\nJSON\n")
    code = _main(["--stack", "staging", "--job", "orders_quality"], client)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"stack staging: job orders_quality ({quality_id})" in out, out
    assert run_scripts.requests[_only_run(client, quality_id)]["job_id"] == quality_id
    assert not list(client.jobs.list_runs(job_id=main_id)), "the main job must not have run"

    code = _main(["--stack", "staging", "--job", "nightly"], client)
    err = capsys.readouterr().err
    assert code == 4, err
    assert "stack 'staging' has no job 'nightly'; its jobs are: main, orders_quality" in err, err


def test_job_with_job_id_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from cicd.run_job import main as run_job_main

    assert run_job_main(["--job-id", "7", "--job", "orders_quality"]) == 2
    assert "--job picks a job of --stack" in capsys.readouterr().err


def test_stack_runs_against_the_host_its_stack_file_names(
    emulator: Emulator,
    run_scripts: RunScripts,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = emulator.client()
    job_id = _succeeding_job(client, run_scripts, "stack-host")
    _fake_pulumi(monkeypatch, tmp_path / "bin", f"echo '\"{job_id}\"'\n")
    monkeypatch.setenv("DATABRICKS_HOST", "https://some-other-workspace.example.com")
    factory = ClientFactory(client)
    assert _main(["--stack", "staging"], factory) == 0, capsys.readouterr().err
    staging_host = stack_host("staging")
    assert staging_host and staging_host.startswith("https://"), staging_host
    assert factory.hosts_seen == [staging_host], (
        f"client built for {factory.hosts_seen}, stack file names {staging_host}"
    )


def test_a_stack_run_records_the_release_and_content_it_ran(
    emulator: Emulator,
    run_scripts: RunScripts,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The staging gate's runs are the provenance production checks (cicd.jobs.provenance)."""
    from cicd.config import read_stack_file
    from cicd.releases.lock import LOCK_FILE, content_digest, read_lock

    client = emulator.client()
    job_id = _succeeding_job(client, run_scripts, "provenance")
    _fake_pulumi(monkeypatch, tmp_path / "bin", f"echo '\"{job_id}\"'\n")
    assert _main(["--stack", "staging", "--param", "run_date=2026-01-01"], client) == 0
    live = read_stack_file(PROJECT_DIR / "Pulumi.staging.yaml").releases.live
    digest = content_digest(read_lock(PROJECT_DIR / LOCK_FILE)[live])
    run = client.jobs.get_run(_only_run(client, job_id))
    assert run.overriding_parameters is not None
    assert run.overriding_parameters.notebook_params == {
        "run_date": "2026-01-01",
        "cicd_release": live,
        "cicd_content_digest": digest,
    }
    assert f"recording with the run: release {live}, content {digest}" in capsys.readouterr().out


@pytest.mark.parametrize(
    "script_body, needles",
    [
        (
            "echo \"error: current stack does not have output property 'jobId'\" >&2\nexit 255\n",
            ["'prod'", "does not have output property 'jobId'", "--job-id"],
        ),
        ("echo '\"[unknown]\"'\n", ["not a job id"]),
    ],
    ids=["no-job-output", "not-a-job-id"],
)
def test_stack_without_a_job_id_exits_4(
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    script_body: str,
    needles: list[str],
) -> None:
    _fake_pulumi(monkeypatch, tmp_path / "bin", script_body)
    factory = ClientFactory(emulator.client())
    assert _main(["--stack", "prod"], factory) == 4
    _, err = capsys.readouterr()
    _assert_clean_error(err, *needles)
    assert factory.hosts_seen == []


def test_missing_pulumi_cli_exits_4(
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    factory = ClientFactory(emulator.client())
    assert _main(["--stack", "staging"], factory) == 4
    _, err = capsys.readouterr()
    _assert_clean_error(err, "pulumi CLI is not on PATH", "--job-id")
    assert factory.hosts_seen == []
