"""Green before switch (`cicd.gate`, `cicd.jobs.candidate`) against a real HTTP server: the live
job is created on the emulator as the program registers it, the candidate runs with its settings
through `jobs.submit`, and only a SUCCESS lets the switch go ahead. Failed, timed out and
cancelled runs are scripted end states (tests/emulator_runs.py): minilake runs need Docker.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import pytest
from databricks.sdk.service.compute import ClusterSpec, Library
from databricks.sdk.service.jobs import (
    JobAccessControlRequest,
    JobCluster,
    JobPermissionLevel,
    JobRunAs,
    NotebookTask,
    PipelineTask,
    Source,
    Task,
    TaskDependency,
)

from cicd.config import read_stack_file
from cicd.jobs.candidate import CandidateError, run_job_candidate, submission_for
from cicd.jobs.cli import EXIT_RUN_FAILED, EXIT_SUCCESS, EXIT_TIMED_OUT
from cicd.jobs.runs import RunWatcher
from cicd.promotion.staged_file import GateError, restore, stage
from cicd.promotion.switch import FIRST, NONE, PROMOTION, ROLLBACK, plan_switch
from tests.conftest import REPO
from tests.emulator import Emulator
from tests.emulator_runs import RunScripts
from tests.staging_layout import publish_staging

RUNNER = "3c9b8a7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


LIVE_WHEEL = "/Volumes/p/e/a/releases/1.1.0/etl-1.1.0.whl"


def _fields(root: str, version: str, libraries: list[str]) -> dict[str, dict[str, Any]]:
    """The program's per-task release fields (`liveFields`/`candidateFields`) of `_live_job`."""
    return {"main": {"notebook_path": f"{root}/releases/{version}/main", "libraries": libraries}}


def _run_candidate(
    client: Any, job_id: int, root: str, watcher: RunWatcher
) -> tuple[int, list[str]]:
    """The gate's run of candidate 1.2.0 (its notebook, no library) as `_live_job` runs 1.1.0."""
    return run_job_candidate(
        client.jobs,
        job_id,
        "1.2.0",
        _fields(root, "1.1.0", [LIVE_WHEEL]),
        _fields(root, "1.2.0", []),
        watcher,
    )


def _live_job(emulator: Emulator, root: str) -> int:
    """The prod job as PipelineJob registers it, on release 1.1.0."""
    client = emulator.client()
    created = client.jobs.create(
        name=f"{root.rsplit('/', 1)[-1]}-prod",
        job_clusters=[
            JobCluster(
                job_cluster_key="main",
                new_cluster=ClusterSpec(
                    spark_version="15.4.x-scala2.12",
                    node_type_id="i3.xlarge",
                    num_workers=2,
                    custom_tags={"team": "data-eng"},
                ),
            )
        ],
        tasks=[
            Task(
                task_key="main",
                job_cluster_key="main",
                notebook_task=NotebookTask(
                    notebook_path=f"{root}/releases/1.1.0/main",
                    base_parameters={"env": "prod", "target_table": "prod.sales.daily_orders"},
                    source=Source.WORKSPACE,
                ),
                libraries=[Library(whl=LIVE_WHEEL)],
                max_retries=2,
                timeout_seconds=7200,
            )
        ],
        run_as=JobRunAs(service_principal_name=RUNNER),
        timeout_seconds=7200,
    )
    assert created.job_id is not None
    client.jobs.set_permissions(
        str(created.job_id),
        access_control_list=[
            JobAccessControlRequest(
                group_name="etl-admins", permission_level=JobPermissionLevel.CAN_MANAGE
            ),
            JobAccessControlRequest(
                group_name="etl-operators", permission_level=JobPermissionLevel.CAN_MANAGE_RUN
            ),
        ],
    )
    return created.job_id


def _watcher(
    client: Any, job_id: int, timeout: float = 600.0
) -> tuple[RunWatcher, io.StringIO, io.StringIO]:
    clock = Clock()
    out, err = io.StringIO(), io.StringIO()
    watcher = RunWatcher(
        jobs=client.jobs,
        job_id=job_id,
        notebook_params=None,
        job_parameters=None,
        timeout=timeout,
        poll_interval=5.0,
        clock=clock,
        sleep=clock.sleep,
        out=out,
        err=err,
        label="candidate 1.2.0",
    )
    return watcher, out, err


