"""`python -m cicd.rights`: every right of every identity a stack names, derived from what the
program registers (its real evaluation under mocks) and what the tools call; docs/identities.md
is its output and must be current."""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from cicd.config import namespace_values, parse_stack_config, pulumi_config_map
from cicd.evaluation import Evaluation, Registration
from cicd.rights import Right, Role, Source, derive_rights
from cicd.rights.__main__ import DOC, main, render_docs
from tests.conftest import REPO
from tests.evaluations import evaluate_once

pytestmark = pytest.mark.usefixtures("built_releases")
READ_LEVELS = {"CAN_READ", "CAN_VIEW", "CAN_ATTACH_TO", "READ_VOLUME", "USE_CATALOG", "USE_SCHEMA"}


def _stack(stack: str) -> tuple[Evaluation, list[Right], dict[str, object]]:
    config_map = pulumi_config_map(REPO / f"Pulumi.{stack}.yaml")
    config = parse_stack_config(namespace_values(config_map))
    evaluation = evaluate_once(config_map, stack, REPO)
    return evaluation, derive_rights(config, evaluation, stack == "prod"), dict(config_map)


def _of(rights: list[Right], role: Role) -> list[Right]:
    return [r for r in rights if r.role is role]


def test_docs_identities_is_the_commands_current_output() -> None:
    current = (REPO / DOC).read_text()
    assert render_docs(REPO) == current, (
        f"{DOC} is out of date: run `venv/bin/python -m cicd.rights --docs` and commit it"
    )


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_every_identity_the_stack_names_is_listed_and_nothing_is_missing(stack: str) -> None:
    _, rights, _ = _stack(stack)
    roles = {r.role for r in rights}
    expected = {Role.DEPLOY, Role.READ_ONLY, Role.RUN_AS, Role.OPERATORS, Role.ADMIN_GROUP}
    if stack == "staging":
        expected |= {Role.RUN_READER, Role.ENGINEER}
    assert roles == expected, sorted(r.value for r in roles)
    missing = [r for r in rights if r.source is Source.MISSING]
    assert missing == [], missing
    if stack == "staging":
        engineers = {r.principal for r in _of(rights, Role.ENGINEER)}
        assert engineers == {
            "alice@example.com",
            "bob@example.com",
            "807a2304-3287-4420-b267-711de70a6685",
        }, engineers


def test_prods_deploy_identity_is_not_workspace_admin_and_staging_says_why_it_is() -> None:
    _, prod, _ = _stack("prod")
    deploy = _of(prod, Role.DEPLOY)
    assert not [r for r in deploy if r.right == "workspace admin"], deploy
    once = {(r.target, r.right) for r in deploy if r.source is Source.ADMIN_ONCE}
    artifacts = "volume prod.etl_pipeline.artifacts"
    # Files in a volume: READ VOLUME and WRITE VOLUME, with USE CATALOG and USE SCHEMA.
    assert {
        (artifacts, "READ_VOLUME"),
        (artifacts, "WRITE_VOLUME"),
        ("catalog prod", "USE_CATALOG"),
        ("schema prod.etl_pipeline", "USE_SCHEMA"),
        ("folder /Production", "CAN_MANAGE"),
        ("workspace", "Unrestricted cluster creation"),
    } <= once, sorted(once)
    runner = "service principal 3c9b8a7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"
    assert (runner, "Service Principal User", Source.ACCOUNT_ADMIN_ONCE) in {
        (r.target, r.right, r.source) for r in deploy
    }
    _, staging, _ = _stack("staging")
    admin = [r for r in _of(staging, Role.DEPLOY) if r.right == "workspace admin"]
    assert len(admin) == 1 and "cluster policies" in admin[0].why, admin


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_the_read_only_identity_is_granted_read_levels_only_and_told_what_it_cannot_read(
    stack: str,
) -> None:
    evaluation, rights, _ = _stack(stack)
    reader = _of(rights, Role.READ_ONLY)
    granted = {r.right for r in reader if r.source is Source.PROGRAM}
    assert granted and granted <= READ_LEVELS, granted
    # Every job, cluster and folder the stack registers is readable through the program's grants
    # (or built in, under /Shared); permissions and policies are named as not readable.
    by_target = {(r.target, r.right): r for r in reader}
    for job in evaluation.of_type("databricks:index/job:Job"):
        assert by_target[(f"job {job.inputs['name']}", "CAN_VIEW")].source is Source.PROGRAM
    for cluster in evaluation.of_type("databricks:index/cluster:Cluster"):
        right = by_target[(f"cluster {cluster.inputs['clusterName']}", "CAN_ATTACH_TO")]
        assert right.source is Source.PROGRAM, right
    for folder in evaluation.of_type("databricks:index/directory:Directory"):
        right = by_target[(f"folder {folder.inputs['path']}", "CAN_READ")]
        assert right.source is Source.PROGRAM, right
    unreadable = [r for r in reader if r.source is Source.NOT_READ_ONLY]
    permissions = evaluation.of_type("databricks:index/permissions:Permissions")
    assert len([r for r in unreadable if r.target.startswith("permissions of ")]) == len(
        permissions
    )
    assert all("CAN_MANAGE" in r.why or "admin" in r.why for r in unreadable), unreadable


