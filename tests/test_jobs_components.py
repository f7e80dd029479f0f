"""Several jobs and a Lakeflow pipeline, registered by the real program under Pulumi's mocks: every
task kind becomes the provider's inputs with the live release's paths, the components nest and
depend as they must, a kept release that lacks what a task runs stops everything, and a rollback
changes each job and pipeline once and nothing else."""

from __future__ import annotations

import copy
import json
from typing import Any

import pulumi
import pytest

from cicd.evaluation import Evaluation, compare
from cicd.evaluation.program import fake_id
from tests.conftest import PY_NOTEBOOK, SQL_NOTEBOOK, SandboxProject, with_releases
from tests.test_jobs_config import DAG, PIPELINE, SERVERLESS

ROOT = "/Production/etl-pipeline"
ARTIFACTS = "/Volumes/prod/etl/artifacts"


def release_notebooks(version: str) -> dict[str, str]:
    return {
        "main.py": PY_NOTEBOOK.format(version),
        "jobs/ingest.py": PY_NOTEBOOK.format("ingest " + version),
        "jobs/region.py": PY_NOTEBOOK.format("region " + version),
        "jobs/clean.py": f"print('clean {version}')\n",  # a plain Python file
        "sql/report.sql": f"SELECT '{version}'\n",  # a plain SQL file
        "pipelines/orders.sql": SQL_NOTEBOOK.format("orders " + version),
        "transformations/bronze.py": f"# bronze {version}\n",
    }


@pytest.fixture
def project(sandbox: SandboxProject) -> SandboxProject:
    for version in ("1.0.0", "1.1.0"):
        sandbox.add_release(version, notebooks=release_notebooks(version))
    return sandbox


def stack(values: dict[str, Any], live: str = "1.1.0") -> dict[str, Any]:
    changed = with_releases(values, ["1.0.0", "1.1.0"], live)
    changed["jobs"] = {"dag": copy.deepcopy(DAG), "serverless": copy.deepcopy(SERVERLESS)}
    changed["jobs"]["dag"]["parameters"] = {"env": "test"}
    changed["pipelines"] = {"orders": copy.deepcopy(PIPELINE)}
    return changed


def tasks_of(evaluation: Evaluation, name: str) -> dict[str, dict[str, Any]]:
    return {t["taskKey"]: t for t in evaluation.named(name).inputs["tasks"]}


