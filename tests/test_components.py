"""Component tests: the real program under Pulumi's mocks, in a sandbox with hand-made releases.

They assert each component's children: inputs (wire names, as the engine receives them),
parents, dependencies and replacement options.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from cicd.evaluation import Evaluation
from tests.conftest import DEPLOYER, RUNNER, SandboxProject, with_releases

NOTEBOOK = "databricks:index/notebook:Notebook"
WORKSPACE_FILE = "databricks:index/workspaceFile:WorkspaceFile"
VOLUME_FILE = "databricks:index/file:File"
DBFS_FILE = "databricks:index/dbfsFile:DbfsFile"
JOB = "databricks:index/job:Job"
PERMISSIONS = "databricks:index/permissions:Permissions"
DIRECTORY = "databricks:index/directory:Directory"
BLUE_GREEN = "databricks-cicd:blue_green:BlueGreen"
RELEASE = "databricks-cicd:release:Release"
PIPELINE_JOB = "databricks-cicd:pipeline_job:PipelineJob"


@pytest.fixture
def two_releases(sandbox: SandboxProject, values: dict[str, Any]) -> Evaluation:
    sandbox.add_release("1.0.0")
    sandbox.add_release("1.1.0")
    return sandbox.evaluate(with_releases(values, ["1.0.0", "1.1.0"], "1.1.0"))


def test_release_imports_each_notebook_at_its_path_and_language(two_releases: Evaluation) -> None:
    expected = {
        "release-1.1.0-notebook-main": (
            "/Production/etl-pipeline/releases/1.1.0/main",
            "PYTHON",
            "main.py",
        ),
        "release-1.1.0-notebook-transforms/clean_orders": (
            "/Production/etl-pipeline/releases/1.1.0/transforms/clean_orders",
            "SQL",
            "transforms/clean_orders.sql",
        ),
        "release-1.1.0-notebook-transforms/explore": (
            "/Production/etl-pipeline/releases/1.1.0/transforms/explore",
            "PYTHON",
            "transforms/explore.py",
        ),
        **{
            f"release-1.1.0-notebook-{name}": (
                f"/Production/etl-pipeline/releases/1.1.0/{name}",
                "PYTHON",
                f"{name}.py",
            )
            for name in ("tasks/check_source", "tasks/publish_report", "quality/orders_quality")
        },
    }
    notebooks = {r.name: r for r in two_releases.of_type(NOTEBOOK) if r.parent == "release-1.1.0"}
    assert set(notebooks) == set(expected), f"release-1.1.0 notebooks: {sorted(notebooks)}"
    for name, (path, language, source) in expected.items():
        inputs = notebooks[name].inputs
        assert inputs["path"] == path, f"{name}: path {inputs['path']!r}"
        assert inputs["language"] == language, f"{name}: language {inputs['language']!r}"
        assert inputs["format"] == "SOURCE", f"{name}: format {inputs['format']!r}"
        # Relative to the project: the same on every machine, so no spurious diff in CI.
        assert inputs["source"] == f"dist/releases/1.1.0/notebooks/{source}", (
            f"{name}: source {inputs['source']!r}"
        )
        assert notebooks[name].delete_before_replace, f"{name}: delete_before_replace not set"


def test_non_notebook_file_is_published_as_a_workspace_file(two_releases: Evaluation) -> None:
    upload = two_releases.named("release-1.0.0-file-config/defaults.json")
    assert upload.type == WORKSPACE_FILE, upload.type
    assert (
        upload.inputs["path"] == "/Production/etl-pipeline/releases/1.0.0/config/defaults.json"
    ), upload.inputs
    assert upload.parent == "release-1.0.0", upload.parent


def test_each_library_goes_to_its_release_folder_in_the_volume(two_releases: Evaluation) -> None:
    uploads = {r.name: r for r in two_releases.of_type(VOLUME_FILE)}
    assert set(uploads) == {
        "release-1.0.0-library-etl_pipeline-1.0.0-py3-none-any.whl",
        "release-1.1.0-library-etl_pipeline-1.1.0-py3-none-any.whl",
    }, sorted(uploads)
    upload = uploads["release-1.1.0-library-etl_pipeline-1.1.0-py3-none-any.whl"]
    assert upload.inputs == {
        "path": "/Volumes/prod/etl/artifacts/releases/1.1.0/etl_pipeline-1.1.0-py3-none-any.whl",
        "source": "dist/releases/1.1.0/libraries/etl_pipeline-1.1.0-py3-none-any.whl",
    }, upload.inputs
    assert upload.delete_before_replace and upload.parent == "release-1.1.0", upload


@pytest.mark.parametrize(
    ("kind", "root", "spark", "resource_type", "library_uri"),
    [
        (
            "dbfs",
            "/FileStore/etl",
            "14.3.x-scala2.12",
            DBFS_FILE,
            "dbfs:/FileStore/etl/releases/1.0.0/etl_pipeline-1.0.0-py3-none-any.whl",
        ),
        (
            "workspace",
            "/Shared/etl-artifacts",
            "15.4.x-scala2.12",
            WORKSPACE_FILE,
            "/Workspace/Shared/etl-artifacts/releases/1.0.0/etl_pipeline-1.0.0-py3-none-any.whl",
        ),
    ],
)
def test_artifact_store_kinds(
    sandbox: SandboxProject,
    values: dict[str, Any],
    kind: str,
    root: str,
    spark: str,
    resource_type: str,
    library_uri: str,
) -> None:
    sandbox.add_release("1.0.0")
    values["artifactStore"] = {"kind": kind, "root": root}
    values["job"]["cluster"]["sparkVersion"] = spark
    evaluation = sandbox.evaluate(values)
    upload = evaluation.named("release-1.0.0-library-etl_pipeline-1.0.0-py3-none-any.whl")
    assert upload.type == resource_type, f"{kind}: upload type {upload.type}"
    assert upload.inputs["path"] == f"{root}/releases/1.0.0/etl_pipeline-1.0.0-py3-none-any.whl"
    assert upload.delete_before_replace, f"{kind}: upload would be replaced create-then-delete"
    task = evaluation.named("pipeline-job").inputs["tasks"][0]
    assert task["libraries"] == [{"whl": library_uri}], task["libraries"]


def test_job_runs_the_live_release_on_a_job_cluster(two_releases: Evaluation) -> None:
    job = two_releases.named("pipeline-job")
    assert job.type == JOB and job.parent == "pipeline", (job.type, job.parent)
    inputs = job.inputs
    assert "notebookTask" not in inputs and "newCluster" not in inputs, (
        "deprecated single-task form used"
    )
    assert [t["taskKey"] for t in inputs["tasks"]] == ["main"], inputs["tasks"]
    task = inputs["tasks"][0]
    assert task["notebookTask"] == {
        "notebookPath": "/Production/etl-pipeline/releases/1.1.0/main",
        "source": "WORKSPACE",
        "baseParameters": {"env": "test"},
    }, task["notebookTask"]
    assert task["libraries"] == [
        {"whl": "/Volumes/prod/etl/artifacts/releases/1.1.0/etl_pipeline-1.1.0-py3-none-any.whl"}
    ], task["libraries"]
    assert task["jobClusterKey"] == "main" and inputs["jobClusters"][0]["jobClusterKey"] == "main"
    assert (task["maxRetries"], task["minRetryIntervalMillis"], task["retryOnTimeout"]) == (
        2,
        60000,
        True,
    ), task
    assert task["timeoutSeconds"] == 3600 and inputs["timeoutSeconds"] == 3600, inputs
    cluster = inputs["jobClusters"][0]["newCluster"]
    assert cluster["sparkVersion"] == "15.4.x-scala2.12" and cluster["nodeTypeId"] == "i3.xlarge", (
        cluster
    )
    assert cluster["numWorkers"] == 2 and "autoscale" not in cluster, cluster
    assert cluster["dataSecurityMode"] == "SINGLE_USER" and cluster["singleUserName"] == RUNNER, (
        cluster
    )
    assert cluster["customTags"] == {
        "pipeline": "etl-pipeline",
        "release": "1.1.0",
        "team": "data-eng",
    }, cluster


def test_job_schedule_notifications_and_identity(two_releases: Evaluation) -> None:
    inputs = two_releases.named("pipeline-job").inputs
    assert inputs["name"] == "etl-pipeline-test"
    assert inputs["schedule"] == {
        "quartzCronExpression": "0 0 2 * * ?",
        "timezoneId": "UTC",
        "pauseStatus": "UNPAUSED",
    }, inputs["schedule"]
    assert inputs["maxConcurrentRuns"] == 1
    assert inputs["emailNotifications"] == {"onFailures": ["oncall@example.com"]}, inputs[
        "emailNotifications"
    ]
    assert inputs["runAs"] == {"servicePrincipalName": RUNNER}, inputs["runAs"]
    assert inputs["tags"] == {"pipeline": "etl-pipeline", "release": "1.1.0", "team": "data-eng"}


def test_job_waits_for_the_live_release_uploads_only(two_releases: Evaluation) -> None:
    dependencies = two_releases.named("pipeline-job").dependencies
    assert "release-1.1.0-notebook-main" in dependencies, dependencies
    assert "release-1.1.0-library-etl_pipeline-1.1.0-py3-none-any.whl" in dependencies, dependencies
    assert not [d for d in dependencies if d.startswith("release-1.0.0")], dependencies


def test_autoscale_and_paused_schedule(sandbox: SandboxProject, values: dict[str, Any]) -> None:
    sandbox.add_release("1.0.0")
    values["job"]["cluster"] = {
        "sparkVersion": "15.4.x-scala2.12",
        "nodeType": "m5.large",
        "autoscale": {"minWorkers": 2, "maxWorkers": 6},
    }
    values["job"]["schedule"]["paused"] = True
    inputs = sandbox.evaluate(values).named("pipeline-job").inputs
    cluster = inputs["jobClusters"][0]["newCluster"]
    assert (
        cluster["autoscale"] == {"minWorkers": 2, "maxWorkers": 6} and "numWorkers" not in cluster
    ), cluster
    assert inputs["schedule"]["pauseStatus"] == "PAUSED", inputs["schedule"]


def test_single_node_job_cluster_gets_the_single_node_profile(
    sandbox: SandboxProject, values: dict[str, Any]
) -> None:
    sandbox.add_release("1.0.0")
    values["job"]["cluster"]["numWorkers"] = 0
    cluster = sandbox.evaluate(values).named("pipeline-job").inputs["jobClusters"][0]["newCluster"]
    assert cluster["numWorkers"] == 0, cluster
    assert cluster["sparkConf"]["spark.databricks.cluster.profile"] == "singleNode", cluster
    assert cluster["customTags"]["ResourceClass"] == "SingleNode", cluster


def test_job_permissions_admins_manage_operators_run(two_releases: Evaluation) -> None:
    permissions = two_releases.named("pipeline-permissions")
    assert permissions.parent == "pipeline" and "pipeline-job" in permissions.dependencies
    grants = sorted(
        (g.get("groupName") or g.get("servicePrincipalName"), g["permissionLevel"])
        for g in permissions.inputs["accessControls"]
    )
    assert grants == [
        (DEPLOYER, "IS_OWNER"),
        ("etl-admins", "CAN_MANAGE"),
        ("etl-operators", "CAN_MANAGE_RUN"),
    ], grants


def test_production_root_is_restricted_to_admins_and_deployer(two_releases: Evaluation) -> None:
    directory = two_releases.named("workspace-root-directory")
    assert directory.type == DIRECTORY and directory.inputs["path"] == "/Production/etl-pipeline"
    permissions = two_releases.named("workspace-root-permissions")
    assert permissions.inputs["directoryPath"] == "/Production/etl-pipeline", permissions.inputs
    grants = sorted(
        (
            g.get("groupName") or g.get("servicePrincipalName") or g.get("userName"),
            g["permissionLevel"],
        )
        for g in permissions.inputs["accessControls"]
    )
    # The job's identity may read and run what it executes; nobody else is granted anything.
    assert grants == [
        (RUNNER, "CAN_RUN"),
        (DEPLOYER, "CAN_MANAGE"),
        ("etl-admins", "CAN_MANAGE"),
    ], grants
    # One authoritative permissions resource per object.
    on_root = [p for p in two_releases.of_type(PERMISSIONS) if p.inputs.get("directoryPath")]
    assert len(on_root) == 1, [p.name for p in on_root]
    # Release content is imported only once the folder and its permissions exist.
    notebook = two_releases.named("release-1.0.0-notebook-main")
    assert {"workspace-root-directory", "workspace-root-permissions"} <= set(
        notebook.dependencies
    ), notebook.dependencies


def test_without_access_block_no_permissions_or_folder(
    sandbox: SandboxProject, values: dict[str, Any]
) -> None:
    sandbox.add_release("1.0.0")
    del values["access"]
    evaluation = sandbox.evaluate(values)
    assert evaluation.of_type(PERMISSIONS) == [] and evaluation.of_type(DIRECTORY) == []


def test_children_are_parented_to_their_component(two_releases: Evaluation) -> None:
    for registration in two_releases.resources.values():
        if registration.custom:
            assert registration.parent is not None, f"{registration.name} is not inside a component"
            assert registration.name.startswith(registration.parent + "-"), (
                f"{registration.name} is not named after its parent {registration.parent}"
            )
        elif registration.type in (RELEASE, PIPELINE_JOB):
            # The blue/green component owns every kept release and the job.
            assert (
                registration.parent,
                two_releases.resources[(BLUE_GREEN, "pipeline")].parent,
            ) == (
                "pipeline",
                None,
            ), f"{registration.type} {registration.name} is under {registration.parent}"
        else:
            assert registration.parent is None, (
                f"component {registration.name} nested under {registration.parent}"
            )


def test_blue_green_owns_the_releases_and_the_job_and_aliases_them_to_their_old_place(
    two_releases: Evaluation,
) -> None:
    owned = {
        r.name: r for r in two_releases.resources.values() if r.type in (RELEASE, PIPELINE_JOB)
    }
    assert sorted(owned) == ["pipeline", "release-1.0.0", "release-1.1.0"], sorted(owned)
    for registration in owned.values():
        assert registration.parent == "pipeline", (registration.name, registration.parent)
        # Before BlueGreen existed they were children of the stack: same type and name there.
        former = f"urn:pulumi:test::databricks-cicd::{registration.type}::{registration.name}"
        assert registration.aliases == (former,), (registration.name, registration.aliases)
    job_component = owned["pipeline"]
    # The job waits for the live release's uploads, not for the release it replaces.
    # (a dependency on a component is a dependency on each of its resources).
    waits_for = job_component.dependencies
    assert waits_for and all(d.startswith("release-1.1.0-") for d in waits_for), waits_for


def test_stack_outputs(two_releases: Evaluation) -> None:
    outputs = two_releases.outputs
    assert outputs["liveRelease"] == "1.1.0" and outputs["rollbackTarget"] == "1.0.0", outputs
    assert outputs["keptReleases"] == ["1.0.0", "1.1.0"], outputs
    assert outputs["liveNotebookPath"] == "/Production/etl-pipeline/releases/1.1.0/main"
    assert outputs["liveLibraryPaths"] == [
        "/Volumes/prod/etl/artifacts/releases/1.1.0/etl_pipeline-1.1.0-py3-none-any.whl"
    ]
    job_id = outputs["jobId"]
    assert job_id and outputs["jobUrl"].endswith(f"/#job/{job_id}"), outputs


def test_a_read_only_identity_may_read_the_root_and_view_the_job(
    sandbox: SandboxProject, values: dict[str, Any]
) -> None:
    """Previews and the drift check read; the authoritative grants say so, and nothing more."""
    reader = "0d5e8c1a-7b2f-4e3d-9a6c-5f4e3d2c1b0a"
    sandbox.add_release("1.0.0")
    values["access"]["readOnlyIdentity"] = reader
    evaluation = sandbox.evaluate(values)
    for name, level in (
        ("workspace-root-permissions", "CAN_READ"),
        ("pipeline-permissions", "CAN_VIEW"),
    ):
        grants = evaluation.named(name).inputs["accessControls"]
        mine = [g["permissionLevel"] for g in grants if g.get("servicePrincipalName") == reader]
        assert mine == [level], f"{name}: accessControls {grants}"


def test_the_read_only_identity_cannot_be_the_deployer(
    sandbox: SandboxProject, values: dict[str, Any]
) -> None:
    sandbox.add_release("1.0.0")
    values["access"]["readOnlyIdentity"] = values["access"]["deployIdentity"]
    with pytest.raises(pulumi.RunError, match="readOnlyIdentity is the deployIdentity"):
        sandbox.evaluate(values)


def test_a_run_reader_may_view_the_jobs_runs_and_nothing_more(
    sandbox: SandboxProject, values: dict[str, Any]
) -> None:
    sandbox.add_release("1.0.0")
    reader = "6d1f3b2a-8c4e-4f5a-9b7d-2e3c4a5b6c7d"
    values["access"]["runReader"] = reader
    grants = sandbox.evaluate(values).named("pipeline-permissions").inputs["accessControls"]
    assert {"servicePrincipalName": reader, "permissionLevel": "CAN_VIEW"} in grants, grants
    values["access"]["runReader"] = "reader@example.com"
    with pytest.raises(
        pulumi.RunError, match="access.runReader: .*'reader@example.com' is not a service principal"
    ):
        sandbox.evaluate(values)