def _registration(type_: str, name: str, inputs: dict[str, object], *deps: str) -> Registration:
    return Registration(type_, name, None, inputs, tuple(deps), False, False, True)


def test_jobs_pipelines_and_unknown_types_are_derived_from_their_type_and_inputs() -> None:
    """Another job, a Lakeflow pipeline and its grants, added as a later program would: their
    rights follow; a pipeline the read-only identity may not view is MISSING, and so is a type
    nothing describes."""
    evaluation, _, config_map = _stack("prod")
    config = parse_stack_config(namespace_values(config_map))
    extended = copy.copy(evaluation)
    extended.resources = dict(evaluation.resources)
    other_runner = "11111111-2222-4333-8444-555555555555"
    reader = "2b7c4e9a-1d3f-4a5b-8c6d-7e8f9a0b1c2d"
    added = [
        _registration(
            "databricks:index/job:Job",
            "nightly-job",
            {
                "name": "etl-nightly",
                "runAs": {"servicePrincipalName": other_runner},
                "tasks": [
                    {
                        "taskKey": "a",
                        "notebookTask": {"notebookPath": "/Production/etl-pipeline/x/main"},
                        "libraries": [{"whl": "/Volumes/prod/other/libs/x.whl"}],
                    }
                ],
            },
        ),
        _registration(
            "databricks:index/pipeline:Pipeline",
            "orders-pipeline",
            {"name": "orders", "catalog": "prod", "schema": "sales", "runAs": None},
        ),
        _registration(
            "databricks:index/permissions:Permissions",
            "orders-pipeline-permissions",
            {
                "pipelineId": "123",
                "accessControls": [
                    {"groupName": "etl-admins", "permissionLevel": "CAN_MANAGE"},
                ],
            },
            "orders-pipeline",
        ),
        _registration("databricks:index/sqlEndpoint:SqlEndpoint", "warehouse", {"name": "w"}),
    ]
    for registration in added:
        extended.resources[registration.key] = registration
    rights = derive_rights(config, extended, production=True)
    seen = {(r.role, r.principal, r.target, r.right): r for r in rights}
    deploy = config.access.deploy_identity if config.access else ""
    assert seen[(Role.DEPLOY, deploy, "job etl-nightly", "IS_OWNER")].source is Source.CREATOR
    assert (Role.DEPLOY, deploy, f"service principal {other_runner}", "Service Principal User") in (
        seen
    )
    runner = seen[(Role.RUN_AS, other_runner, "volume prod.other.libs", "READ_VOLUME")]
    assert runner.source is Source.ADMIN_ONCE and "runs of job etl-nightly" in runner.used_by
    assert seen[(Role.RUN_AS, other_runner, "folder /Production/etl-pipeline", "CAN_RUN")]
    owner_tables = seen[(Role.DEPLOY, deploy, "schema prod.sales", "CREATE_TABLE")]
    assert owner_tables.source is Source.ADMIN_ONCE, owner_tables
    assert seen[(Role.ADMIN_GROUP, "etl-admins", "pipeline orders", "CAN_MANAGE")].via == (
        "orders-pipeline-permissions"
    )
    missing = {(r.principal, r.target, r.right) for r in rights if r.source is Source.MISSING}
    # The program grants the new job nothing: its reader and its run identity are missing out.
    assert missing == {
        (reader, "job etl-nightly", "CAN_VIEW"),
        (other_runner, "folder /Production/etl-pipeline", "CAN_RUN"),
        (reader, "pipeline orders", "CAN_VIEW"),
        (deploy, "databricks:index/sqlEndpoint:SqlEndpoint warehouse", "UNKNOWN"),
        (reader, "databricks:index/sqlEndpoint:SqlEndpoint warehouse", "UNKNOWN"),
    }, missing
    # Granting the reader CAN_VIEW on the pipeline, as the program must, clears it.
    grants = extended.resources[
        ("databricks:index/permissions:Permissions", "orders-pipeline-permissions")
    ]
    controls = [
        *grants.inputs["accessControls"],
        {"servicePrincipalName": reader, "permissionLevel": "CAN_VIEW"},
    ]
    fixed = replace(grants, inputs={**grants.inputs, "accessControls": controls})
    extended.resources[fixed.key] = fixed
    again = derive_rights(config, extended, production=True)
    view = [
        r
        for r in again
        if (r.principal, r.target, r.right) == (reader, "pipeline orders", "CAN_VIEW")
    ]
    assert [r.source for r in view] == [Source.PROGRAM], view