def test_every_task_kind_points_into_the_live_release(
    project: SandboxProject, values: dict[str, Any]
) -> None:
    evaluation = project.evaluate(stack(values))
    folder = f"{ROOT}/releases/1.1.0"
    wheel = f"{ARTIFACTS}/releases/1.1.0/etl_pipeline-1.1.0-py3-none-any.whl"
    dag = tasks_of(evaluation, "pipeline-job-dag-job")
    assert list(dag) == sorted(dag), f"tasks not sorted by key: {list(dag)}"
    assert dag["ingest"]["notebookTask"] == {
        "notebookPath": f"{folder}/jobs/ingest",
        "source": "WORKSPACE",
        "baseParameters": {"env": "test"},  # the job's parameters reach every notebook task
    }, dag["ingest"]
    assert dag["clean"]["sparkPythonTask"]["pythonFile"] == f"/Workspace{folder}/jobs/clean.py"
    assert dag["report"]["sqlTask"] == {
        "warehouseId": "wh-1",
        "file": {"path": f"/Workspace{folder}/sql/report.sql", "source": "WORKSPACE"},
    }, dag["report"]
    assert dag["report"]["runIf"] == "ALL_DONE"
    score = dag["score"]
    assert score["pythonWheelTask"] == {"packageName": "etl_pipeline", "entryPoint": "score"}
    assert score["libraries"] == [{"whl": wheel}], score
    assert score["jobClusterKey"] == "big" and score["maxRetries"] == 3, score
    assert score["dependsOns"] == [
        {"taskKey": "check", "outcome": "false"},
        {"taskKey": "clean"},
    ], score
    assert dag["check"]["conditionTask"]["op"] == "EQUAL_TO" and "jobClusterKey" not in dag["check"]
    inner = dag["per_region"]["forEachTask"]
    assert inner["concurrency"] == 2 and inner["task"]["notebookTask"]["notebookPath"] == (
        f"{folder}/jobs/region"
    ), inner
    job = evaluation.named("pipeline-job-dag-job").inputs
    assert job["trigger"] == {
        "periodic": {"interval": 4, "unit": "HOURS"},
        "pauseStatus": "UNPAUSED",
    }
    assert job["parameters"] == [{"name": "run_date", "default": ""}], job["parameters"]
    assert [c["jobClusterKey"] for c in job["jobClusters"]] == ["big"], job["jobClusters"]

    serverless = evaluation.named("pipeline-job-serverless-job").inputs
    assert "jobClusters" not in serverless, serverless
    assert serverless["environments"] == [
        {"environmentKey": "default", "spec": {"environmentVersion": "2", "dependencies": [wheel]}}
    ], serverless["environments"]
    tasks = {t["taskKey"]: t for t in serverless["tasks"]}
    assert tasks["wheel"]["environmentKey"] == "default" and "libraries" not in tasks["wheel"]
    assert "environmentKey" not in tasks["notebook"] and "jobClusterKey" not in tasks["notebook"]
    pipeline = evaluation.named("pipeline-lakeflow-orders-pipeline")
    assert tasks["refresh"]["pipelineTask"] == {
        "pipelineId": fake_id(pipeline.name),
        "fullRefresh": True,
    }
    assert tasks["downstream"]["runJobTask"]["jobId"] == int(fake_id("pipeline-job-dag-job"))
    assert serverless["trigger"]["fileArrival"]["url"] == "/Volumes/prod/raw/landing/"
    assert serverless["trigger"]["pauseStatus"] == "PAUSED"

    assert pipeline.inputs["libraries"] == [
        {"notebook": {"path": f"{folder}/pipelines/orders"}},
        {"glob": {"include": f"/Workspace{folder}/transformations/**"}},
    ], pipeline.inputs["libraries"]
    assert pipeline.inputs["rootPath"] == f"/Workspace{folder}"
    assert (pipeline.inputs["catalog"], pipeline.inputs["schema"]) == ("prod", "sales")
    assert pipeline.inputs["serverless"] is True and pipeline.inputs["continuous"] is True
    assert pipeline.inputs["tags"] == {"pipeline": "etl-pipeline", "release": "1.1.0"}


def test_jobs_and_pipelines_nest_and_wait_for_what_they_use(
    project: SandboxProject, values: dict[str, Any]
) -> None:
    evaluation = project.evaluate(stack(values))
    for component, child in (
        ("pipeline-job-dag", "pipeline-job-dag-job"),
        ("pipeline-job-serverless", "pipeline-job-serverless-job"),
        ("pipeline-lakeflow-orders", "pipeline-lakeflow-orders-pipeline"),
    ):
        assert evaluation.named(component).parent == "pipeline", component
        registration = evaluation.named(child)
        assert registration.parent == component, (child, registration.parent)
        # Files before the jobs that run them: the live release's uploads, no other release's.
        waits = registration.dependencies
        assert "release-1.1.0-notebook-jobs/ingest" in waits, (child, waits)
        assert not [d for d in waits if d.startswith("release-1.0.0")], (child, waits)
    serverless = evaluation.named("pipeline-job-serverless-job").dependencies
    assert {"pipeline-lakeflow-orders-pipeline", "pipeline-job-dag-job"} <= set(serverless), (
        serverless
    )
    permissions = {
        r.name: r.inputs for r in evaluation.of_type("databricks:index/permissions:Permissions")
    }
    levels = {
        c.get("groupName") or c.get("servicePrincipalName"): c["permissionLevel"]
        for c in permissions["pipeline-lakeflow-orders-permissions"]["accessControls"]
    }
    assert levels == {
        "etl-admins": "CAN_MANAGE",
        "7a1d9c2e-4b3f-4e6a-8c5d-0f1e2d3c4b5a": "IS_OWNER",
        "etl-operators": "CAN_RUN",
        # The serverless job's refresh task starts an update as that job's run-as identity.
        "5e0c7a53-2f7b-4c5e-9d0a-1b2c3d4e5f60": "CAN_RUN",
    }, levels
    assert (
        "pipeline-job-dag-permissions" in permissions
        and "pipeline-job-serverless-permissions" in permissions
    )
    assert evaluation.outputs["jobIds"].keys() == {"main", "dag", "serverless"}
    assert evaluation.outputs["pipelineIds"].keys() == {"orders"}
    assert evaluation.outputs["liveFields"]["dag"]["clean"] == {
        "python_file": f"/Workspace{ROOT}/releases/1.1.0/jobs/clean.py",
        "libraries": [f"{ARTIFACTS}/releases/1.1.0/etl_pipeline-1.1.0-py3-none-any.whl"],
    }