def test_the_candidate_runs_with_the_live_jobs_own_settings(
    emulator: Emulator, run_scripts: RunScripts
) -> None:
    root = "/Production/gate-settings"
    job_id = _live_job(emulator, root)
    client = emulator.client()
    submission, left_out = submission_for(
        client.jobs,
        job_id,
        "1.2.0",
        _fields(root, "1.1.0", [LIVE_WHEEL]),
        _fields(root, "1.2.0", ["/Volumes/p/e/a/releases/1.2.0/etl-1.2.0.whl"]),
    )
    assert left_out == []
    (task,) = submission["tasks"]
    assert task.notebook_task.notebook_path == f"{root}/releases/1.2.0/main"
    assert task.notebook_task.base_parameters == {
        "env": "prod",
        "target_table": "prod.sales.daily_orders",
    }
    assert [lib.whl for lib in task.libraries] == ["/Volumes/p/e/a/releases/1.2.0/etl-1.2.0.whl"]
    assert task.new_cluster.node_type_id == "i3.xlarge" and task.new_cluster.num_workers == 2
    assert task.new_cluster.custom_tags == {"team": "data-eng"}
    assert (task.max_retries, task.timeout_seconds) == (2, 7200)
    assert submission["run_as"] == JobRunAs(service_principal_name=RUNNER)
    assert submission["timeout_seconds"] == 7200
    grants = {(g.group_name, g.permission_level) for g in submission["access_control_list"]}
    assert {
        ("etl-admins", JobPermissionLevel.CAN_MANAGE),
        ("etl-operators", JobPermissionLevel.CAN_MANAGE_RUN),
    } <= grants
    # The live job itself is untouched by the candidate.
    live = client.jobs.get(job_id).settings
    assert live is not None and live.tasks is not None
    assert live.tasks[0].notebook_task is not None
    assert live.tasks[0].notebook_task.notebook_path == f"{root}/releases/1.1.0/main"


def test_a_successful_candidate_run_lets_the_switch_go(
    emulator: Emulator, run_scripts: RunScripts
) -> None:
    root = "/Production/gate-success"
    job_id = _live_job(emulator, root)
    run_scripts.script(
        f"{root}/releases/1.2.0/",
        ("PENDING", None, None),
        ("RUNNING", None, None),
        ("TERMINATED", "SUCCESS", None),
    )
    client = emulator.client()
    watcher, out, _ = _watcher(client, job_id)
    code, left_out = _run_candidate(client, job_id, root, watcher)
    assert code == EXIT_SUCCESS and left_out == [], out.getvalue()
    assert "RUNNING" in out.getvalue() and "result: SUCCESS" in out.getvalue()
    assert watcher.run_id is not None
    submitted = run_scripts.requests[watcher.run_id]
    assert submitted["run_name"] == "gate-success-prod candidate 1.2.0"
    assert submitted["run_as"] == {"service_principal_name": RUNNER}


@pytest.mark.parametrize(
    ("end", "code", "said"),
    [
        (("TERMINATED", "FAILED", "Notebook raised: table not found"), EXIT_RUN_FAILED, "FAILED"),
        (("TERMINATED", "CANCELED", "Run was cancelled by an admin"), EXIT_RUN_FAILED, "CANCELED"),
        (("TERMINATED", "TIMEDOUT", "Run timed out after 7200s"), EXIT_RUN_FAILED, "TIMEDOUT"),
        (("RUNNING", None, None), EXIT_TIMED_OUT, "did not finish within 60s"),
    ],
    ids=["failed", "cancelled", "job-timeout", "gate-timeout"],
)
def test_a_candidate_that_does_not_succeed_is_not_switched_to(
    emulator: Emulator,
    run_scripts: RunScripts,
    end: tuple[str, str | None, str | None],
    code: int,
    said: str,
) -> None:
    root = f"/Production/gate-{said.split()[0].lower()}-{code}"
    job_id = _live_job(emulator, root)
    run_scripts.script(
        f"{root}/releases/1.2.0/", ("RUNNING", None, None), end, error="AnalysisException: no table"
    )
    client = emulator.client()
    watcher, out, err = _watcher(client, job_id, timeout=60.0)
    ran, _ = _run_candidate(client, job_id, root, watcher)
    assert ran == code
    assert said in out.getvalue() + err.getvalue(), out.getvalue() + err.getvalue()
    assert f"run page: {emulator.url}" in out.getvalue()
    if code == EXIT_RUN_FAILED:
        assert "error: AnalysisException: no table" in out.getvalue()
        assert "did not succeed" in err.getvalue() and "candidate 1.2.0" in err.getvalue()
    else:
        # The gate cancelled the run it gave up on.
        assert watcher.run_id is not None
        assert client.jobs.get_run(watcher.run_id).state.result_state.value == "CANCELED"


# ---------------------------------------------------------------------------------------------
# The plan and the staged stack file