def test_the_command_prints_text_and_json_and_checks_the_docs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--stack", "prod", "--json"], project_dir=REPO) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["stack"] == "prod" and report["rights"], report
    assert {"role", "principal", "target", "right", "why", "source", "used_by", "via"} <= set(
        report["rights"][0]
    )
    assert main(["--stack", "prod"], project_dir=REPO) == 0
    text = capsys.readouterr().out
    assert "deploy identity 9f8e7d6c-5b4a-4c3d-8e2f-1a0b9c8d7e6f:" in text, text
    assert main(["--stack", "nope"], project_dir=REPO) == 2
    assert "Pulumi.nope.yaml: no such stack file" in capsys.readouterr().err
    # A project whose docs are stale: --check says so and changes nothing; --docs rewrites it.
    project = tmp_path / "project"
    shutil.copytree(REPO, project, ignore=shutil.ignore_patterns("venv", ".git", "node_modules"))
    (project / DOC).write_text("stale\n")
    assert main(["--docs", "--check"], project_dir=project) == 1
    assert "is not current" in capsys.readouterr().err
    assert (project / DOC).read_text() == "stale\n"
    assert main(["--docs"], project_dir=project) == 0
    assert (project / DOC).read_text() == (REPO / DOC).read_text()


def test_the_readme_points_at_the_generated_table() -> None:
    """The README's identities are the generated page: it links it, and the page names every
    identity a stack file configures, each with its config key's value."""
    readme = (REPO / "README.md").read_text()
    assert "(docs/identities.md)" in readme, "README must link docs/identities.md"
    page = (REPO / DOC).read_text()
    for stack in ("prod", "staging"):
        _, rights, config_map = _stack(stack)
        access = json.loads(str(config_map["databricks-cicd:access"]))
        for key in ("deployIdentity", "readOnlyIdentity", "operatorsGroup", "adminGroup"):
            assert f"`{access[key]}`" in page, (stack, key, access[key])
        assert "python -m cicd.rights" in page.split("## Stack", 1)[0], "commands first"


def test_a_sql_file_task_needs_its_warehouse_and_a_python_file_its_folder() -> None:
    evaluation, _, config_map = _stack("prod")
    config = parse_stack_config(namespace_values(config_map))
    extended = copy.copy(evaluation)
    extended.resources = dict(evaluation.resources)
    runner = config.job.run_as or ""
    job = _registration(
        "databricks:index/job:Job",
        "report-job",
        {
            "name": "etl-report",
            "runAs": {"servicePrincipalName": runner},
            "tasks": [
                {
                    "taskKey": "report",
                    "sqlTask": {
                        "warehouseId": "wh-1",
                        "file": {"path": "/Workspace/Production/etl-pipeline/r/x.sql"},
                    },
                },
                {
                    "taskKey": "clean",
                    "sparkPythonTask": {"pythonFile": "/Workspace/Production/etl-pipeline/r/c.py"},
                },
            ],
        },
    )
    extended.resources[job.key] = job
    rights = derive_rights(config, extended, production=True)
    seen = {(r.principal, r.target, r.right): r for r in rights}
    warehouse = seen[(runner, "SQL warehouse wh-1", "CAN_USE")]
    assert warehouse.source is Source.ADMIN_ONCE and "runs of job etl-report" in warehouse.used_by
    folder = seen[(runner, "folder /Production/etl-pipeline", "CAN_RUN")]
    assert folder.source is Source.PROGRAM and "runs of job etl-report" in folder.used_by, folder