def test_rollback_changes_each_job_and_pipeline_once_and_nothing_else(
    project: SandboxProject, values: dict[str, Any]
) -> None:
    before = project.evaluate(stack(values, live="1.1.0"))
    after = project.evaluate(stack(values, live="1.0.0"))
    changes = sorted((c.kind, c.type.rsplit(":", 1)[-1], c.name) for c in compare(before, after))
    assert changes == [
        ("change", "Job", "pipeline-job"),
        ("change", "Job", "pipeline-job-dag-job"),
        ("change", "Job", "pipeline-job-serverless-job"),
        ("change", "Pipeline", "pipeline-lakeflow-orders-pipeline"),
    ], changes
    assert len(before.resources) == len(after.resources)


def test_reordering_jobs_tasks_and_libraries_changes_nothing(
    project: SandboxProject, values: dict[str, Any]
) -> None:
    first = project.evaluate(stack(values))
    shuffled = stack(values)
    shuffled["jobs"] = dict(reversed(list(shuffled["jobs"].items())))
    shuffled["jobs"]["dag"]["tasks"] = list(reversed(shuffled["jobs"]["dag"]["tasks"]))
    shuffled["pipelines"]["orders"]["libraries"].reverse()
    second = project.evaluate(shuffled)
    assert compare(first, second) == [], compare(first, second)


def test_a_kept_release_without_what_a_task_runs_stops_everything(
    sandbox: SandboxProject, values: dict[str, Any]
) -> None:
    sandbox.add_release("1.0.0")  # the default tree: no jobs/ingest, no sql/report.sql
    sandbox.add_release("1.1.0", notebooks=release_notebooks("1.1.0"))
    seen = Evaluation()
    with pytest.raises(pulumi.RunError) as failed:
        sandbox.evaluate(stack(values), into=seen)
    message = str(failed.value)
    assert "nothing was deployed" in message and "rollback stays one edit" in message, message
    assert (
        "kept release 1.0.0: databricks-cicd:jobs.dag: task 'ingest': has no notebook 'jobs/ingest'"
        in message
    )
    assert "task 'report': sqlFile 'sql/report.sql': no such file" in message, message
    assert "databricks-cicd:pipelines.orders.libraries" in message, message
    assert "kept release 1.1.0" not in message, message
    assert seen.resources == {}, sorted(seen.resources)


def test_a_python_file_task_on_a_notebook_says_so(
    project: SandboxProject, values: dict[str, Any]
) -> None:
    changed = stack(values)
    changed["jobs"]["dag"]["tasks"][1]["sparkPythonFile"]["path"] = "jobs/ingest.py"
    with pytest.raises(pulumi.RunError) as failed:
        project.evaluate(changed)
    assert "sparkPythonFile 'jobs/ingest.py': it is a notebook" in str(failed.value)


def test_stack_outputs_are_plain_json(project: SandboxProject, values: dict[str, Any]) -> None:
    evaluation = project.evaluate(stack(values))
    json.dumps(evaluation.outputs["liveFields"])  # the gate reads them with `pulumi stack output`
    assert evaluation.outputs["candidateFields"] is None


def test_a_job_that_starts_a_pipeline_or_another_job_runs_as_an_identity_allowed_to(
    project: SandboxProject, values: dict[str, Any]
) -> None:
    """A pipeline task starts the update, a run-job task the run, as the job's run-as identity:
    it is granted CAN_RUN on that pipeline and CAN_MANAGE_RUN on that job, once, and nothing on
    what it does not start."""
    evaluation = project.evaluate(stack(values))
    runner = SERVERLESS["runAs"]

    def levels(name: str) -> list[str]:
        controls = evaluation.named(name).inputs["accessControls"]
        return [c["permissionLevel"] for c in controls if c.get("servicePrincipalName") == runner]

    assert levels("pipeline-lakeflow-orders-permissions") == ["CAN_RUN"]
    assert levels("pipeline-job-dag-permissions") == ["CAN_MANAGE_RUN"]
    assert levels("pipeline-job-serverless-permissions") == []