def test_the_plan_gates_only_a_release_new_to_production() -> None:
    config = read_stack_file(REPO / "Pulumi.prod.yaml")  # live 1.3.0, target 1.2.0
    assert plan_switch(config, None).kind == FIRST
    assert plan_switch(config, {"liveRelease": "1.3.0", "rollbackTarget": "1.2.0"}).kind == NONE
    rollback = plan_switch(config, {"liveRelease": "1.4.0", "rollbackTarget": "1.3.0"})
    assert rollback.kind == ROLLBACK and not rollback.gated
    promotion = plan_switch(config, {"liveRelease": "1.2.0", "rollbackTarget": "1.1.0"})
    assert promotion.kind == PROMOTION and promotion.gated
    assert "switches only if that run succeeds" in promotion.describe()


def test_stage_and_restore_never_lose_the_committed_file(tmp_path: Path) -> None:
    shutil.copy(REPO / "Pulumi.prod.yaml", tmp_path / "Pulumi.prod.yaml")
    committed = (tmp_path / "Pulumi.prod.yaml").read_text()
    config = read_stack_file(tmp_path / "Pulumi.prod.yaml")
    switch = plan_switch(config, {"liveRelease": "1.2.0", "rollbackTarget": "1.2.0"})
    stage(tmp_path, "prod", switch)
    staged = read_stack_file(tmp_path / "Pulumi.prod.yaml").releases
    assert (staged.live, staged.candidate) == ("1.2.0", "1.3.0")
    # A hand edit after staging is never overwritten.
    edited = (tmp_path / "Pulumi.prod.yaml").read_text() + "# mine\n"
    (tmp_path / "Pulumi.prod.yaml").write_text(edited)
    with pytest.raises(GateError, match="changed since `cicd.gate stage` wrote it"):
        restore(tmp_path, "prod")
    assert (tmp_path / "Pulumi.prod.yaml").read_text() == edited
    (tmp_path / "Pulumi.prod.yaml").write_text(edited.removesuffix("# mine\n"))
    restore(tmp_path, "prod")
    assert (tmp_path / "Pulumi.prod.yaml").read_text() == committed
    assert not (tmp_path / "dist" / "gate").exists() or not any(
        (tmp_path / "dist" / "gate").iterdir()
    )


def test_stage_and_restore_keep_crlf_and_bom_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.prod.yaml"
    committed = b"\xef\xbb\xbf" + (REPO / "Pulumi.prod.yaml").read_bytes().replace(b"\n", b"\r\n")
    path.write_bytes(committed)
    switch = plan_switch(read_stack_file(path), {"liveRelease": "1.2.0", "rollbackTarget": "1.2.0"})
    stage(tmp_path, "prod", switch)
    staged = path.read_bytes()
    assert staged.startswith(b"\xef\xbb\xbf") and staged.count(b"\n") == staged.count(b"\r\n")
    assert read_stack_file(path).releases.candidate == "1.3.0"
    restore(tmp_path, "prod")
    assert path.read_bytes() == committed


def _fake_pulumi_outputs(bin_dir: Path, outputs: str) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    exe = bin_dir / "pulumi"
    exe.write_text(f"#!/bin/sh\ncat <<'JSON'\n{outputs}\nJSON\n")
    exe.chmod(0o755)


