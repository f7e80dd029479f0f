"""Whole-program tests: `__main__.py` with each stack's own `Pulumi.<stack>.yaml`, as CI runs it
(after `python -m cicd.release ensure`, which builds every kept release from this repo)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from cicd.config import pulumi_config_map
from cicd.evaluation import Evaluation, evaluate
from cicd.evaluation.program import fake_id
from cicd.releases.content import scan_release
from tests.conftest import REPO
from tests.evaluations import evaluate_once

pytestmark = pytest.mark.usefixtures("built_releases")


def run_stack(stack: str) -> Evaluation:
    return evaluate_once(pulumi_config_map(REPO / f"Pulumi.{stack}.yaml"), stack, REPO)


@pytest.fixture(scope="module")
def staging() -> Evaluation:
    return run_stack("staging")


@pytest.fixture(scope="module")
def prod() -> Evaluation:
    return run_stack("prod")


def test_staging_publishes_its_one_release_and_points_the_job_at_it(staging: Evaluation) -> None:
    content = scan_release(Path("dist/releases/1.3.0"))
    notebooks = {
        r.inputs["path"]: r.inputs
        for r in staging.of_type("databricks:index/notebook:Notebook")
        if r.parent == "release-1.3.0"
    }
    expected = {
        f"/Staging/etl-pipeline/releases/1.3.0/{n.workspace_name}": n for n in content.notebooks
    }
    assert set(notebooks) == set(expected), f"notebook paths: {sorted(notebooks)}"
    for path, notebook in expected.items():
        assert notebooks[path]["language"] == notebook.language, (
            f"{path}: {notebooks[path]['language']}"
        )
        assert notebooks[path]["source"] == notebook.source.as_posix(), notebooks[path]["source"]
    languages = {n.language for n in content.notebooks}
    assert {"PYTHON", "SQL"} <= languages, languages

    uploads = [
        r for r in staging.of_type("databricks:index/file:File") if r.parent == "release-1.3.0"
    ]
    assert [u.inputs["path"] for u in uploads] == [
        f"/Volumes/staging/etl_pipeline/artifacts/releases/1.3.0/{lib.file_name}"
        for lib in content.libraries
    ], [u.inputs for u in uploads]

    tasks = {t["taskKey"]: t for t in staging.named("pipeline-job").inputs["tasks"]}
    task = tasks["main"]
    assert task["notebookTask"]["notebookPath"] == "/Staging/etl-pipeline/releases/1.3.0/main", task
    assert sorted(lib["whl"] for lib in task["libraries"]) == sorted(
        u.inputs["path"] for u in uploads
    ), task
    assert staging.outputs["liveRelease"] == "1.3.0" and staging.outputs["keptReleases"] == [
        "1.3.0"
    ]


def test_staging_restricts_its_release_folder_like_prod(staging: Evaluation) -> None:
    """Outside /Shared (where every user inherits CAN_MANAGE): only the admin group and the
    deploy identity control the release a green staging run vouches for (issue 20, item 8)."""
    config = yaml.safe_load((REPO / "Pulumi.staging.yaml").read_text())["config"]
    access = config["databricks-cicd:access"]
    root = staging.named("workspace-root-directory").inputs["path"]
    assert root == "/Staging/etl-pipeline" and not root.startswith("/Shared"), root
    grants = sorted(
        (
            g.get("groupName") or g.get("servicePrincipalName") or g.get("userName"),
            g["permissionLevel"],
        )
        for g in staging.named("workspace-root-permissions").inputs["accessControls"]
    )
    assert grants == sorted(
        [
            (access["adminGroup"], "CAN_MANAGE"),
            (access["deployIdentity"], "CAN_MANAGE"),
            (config["databricks-cicd:job"]["runAs"], "CAN_RUN"),
            (access["readOnlyIdentity"], "CAN_READ"),
            # prod's gate checks the release it promotes against the lock (cicd.promotion.staging)
            (access["runReader"], "CAN_READ"),
        ]
    ), grants
    notebook = staging.named("release-1.3.0-notebook-main")
    assert "workspace-root-permissions" in notebook.dependencies, notebook.dependencies


# Every input of a dev cluster the program registered before the stack stopped owning the dev
# work (recorded from that program's staging evaluation). The provider forces replacement of a
# cluster only for `idempotency_token` (terraform-provider-databricks clusters/resource_cluster.go:
# every other attribute is edited in place), so the cluster id and everything on it survive.
CLUSTER_INPUTS_BEFORE = {
    "autoterminationMinutes",
    "clusterName",
    "customTags",
    "dataSecurityMode",
    "isPinned",
    "libraries",
    "nodeTypeId",
    "numWorkers",
    "singleUserName",
    "sparkConf",
    "sparkVersion",
}


def test_staging_dev_clusters_are_updated_in_place_under_their_policy(staging: Evaluation) -> None:
    clusters = staging.of_type("databricks:index/cluster:Cluster")
    assert len(clusters) == 3, [c.name for c in clusters]
    for cluster in clusters:
        # sparkConf is there for single-node clusters only, before and after alike.
        changed = (set(cluster.inputs) ^ CLUSTER_INPUTS_BEFORE) - {"sparkConf"}
        # runtimeEngine: the dev policy fixes it to STANDARD, the service's default anyway.
        assert changed == {"policyId", "driverNodeTypeId", "libraries", "runtimeEngine"}, (
            cluster.name,
            changed,
        )
        assert "idempotencyToken" not in cluster.inputs, cluster.name
        assert cluster.urn.endswith(
            f"DevEnvironment$databricks:index/cluster:Cluster::{cluster.name}"
        ), cluster.urn


def test_staging_registers_nothing_inside_personal_folders_or_dev_locations(
    staging: Evaluation,
) -> None:
    inside = [
        (r.type, r.name, r.inputs.get("path"))
        for r in staging.resources.values()
        if str(r.inputs.get("path", "")).startswith("/Users/")
        and r.type != "databricks:index/directory:Directory"
        or "/dev" in str(r.inputs.get("path", ""))
    ]
    assert inside == [], inside
    folders = sorted(
        r.inputs["path"]
        for r in staging.of_type("databricks:index/directory:Directory")
        if r.inputs["path"] != "/Staging/etl-pipeline"  # the restricted release folder
    )
    assert folders == [
        "/Users/807a2304-3287-4420-b267-711de70a6685/etl-pipeline",
        "/Users/alice@example.com/etl-pipeline",
        "/Users/bob@example.com/etl-pipeline",
    ], folders


def test_prod_keeps_two_releases_side_by_side_under_the_restricted_root(prod: Evaluation) -> None:
    releases = sorted(r.name for r in prod.of_type("databricks-cicd:release:Release"))
    assert releases == ["release-1.2.0", "release-1.3.0"], releases
    assert prod.named("workspace-root-directory").inputs["path"] == "/Production/etl-pipeline"
    tasks = {t["taskKey"]: t for t in prod.named("pipeline-job").inputs["tasks"]}
    assert (
        tasks["main"]["notebookTask"]["notebookPath"]
        == "/Production/etl-pipeline/releases/1.3.0/main"
    ), tasks["main"]
    assert prod.outputs["rollbackTarget"] == "1.2.0", prod.outputs
    assert (
        prod.named("pipeline-job").inputs["runAs"]["servicePrincipalName"]
        == "3c9b8a7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"
    )


CREDENTIAL_KEY = re.compile(r"(token|secret|password|credential|private.?key)", re.IGNORECASE)
CREDENTIAL_VALUE = re.compile(r"(dapi[0-9a-f]{32}|dose[0-9a-f]{32}|-----BEGIN|pul-[0-9a-f]{40})")


def credential_problems(path: Path) -> list[str]:
    """Credential-like keys must hold `secure:` values; no value may look like a token."""
    document = yaml.safe_load(path.read_text()) or {}
    problems = []
    for key, value in (document.get("config") or {}).items():
        if CREDENTIAL_KEY.search(str(key)) and not (isinstance(value, dict) and "secure" in value):
            problems.append(
                f"{path.name}: {key} holds a credential in plain text; use `pulumi config set --secret`"
            )
        if CREDENTIAL_VALUE.search(json.dumps(value)):
            problems.append(f"{path.name}: {key} holds a value that looks like a token")
    return problems


def test_stack_files_hold_no_credentials() -> None:
    for stack in ("staging", "prod"):
        assert credential_problems(REPO / f"Pulumi.{stack}.yaml") == []


def test_credential_check_catches_plain_text_tokens(tmp_path: Path) -> None:
    leaky = tmp_path / "Pulumi.leaky.yaml"
    leaky.write_text(
        yaml.safe_dump(
            {
                "config": {
                    "databricks:token": "dapi" + "0" * 32,
                    "databricks-cicd:job": {"parameters": {"api": "dapi" + "a" * 32}},
                    "databricks:clientSecret": {"secure": "v1:abc"},
                }
            }
        )
    )
    problems = credential_problems(leaky)
    assert (
        "Pulumi.leaky.yaml: databricks:token holds a credential in plain text; use `pulumi config set --secret`"
        in problems
    )
    assert (
        "Pulumi.leaky.yaml: databricks-cicd:job holds a value that looks like a token" in problems
    )
    assert not [p for p in problems if "clientSecret" in p], problems


def test_moving_stagings_release_folder_replaces_only_the_release_content(
    staging: Evaluation,
) -> None:
    """The move out of /Shared (docs/staging-release-folder.md), as `pulumi up` will see it:
    the restricted folder is added; the release's notebooks and files change path (the provider
    replaces them: a new path is a new object, created before the old one is deleted); the job
    and pipelines are updated in place to point at them; nothing else changes."""
    from cicd.evaluation.changes import compare

    config = pulumi_config_map(REPO / "Pulumi.staging.yaml")
    config["databricks-cicd:workspaceRoot"] = "/Shared/etl-pipeline/staging"
    access = json.loads(config["databricks-cicd:access"])
    access.pop("restrictWorkspaceRoot")
    config["databricks-cicd:access"] = json.dumps(access)
    before = evaluate(config, "staging", REPO)
    changes = compare(before, staging)
    added = sorted(c.name for c in changes if c.kind == "add")
    assert added == ["workspace-root", "workspace-root-directory", "workspace-root-permissions"]
    assert [c for c in changes if c.kind == "remove"] == []
    changed = {c.name: c.changed_inputs for c in changes if c.kind == "change"}
    release_objects = {
        r.name
        for r in staging.resources.values()
        if r.parent == "release-1.3.0"
        and r.type
        in ("databricks:index/notebook:Notebook", "databricks:index/workspaceFile:WorkspaceFile")
    }
    assert release_objects and all(changed.pop(n) == ("path",) for n in release_objects), changed
    # Every job and pipeline points into the release: updated in place, as on every switch.
    runners = staging.of_type("databricks:index/job:Job") + staging.of_type(
        "databricks:index/pipeline:Pipeline"
    )
    assert len(runners) >= 1 and all(changed.pop(r.name, None) for r in runners), changed
    assert changed == {}, f"changed beyond the release content, jobs and pipelines: {changed}"


def _release_paths(inputs: object) -> list[str]:
    """Every string value in a resource's inputs that names a path of some release."""
    found: list[str] = []
    if isinstance(inputs, dict):
        for value in inputs.values():
            found += _release_paths(value)
    elif isinstance(inputs, list):
        for value in inputs:
            found += _release_paths(value)
    elif isinstance(inputs, str) and "/releases/" in inputs:
        found.append(inputs)
    return found


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_job_and_pipeline_runs_the_live_release_only(stack: str) -> None:
    evaluation = run_stack(stack)
    live = evaluation.outputs["liveRelease"]
    runners = evaluation.of_type("databricks:index/job:Job") + evaluation.of_type(
        "databricks:index/pipeline:Pipeline"
    )
    assert len(runners) == 3, [r.name for r in runners]
    for runner in runners:
        paths = _release_paths(runner.inputs)
        assert paths, f"{runner.name} names no release path: {runner.inputs}"
        outside = [p for p in paths if f"/releases/{live}/" not in p]
        assert not outside, f"{runner.name} points outside live release {live}: {outside}"
    # The main job: a DAG of three notebooks and the library's wheel entry point.
    tasks = {t["taskKey"]: t for t in evaluation.named("pipeline-job").inputs["tasks"]}
    assert list(tasks) == sorted(tasks), "tasks are listed by key"
    kinds = {key: next(k for k in task if k.endswith("Task")) for key, task in tasks.items()}
    assert kinds == {
        "check_source": "notebookTask",
        "daily_summary": "pythonWheelTask",
        "main": "notebookTask",
        "publish_report": "notebookTask",
    }, kinds
    depends = {k: [d["taskKey"] for d in t.get("dependsOns", [])] for k, t in tasks.items()}
    assert depends == {
        "check_source": [],
        "daily_summary": ["main"],
        "main": ["check_source"],
        "publish_report": ["daily_summary"],
    }, depends
    assert tasks["daily_summary"]["libraries"] == [
        {"whl": evaluation.outputs["liveLibraryPaths"][0]}
    ], tasks["daily_summary"]
    # The serverless job: no cluster, a pipeline task on this stack's pipeline.
    quality = evaluation.named("pipeline-job-orders_quality-job").inputs
    assert "jobClusters" not in quality, quality
    pipeline = evaluation.named("pipeline-lakeflow-orders_bronze-pipeline")
    refresh = next(t for t in quality["tasks"] if t["taskKey"] == "refresh_bronze")
    assert refresh["pipelineTask"]["pipelineId"] == fake_id(pipeline.name), refresh
    assert pipeline.inputs["catalog"] == stack and pipeline.inputs["serverless"] is True


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_a_job_that_starts_a_pipeline_update_may_start_it(stack: str) -> None:
    """A pipeline task starts the update as the job's run-as identity, and "pipeline updates
    can be run by any user or service principal with CAN RUN": the pipeline grants it that."""
    evaluation = run_stack(stack)
    pipelines = {
        r.name: r.inputs["name"] for r in evaluation.of_type("databricks:index/pipeline:Pipeline")
    }
    starters = 0
    for job in evaluation.of_type("databricks:index/job:Job"):
        if not any(t.get("pipelineTask") for t in job.inputs["tasks"]):
            continue
        run_as = job.inputs["runAs"]["servicePrincipalName"]
        started = [d for d in job.dependencies if d in pipelines]
        assert started, f"{job.name}: its pipeline task depends on no pipeline"
        for pipeline in started:
            grants = evaluation.named(pipeline.removesuffix("-pipeline") + "-permissions")
            assert {"servicePrincipalName": run_as, "permissionLevel": "CAN_RUN"} in (
                grants.inputs["accessControls"]
            ), f"{grants.name}: {grants.inputs['accessControls']}"
            starters += 1
    assert starters >= 1, "the repo's stacks start a pipeline from a job"