def test_gate_stage_refuses_a_promotion_without_staging_provenance_and_changes_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emulator: Emulator,
    run_scripts: RunScripts,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import os
    import re

    from cicd.gate import main as gate_main
    from cicd.releases.lock import LOCK_FILE

    for name in ("Pulumi.prod.yaml", "Pulumi.staging.yaml", LOCK_FILE):
        shutil.copy(REPO / name, tmp_path / name)
    staging = tmp_path / "Pulumi.staging.yaml"
    staging.write_text(
        re.sub(
            r"databricks:host: \S+",
            f"databricks:host: {emulator.url}",
            staging.read_text().replace("etl-pipeline-staging", "gate-cli-staging"),
        )
    )
    # Production runs 1.2.0; the committed file makes 1.3.0 live: a promotion.
    _fake_pulumi_outputs(
        tmp_path / "bin", '{"liveRelease": "1.2.0", "rollbackTarget": "1.2.0", "jobId": "7"}'
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    for variable in (
        "DATABRICKS_CLIENT_ID",
        "DATABRICKS_CLIENT_SECRET",
        "STAGING_READER_CLIENT_ID",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("DATABRICKS_TOKEN", "emulator-token")
    github_output = tmp_path / "github-output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(github_output))
    committed = (tmp_path / "Pulumi.prod.yaml").read_text()

    assert gate_main(["stage", "--stack", "prod"], project_dir=tmp_path) == 1
    out, err = capsys.readouterr()
    assert "promotion: 1.2.0 -> 1.3.0" in out, out
    assert "no job named 'gate-cli-staging'" in err, err
    assert (tmp_path / "Pulumi.prod.yaml").read_text() == committed
    assert not github_output.exists()

    # Staging ran 1.3.0's content green, started by its deploy identity (as CI does), and its
    # copy of 1.3.0 is the lock's: the candidate is staged, the job stays on 1.2.0.
    shutil.copy(REPO / "__main__.py", tmp_path / "__main__.py")
    shutil.copytree(REPO / "dist/releases/1.3.0", tmp_path / "dist/releases/1.3.0")
    staging_run = publish_staging(tmp_path, emulator, run_scripts, "gate-cli-staging", "1.3.0")
    run_scripts.script("/gate-cli-staging/releases/1.3.0/", ("TERMINATED", "SUCCESS", None))
    staging_run.deployer.jobs.run_now(staging_run.job_id, notebook_params=staging_run.record)
    assert gate_main(["stage", "--stack", "prod"], project_dir=tmp_path) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    assert "release 1.3.0 ran green in staging" in out, out
    staged = read_stack_file(tmp_path / "Pulumi.prod.yaml").releases
    assert (staged.live, staged.candidate) == ("1.2.0", "1.3.0")
    assert "promotion=true" in github_output.read_text()
    restore(tmp_path, "prod")
    assert (tmp_path / "Pulumi.prod.yaml").read_text() == committed


def _dag_job(emulator: Emulator, root: str, version: str) -> tuple[int, dict[str, Any]]:
    """A multi-task job as PipelineJob registers one, on `version`: a notebook, the entry
    notebook with a wheel, a pipeline task, and a notebook after it. Returns its id and the
    release fields the program exports for it (liveFields[job])."""
    client = emulator.client()
    wheel = f"/Volumes/p/e/a/releases/{version}/etl_pipeline-{version}-py3-none-any.whl"
    cluster = ClusterSpec(spark_version="15.4.x-scala2.12", node_type_id="i3.xlarge", num_workers=2)
    created = client.jobs.create(
        name=f"{root.rsplit('/', 1)[-1]}-dag",
        job_clusters=[JobCluster(job_cluster_key="main", new_cluster=cluster)],
        tasks=[
            Task(
                task_key="check_source",
                job_cluster_key="main",
                notebook_task=NotebookTask(
                    notebook_path=f"{root}/releases/{version}/tasks/check_source",
                    source=Source.WORKSPACE,
                ),
                libraries=[Library(whl=wheel)],
            ),
            Task(
                task_key="main",
                job_cluster_key="main",
                depends_on=[TaskDependency(task_key="check_source")],
                notebook_task=NotebookTask(
                    notebook_path=f"{root}/releases/{version}/main", source=Source.WORKSPACE
                ),
                libraries=[Library(whl=wheel)],
                max_retries=2,
            ),
            Task(
                task_key="refresh",
                depends_on=[TaskDependency(task_key="main")],
                pipeline_task=PipelineTask(pipeline_id="pipeline-1"),
            ),
            Task(
                task_key="report",
                job_cluster_key="main",
                depends_on=[TaskDependency(task_key="refresh")],
                notebook_task=NotebookTask(
                    notebook_path=f"{root}/releases/{version}/tasks/report",
                    source=Source.WORKSPACE,
                ),
                libraries=[Library(whl=wheel)],
            ),
        ],
        run_as=JobRunAs(service_principal_name=RUNNER),
        timeout_seconds=7200,
    )
    assert created.job_id is not None
    return created.job_id, _dag_fields(root, version)


def _dag_fields(root: str, version: str) -> dict[str, Any]:
    wheel = f"/Volumes/p/e/a/releases/{version}/etl_pipeline-{version}-py3-none-any.whl"
    folder = f"{root}/releases/{version}"
    return {
        "check_source": {"notebook_path": f"{folder}/tasks/check_source", "libraries": [wheel]},
        "main": {"notebook_path": f"{folder}/main", "libraries": [wheel]},
        "report": {"notebook_path": f"{folder}/tasks/report", "libraries": [wheel]},
    }


def test_a_multi_task_candidate_swaps_every_release_field_and_leaves_out_the_pipeline_task(
    emulator: Emulator,
) -> None:
    root = "/Production/gate-dag"
    job_id, live = _dag_job(emulator, root, "1.2.0")
    candidate = _dag_fields(root, "1.3.0")
    client = emulator.client()
    submission, left_out = submission_for(client.jobs, job_id, "1.3.0", live, candidate)
    assert left_out == ["refresh"], left_out
    tasks = {t.task_key: t for t in submission["tasks"]}
    assert sorted(tasks) == ["check_source", "main", "report"], sorted(tasks)
    for key, fields in candidate.items():
        task = tasks[key]
        assert task.notebook_task is not None
        assert task.notebook_task.notebook_path == fields["notebook_path"], (key, task)
        assert [lib.whl for lib in task.libraries or []] == fields["libraries"], (key, task)
        assert task.new_cluster is not None and task.new_cluster.num_workers == 2, (key, task)
    # The report ran after the pipeline task, which ran after main: now it follows main.
    assert [d.task_key for d in tasks["report"].depends_on or []] == ["main"], tasks["report"]
    assert [d.task_key for d in tasks["main"].depends_on or []] == ["check_source"]
    assert tasks["main"].max_retries == 2, tasks["main"]


def test_a_candidate_of_a_job_that_is_not_what_the_program_registered_is_refused(
    emulator: Emulator,
) -> None:
    root = "/Production/gate-dag-stale"
    job_id, _ = _dag_job(emulator, root, "1.2.0")
    stale = _dag_fields(root, "1.1.0")  # the program thinks 1.1.0 is live
    with pytest.raises(CandidateError, match="not what the program registered") as refused:
        submission_for(emulator.client().jobs, job_id, "1.3.0", stale, _dag_fields(root, "1.3.0"))
    assert "check_source" in str(refused.value) and "releases/1.2.0" in str(refused.value)


def test_gate_run_leaves_prod_on_its_release_when_the_candidate_fails(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emulator: Emulator,
    run_scripts: RunScripts,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`python -m cicd.gate run` as the workflow calls it: outputs from the Pulumi CLI, the live
    jobs read back over HTTP, the candidate failing in the first gated job; the committed stack
    file comes back."""
    import json
    import os
    import re

    from cicd.gate import main as gate_main

    root = "/Production/gate-cli-run"
    job_id, live = _dag_job(emulator, root, "1.2.0")
    quality_id = _live_job(emulator, root + "-quality")
    prod = tmp_path / "Pulumi.prod.yaml"
    prod.write_text(
        re.sub(
            r"databricks:host: \S+",
            f"databricks:host: {emulator.url}",
            (REPO / "Pulumi.prod.yaml").read_text(),
        )
    )
    committed = prod.read_text()
    stage(
        tmp_path,
        "prod",
        plan_switch(read_stack_file(prod), {"liveRelease": "1.2.0", "rollbackTarget": "1.2.0"}),
    )
    outputs = {
        "jobId": str(job_id),
        "jobIds": {"main": str(job_id), "orders_quality": str(quality_id)},
        "candidateRelease": "1.3.0",
        "liveFields": {"main": live, "orders_quality": {}},
        "candidateFields": {"main": _dag_fields(root, "1.3.0"), "orders_quality": {}},
    }
    _fake_pulumi_outputs(tmp_path / "bin", json.dumps(outputs))
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    for variable in ("DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("DATABRICKS_TOKEN", "emulator-token")
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    run_scripts.script(
        f"{root}/releases/1.3.0/",
        ("TERMINATED", "FAILED", "Workload failed"),
        error="ValueError: bad currency",
    )

    code = gate_main(["run", "--stack", "prod", "--poll-interval", "0.05"], project_dir=tmp_path)
    out, err = capsys.readouterr()
    assert code == EXIT_RUN_FAILED, out + err
    assert "running 2 job(s) with their live settings: main, orders_quality" in out, out
    assert "job main: left out of the candidate's run: refresh" in out, out
    assert "error: ValueError: bad currency" in out, out
    assert "candidate 1.3.0 was NOT made live: production stays on 1.2.0. Job main failed" in err
    assert f"{emulator.url}/#job/" in err, err
    assert "NOT made live" in summary.read_text()
    assert prod.read_text() == committed  # the switch step would deploy what was committed


def test_stack_outputs_tell_a_first_deploy_from_an_unreachable_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from cicd.jobs.stack_outputs import JobIdError, read_stack_outputs

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "pulumi"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    exe.write_text("#!/bin/sh\necho \"error: no stack named 'prod' found\" >&2\nexit 255\n")
    exe.chmod(0o755)
    assert read_stack_outputs("prod", cwd=tmp_path) is None
    exe.write_text(
        "#!/bin/sh\necho 'error: failed to load checkpoint: access denied' >&2\nexit 255\n"
    )
    with pytest.raises(JobIdError, match="access denied. Check PULUMI_BACKEND_URL"):
        read_stack_outputs("prod", cwd=tmp_path)
