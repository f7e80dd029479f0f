"""`python -m cicd.drift` against the minilake emulator (a real HTTP server), on both stacks'
layouts: each stack is published the way a deploy would (tests/drift_layout.py), then edited by
hand the way people do in the browser, and the check must report exactly those edits."""

from __future__ import annotations

import base64
import copy
import http.server
import io
import json
import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound
from databricks.sdk.service import iam
from databricks.sdk.service.jobs import Job, JobRunAs
from databricks.sdk.service.workspace import ImportFormat, Language

from cicd.config import dev_slug, pulumi_config_map
from cicd.drift import main
from cicd.driftcheck.cache import cache_key, cached_evaluate
from cicd.driftcheck.findings import Finding, text_report
from cicd.driftcheck.normalise import normalise_source, same_notebook
from cicd.evaluation import Evaluation
from cicd.releases.lock import LOCK_FILE
from tests import emulator_access, emulator_export, emulator_jobs, emulator_workspace
from tests.conftest import REPO, SandboxProject, to_pulumi_config
from tests.drift_layout import publish, publish_dev_environments, write_workspace_file
from tests.emulator import Emulator
from tests.emulator_pipelines import Pipelines

STACKS = ("staging", "prod")
# The same stacks with notebooks exported as the service rewrites them (tests/emulator_export.py).
NORMALISED = ("staging:normalised-export", "prod:normalised-export")


@dataclass
class Layout:
    """One stack published to the emulator under paths of its own, and a project to check it."""

    stack: str
    project: Path
    client: WorkspaceClient
    evaluation: Evaluation
    job_id: int
    values: dict[str, Any]
    dev_policies: dict[str, str]  # engineer -> their policy's id

    @property
    def root(self) -> str:
        return str(self.values["databricks-cicd:workspaceRoot"])

    @property
    def artifacts(self) -> str:
        return str(self.values["databricks-cicd:artifactStore"]["root"])

    @property
    def live(self) -> str:
        return str(self.values["databricks-cicd:releases"]["live"])

    def run(self, *args: str) -> int:
        return main(
            ["--stack", self.stack, *args],
            project_dir=self.project,
            client_factory=lambda host: self.client,
        )


# The stack files of the one-job schema (tests/data/stacks-v1/, meaning today what they meant):
# one notebook job, so a release of notebooks alone can be kept (the shipped stacks run a wheel).
V1_STACK_FILES = REPO / "tests" / "data" / "stacks-v1"


@pytest.fixture(scope="session")
def v1_releases(built_releases: None) -> None:
    """The releases the v1 stack files keep, on disk as `cicd.release ensure` leaves them."""
    from cicd.config import read_stack_file
    from cicd.releases.restore import ensure_releases

    for stack in STACKS:
        config = read_stack_file(V1_STACK_FILES / f"Pulumi.{stack}.yaml")
        ensure_releases(REPO, config, f"{V1_STACK_FILES.name}/Pulumi.{stack}.yaml")


def _tagged(user: str, tag: str) -> str:
    """The same kind of principal under a name of this layout's own."""
    if "@" in user:
        name, _, domain = user.partition("@")
        return f"{name}-{tag}@{domain}"
    return str(uuid.uuid5(uuid.UUID(user), tag))


def _stack_values(
    stack: str, host: str, store: str | None = None, folder: Path = REPO
) -> dict[str, Any]:
    """The repo's stack file (or the one in `folder`) with its own paths and job name, so tests
    never share objects; `store` swaps the artifact store for a workspace folder or DBFS."""
    document = yaml.safe_load((folder / f"Pulumi.{stack}.yaml").read_text())
    values: dict[str, Any] = copy.deepcopy(document["config"])
    tag = uuid.uuid4().hex[:8]
    values["databricks:host"] = host
    root = values["databricks-cicd:workspaceRoot"]
    values["databricks-cicd:workspaceRoot"] = f"{root}-drift-{tag}"
    values["databricks-cicd:artifactStore"]["root"] += f"/drift-{tag}"
    values["databricks-cicd:job"]["name"] += f"-drift-{tag}"
    for section in ("databricks-cicd:jobs", "databricks-cicd:pipelines"):
        for settings in values.get(section, {}).values():
            settings["name"] += f"-drift-{tag}"
    # Dev policies and clusters carry the pipeline's name and each engineer's: the layout's own,
    # so that no other test's policy or cluster counts as an engineer's here.
    values["databricks-cicd:pipelineName"] = f"etl-drift-{tag}"
    developers = values.get("databricks-cicd:developers")
    if developers:
        developers["engineers"] = [
            {**e, "user": _tagged(e["user"], tag)} for e in developers["engineers"]
        ]
    if store == "workspace":
        values["databricks-cicd:artifactStore"] = {
            "kind": "workspace",
            "root": f"/Shared/etl-artifacts-{tag}",
        }
    elif store == "dbfs":
        values["databricks-cicd:artifactStore"] = {"kind": "dbfs", "root": f"/FileStore/etl-{tag}"}
        # Runtime 15+ refuses DBFS libraries (and the config says so): an older runtime.
        values["databricks-cicd:job"]["cluster"]["sparkVersion"] = "14.3.x-scala2.12"
        if "databricks-cicd:developers" in values:
            values["databricks-cicd:developers"]["defaults"]["sparkVersion"] = "14.3.x-scala2.12"
    return values


NOTEBOOKS_ONLY = "2.0.0"


def _add_notebooks_only_release(project: Path, values: dict[str, Any]) -> None:
    """A release of the live release's notebooks and no library, kept alone and live."""
    live = values["databricks-cicd:releases"]["live"]
    source = project / "dist" / "releases" / live / "notebooks"
    shutil.copytree(source, project / "dist" / "releases" / NOTEBOOKS_ONLY / "notebooks")
    SandboxProject(project).lock(NOTEBOOKS_ONLY)
    values["databricks-cicd:releases"] = {
        "kept": [{"version": NOTEBOOKS_ONLY}],
        "live": NOTEBOOKS_ONLY,
    }


def _project(tmp_path: Path, stack: str, values: dict[str, Any]) -> Path:
    """A copy of the program with the stack file `values` and the kept releases on disk."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO / "__main__.py", project / "__main__.py")
    shutil.copy(REPO / LOCK_FILE, project / LOCK_FILE)
    shutil.copytree(REPO / "dist" / "releases", project / "dist" / "releases")
    (project / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": values}))
    return project


@pytest.fixture
def layout(
    request: pytest.FixtureRequest, emulator: Emulator, built_releases: None, tmp_path: Path
) -> Iterator[Layout]:
    """`stack[:option...]`: `workspace` or `dbfs` (artifact store), `normalised-export` (the
    service's rewrite of exported notebooks), `notebooks-only` (the v1 stack file keeping one
    release without libraries)."""
    emulator_workspace.install(emulator)
    emulator_jobs.install(emulator)
    emulator_access.install(emulator)
    _install_pipelines(emulator)
    stack, *options = str(request.param).split(":")
    store = next((o for o in options if o in ("workspace", "dbfs")), None)
    folder = REPO
    if "notebooks-only" in options:
        request.getfixturevalue("v1_releases")
        folder = V1_STACK_FILES
    values = _stack_values(stack, emulator.url, store, folder)
    project = _project(tmp_path, stack, values)
    if "notebooks-only" in options:
        _add_notebooks_only_release(project, values)
        (project / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": values}))
    if "normalised-export" in options:
        emulator_export.normalise_below(emulator, values["databricks-cicd:workspaceRoot"])
    # The stack file as the drift check reads it, and the program evaluated through the check's
    # own cache in the project (its key digests every input): the check under test reads that
    # evaluation rather than making it again (test_the_evaluation_is_cached_* empties it).
    config = pulumi_config_map(project / f"Pulumi.{stack}.yaml")
    client = emulator.client()
    evaluation, job_id = publish(
        client, config, stack, project_dir=project, evaluator=cached_evaluate
    )
    policies = publish_dev_environments(client, config, stack, project)
    yield Layout(stack, project, client, evaluation, job_id, values, policies)


_PIPELINES: dict[int, Pipelines] = {}


def _install_pipelines(emulator: Emulator) -> Pipelines:
    """The Pipelines API handler, once per emulator (handlers are per session)."""
    if id(emulator) not in _PIPELINES:
        _PIPELINES[id(emulator)] = Pipelines().install(emulator)
    return _PIPELINES[id(emulator)]


def _export(client: WorkspaceClient, path: str) -> bytes:
    content = client.workspace.export(path).content
    return base64.b64decode(content or "")


def _run_json(layout: Layout, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    capsys.readouterr()
    code = layout.run("--json", *args)
    return code, json.loads(capsys.readouterr().out)


def _edit_in_the_ui(client: WorkspaceClient, job_id: int, job: Job) -> None:
    """Save `job`'s edited settings as the job page does: `run_as` is write-only (jobs/get reports
    it as `run_as_user_name`), and an edit in the UI keeps who the job runs as, so it is written
    back with the rest; a bare jobs/reset without it would reset run_as to the job's owner."""
    assert job.settings is not None
    if job.settings.run_as is None and job.run_as_user_name:
        job.settings.run_as = JobRunAs(service_principal_name=job.run_as_user_name)
    client.jobs.reset(job_id, job.settings)


def _plant_six_drifts(layout: Layout) -> dict[str, str]:
    """The six hand edits of the issue; returns the paths they touch."""
    client, live = layout.client, layout.live
    folder = f"{layout.root}/releases/{live}"
    main_notebook = f"{folder}/main"
    edited = _export(client, main_notebook).replace(b"import json", b"import json  # hot fix", 1)
    assert b"# hot fix" in edited, "the entry notebook no longer has the line this test edits"
    client.workspace.import_(
        main_notebook,
        content=base64.b64encode(edited).decode(),
        format=ImportFormat.SOURCE,
        language=Language.PYTHON,
        overwrite=True,
    )
    defaults = f"{folder}/config/defaults.json"
    client.workspace.delete(defaults)
    scratch = f"{folder}/scratch"
    client.workspace.import_(
        scratch,
        content=base64.b64encode(b"# Databricks notebook source\nprint('debug')\n").decode(),
        format=ImportFormat.SOURCE,
        language=Language.PYTHON,
    )
    wheel = f"{layout.artifacts}/releases/{live}/etl_pipeline-{live}-py3-none-any.whl"
    client.files.upload(wheel, io.BytesIO(b"a wheel built on someone's laptop"), overwrite=True)
    job = client.jobs.get(layout.job_id)
    assert job.settings is not None and job.settings.tasks
    settings = job.settings
    settings.timeout_seconds = 60
    main_task = next(t for t in settings.tasks or [] if t.task_key == "main")
    assert main_task.notebook_task is not None
    main_task.notebook_task.notebook_path = scratch
    _edit_in_the_ui(client, layout.job_id, job)
    return {"main": main_notebook, "defaults": defaults, "scratch": scratch, "wheel": wheel}


@pytest.mark.parametrize("layout", [*STACKS, *NORMALISED], indirect=True)
def test_a_stack_as_deployed_has_no_drift(
    layout: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    code = layout.run()
    out = capsys.readouterr().out
    assert code == 0, out
    assert "no drift" in out
    code, report = _run_json(layout, capsys)
    assert (code, report["findings"], report["job_id"]) == (0, [], layout.job_id)


@pytest.mark.parametrize("layout", [*STACKS, *NORMALISED], indirect=True)
def test_six_hand_edits_are_each_reported_and_nothing_else(
    layout: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = _plant_six_drifts(layout)
    code, report = _run_json(layout, capsys)
    assert code == 1
    seen = sorted((f["group"].split(" (")[0], f["kind"], f["path"]) for f in report["findings"])
    release = f"release {layout.live}"
    job = f"job {layout.values['databricks-cicd:job']['name']}"
    assert seen == sorted(
        [
            (release, "changed", paths["main"]),
            (release, "missing", paths["defaults"]),
            (release, "added", paths["scratch"]),
            (release, "changed", paths["wheel"]),
            (job, "differs", "timeout_seconds"),
            (job, "differs", "tasks[main].notebook_task.notebook_path"),
        ]
    ), json.dumps(report["findings"], indent=1)
    by_path = {f["path"]: f for f in report["findings"]}
    assert by_path["timeout_seconds"]["expected"] in (7200, 3600)
    assert by_path["timeout_seconds"]["actual"] == 60
    path_finding = by_path["tasks[main].notebook_task.notebook_path"]
    assert path_finding["expected"] == f"{layout.root}/releases/{layout.live}/main"
    assert path_finding["actual"] == paths["scratch"]

    code = layout.run()
    text = capsys.readouterr().out
    assert code == 1
    for path in paths.values():
        assert path in text, text
    assert "--restore" in text and "pulumi up --refresh" in text


@pytest.mark.parametrize("layout", STACKS, indirect=True)
def test_restore_puts_the_release_files_back_after_a_backup(
    layout: Layout, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    paths = _plant_six_drifts(layout)
    edited_main = _export(layout.client, paths["main"])
    backups = tmp_path / "backups"
    code = layout.run("--restore", "--backup-dir", str(backups))
    out = capsys.readouterr().out
    # The job's drift is left to `pulumi up --refresh`: still reported, so still exit 1.
    assert code == 1, out
    assert "pulumi up --refresh" in out and str(backups) in out
    code, report = _run_json(layout, capsys)
    assert code == 1
    assert sorted(f["path"] for f in report["findings"]) == [
        "tasks[main].notebook_task.notebook_path",
        "timeout_seconds",
    ]
    # Byte-exact: every published file of the live release is back.
    live = f"release-{layout.live}"
    for registration in layout.evaluation.resources.values():
        if registration.parent != live or "path" not in registration.inputs:
            continue
        published = (REPO / registration.inputs["source"]).read_bytes()
        path = registration.inputs["path"]
        if path.startswith("/Volumes/"):
            contents = layout.client.files.download(path).contents
            assert contents is not None
            assert contents.read() == published, path
        else:
            assert _export(layout.client, path) == published, path
    # The backup holds each replaced or removed version, and says which is which.
    (backup,) = list(backups.iterdir())
    manifest = {
        entry["path"]: entry for entry in json.loads((backup / "manifest.json").read_text())
    }
    assert set(manifest) == {paths["main"], paths["scratch"], paths["wheel"]}
    assert (backup / manifest[paths["main"]]["backup"]).read_bytes() == edited_main
    assert manifest[paths["scratch"]]["action"] == "removed"
    assert b"print('debug')" in (backup / manifest[paths["scratch"]]["backup"]).read_bytes()
    wheel_backup = backup / manifest[paths["wheel"]]["backup"]
    assert wheel_backup.read_bytes() == b"a wheel built on someone's laptop"


def test_a_new_backup_folder_never_reuses_an_earlier_one(tmp_path: Path) -> None:
    from cicd.driftcheck.restore import new_backup_folder

    first = new_backup_folder(tmp_path, "prod")
    first.mkdir()
    (first / "kept.py").write_text("an earlier backup")
    second = new_backup_folder(tmp_path, "prod")
    assert second != first and not second.exists()
    assert (first / "kept.py").read_text() == "an earlier backup"


@pytest.mark.parametrize("layout", ["staging:workspace", "staging:dbfs"], indirect=True)
def test_a_replaced_library_is_found_and_restored_in_every_artifact_store(
    layout: Layout, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert layout.run() == 0, capsys.readouterr().out
    live = layout.live
    wheel = f"{layout.artifacts}/releases/{live}/etl_pipeline-{live}-py3-none-any.whl"
    stray = f"{layout.artifacts}/releases/{live}/notes.txt"
    if layout.values["databricks-cicd:artifactStore"]["kind"] == "workspace":
        write_workspace_file(layout.client, wheel, b"patched wheel")
        write_workspace_file(layout.client, stray, b"left here")
    else:
        layout.client.dbfs.upload(wheel, io.BytesIO(b"patched wheel"), overwrite=True)
        layout.client.dbfs.upload(stray, io.BytesIO(b"left here"), overwrite=True)
    code, report = _run_json(layout, capsys)
    assert code == 1
    assert sorted((f["kind"], f["path"]) for f in report["findings"]) == [
        ("added", stray),
        ("changed", wheel),
    ]
    assert layout.run("--restore", "--backup-dir", str(tmp_path)) == 0, capsys.readouterr()
    code, report = _run_json(layout, capsys)
    assert (code, report["findings"]) == (0, [])


@pytest.mark.parametrize("layout", ["prod"], indirect=True)
def test_the_job_is_found_by_name_or_by_id_and_a_renamed_job_is_an_error(
    layout: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    assert layout.run("--job-id", str(layout.job_id)) == 0
    job = layout.client.jobs.get(layout.job_id)
    assert job.settings is not None
    job.settings.name = "renamed in the browser"
    _edit_in_the_ui(layout.client, layout.job_id, job)
    capsys.readouterr()
    assert layout.run() == 2
    assert "no job named" in capsys.readouterr().err
    code, report = _run_json(layout, capsys, "--job-id", str(layout.job_id))
    assert code == 1
    assert [(f["path"], f["actual"]) for f in report["findings"]] == [
        ("name", "renamed in the browser")
    ]


def test_a_release_not_on_disk_is_an_error_naming_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(REPO / "__main__.py", tmp_path / "__main__.py")
    shutil.copy(REPO / LOCK_FILE, tmp_path / LOCK_FILE)
    shutil.copy(REPO / "Pulumi.prod.yaml", tmp_path / "Pulumi.prod.yaml")
    assert main(["--stack", "prod"], project_dir=tmp_path) == 2
    err = capsys.readouterr().err
    assert "dist/releases/1.2.0: release folder not found" in err
    assert "cicd.release ensure --stack prod" in err


@pytest.mark.parametrize("layout", ["prod"], indirect=True)
def test_a_missing_release_folder_is_an_error_naming_it(
    layout: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = f"{layout.root}/releases/1.2.0"
    layout.client.workspace.delete(folder, recursive=True)
    code = layout.run()
    err = capsys.readouterr().err
    assert code == 2
    assert f"release 1.2.0: {folder} does not exist" in err
    assert "pulumi up" in err


@pytest.mark.parametrize("layout", ["prod"], indirect=True)
def test_a_notebook_in_place_of_a_release_folder_is_an_error_naming_it(
    layout: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    """The release folders are found by listing them (no get-status first): a listing of a
    notebook answers the notebook itself (tests/emulator_workspace.py stands for the service),
    which is no release folder, not a folder holding one object nobody published."""
    folder = f"{layout.root}/releases/1.2.0"
    layout.client.workspace.delete(folder, recursive=True)
    layout.client.workspace.import_(
        folder,
        content=base64.b64encode(b"print('not a folder')\n").decode(),
        format=ImportFormat.SOURCE,
        language=Language.PYTHON,
    )
    (listed,) = layout.client.workspace.list(folder)
    assert listed.path == folder, listed
    code = layout.run()
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"release 1.2.0: {folder} does not exist" in err


@pytest.mark.parametrize("layout", ["staging"], indirect=True)
def test_a_job_setting_or_grant_changed_by_hand_is_reported(
    layout: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    from databricks.sdk.service import iam

    client = layout.client
    job = client.jobs.get(layout.job_id)
    assert job.settings is not None and job.settings.tags is not None
    job.settings.tags["owner"] = "someone"
    _edit_in_the_ui(client, layout.job_id, job)
    client.permissions.update(
        "jobs",
        str(layout.job_id),
        access_control_list=[
            iam.AccessControlRequest(
                user_name="intern@example.com", permission_level=iam.PermissionLevel.CAN_MANAGE
            )
        ],
    )
    code, report = _run_json(layout, capsys)
    assert code == 1
    seen = {(f["kind"], f["path"], str(f["actual"])) for f in report["findings"]}
    assert ("differs", "tags.owner", "someone") in seen
    assert (
        "granted-by-hand",
        f"job main ({layout.job_id}): userName intern@example.com",
        "CAN_MANAGE",
    ) in seen
    assert len(seen) == 2, seen


@pytest.mark.parametrize("layout", ["prod"], indirect=True)
def test_a_grant_inherited_from_the_parent_folder_beyond_the_programs_is_reported(
    layout: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    """`CAN_MANAGE` for `users` on `/Production` reaches every release below it; a grant the
    program makes anyway (the admin group's CAN_MANAGE) or a lower one is no finding."""
    client = layout.client
    parent = layout.root.rsplit("/", 1)[0]
    parent_id = str(client.workspace.get_status(parent).object_id)
    runner = layout.values["databricks-cicd:job"]["runAs"]
    try:
        client.permissions.set(
            "directories",
            parent_id,
            access_control_list=[
                iam.AccessControlRequest(
                    group_name="users", permission_level=iam.PermissionLevel.CAN_MANAGE
                ),
                iam.AccessControlRequest(
                    group_name="etl-admins", permission_level=iam.PermissionLevel.CAN_MANAGE
                ),
                iam.AccessControlRequest(
                    service_principal_name=runner, permission_level=iam.PermissionLevel.CAN_READ
                ),
            ],
        )
        code, report = _run_json(layout, capsys)
        text_code = layout.run()
        text = capsys.readouterr().out
    finally:
        client.permissions.set("directories", parent_id, access_control_list=[])
    assert code == 1, report
    assert [(f["kind"], f["path"], f["expected"], f["actual"]) for f in report["findings"]] == [
        ("inherited", f"folder {layout.root}: groupName users", None, "CAN_MANAGE")
    ]
    assert f"inherited from /directories/{parent_id}" in report["findings"][0]["detail"]
    assert text_code == 1 and "inherited" in text and "parent folder" in text, text
    assert layout.run() == 0, capsys.readouterr().out


def _group_with(client: WorkspaceClient, name: str, user: str) -> None:
    users = list(client.users.list(filter=f'userName eq "{user}"'))
    member = users[0] if users else client.users.create(user_name=user)
    client.groups.create(display_name=name, members=[iam.ComplexValue(value=member.id)])


@pytest.mark.parametrize("layout", ["staging"], indirect=True)
def test_another_policy_an_engineer_can_use_and_a_cluster_off_their_policy_are_reported(
    layout: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    """Personal Compute granted to all users, a team policy granted to a group one engineer is
    in, an engineer's dev cluster moved onto Personal Compute and a cluster another engineer
    made without any policy: each is reported, naming the engineer."""
    from databricks.sdk.service import compute

    client = layout.client
    tag = layout.values["databricks-cicd:pipelineName"].rsplit("-", 1)[-1]
    alice, bob, robot = (
        e["user"] for e in layout.values["databricks-cicd:developers"]["engineers"]
    )
    assert layout.run() == 0, capsys.readouterr().out
    personal = client.cluster_policies.create(name=f"Personal Compute {tag}", definition="{}")
    team = client.cluster_policies.create(name=f"Team {tag}", definition="{}")
    assert personal.policy_id and team.policy_id
    _group_with(client, f"team-{tag}", bob)
    client.permissions.set(
        "cluster-policies",
        personal.policy_id,
        access_control_list=[
            iam.AccessControlRequest(
                group_name="users", permission_level=iam.PermissionLevel.CAN_USE
            )
        ],
    )
    client.permissions.set(
        "cluster-policies",
        team.policy_id,
        access_control_list=[
            iam.AccessControlRequest(
                group_name=f"team-{tag}", permission_level=iam.PermissionLevel.CAN_USE
            )
        ],
    )
    pipeline = layout.values["databricks-cicd:pipelineName"]
    (alices,) = [
        c for c in client.clusters.list() if c.cluster_name == f"{pipeline}-dev-{dev_slug(alice)}"
    ]
    assert alices.cluster_id
    client.clusters.update(
        alices.cluster_id,
        "policy_id",
        cluster=compute.UpdateClusterResource(policy_id=personal.policy_id),
    )
    # What the service records for a cluster the robot engineer created itself, with no policy.
    made = client.clusters.create(
        cluster_name=f"scratch-{tag}", spark_version="15.4.x-scala2.12", num_workers=8
    ).cluster_id
    assert made
    client.api_client.do(
        "POST", "/api/2.1/clusters/change-owner", body={"cluster_id": made, "owner_username": robot}
    )
    try:
        code, report = _run_json(layout, capsys)
    finally:
        client.clusters.permanent_delete(made)
        client.clusters.update(
            alices.cluster_id,
            "policy_id",
            cluster=compute.UpdateClusterResource(policy_id=layout.dev_policies[alice]),
        )
        client.cluster_policies.delete(personal.policy_id)
        client.cluster_policies.delete(team.policy_id)
    assert code == 1
    seen = sorted((f["kind"], f["path"], f["actual"]) for f in report["findings"])
    personal_label = f"cluster policy Personal Compute {tag} ({personal.policy_id})"
    assert seen == sorted(
        [
            ("other-policy", f"{personal_label}: {alice}", f"Personal Compute {tag}"),
            ("other-policy", f"{personal_label}: {bob}", f"Personal Compute {tag}"),
            ("other-policy", f"{personal_label}: {robot}", f"Personal Compute {tag}"),
            ("other-policy", f"cluster policy Team {tag} ({team.policy_id}): {bob}", f"Team {tag}"),
            (
                "off-policy",
                f"cluster {pipeline}-dev-{dev_slug(alice)} ({alices.cluster_id}): {alice}",
                f"Personal Compute {tag}",
            ),
            ("off-policy", f"cluster scratch-{tag} ({made}): {robot}", "no policy"),
        ]
    ), json.dumps(report["findings"], indent=1)
    details = {f["path"]: f["detail"] for f in report["findings"]}
    assert (
        f"granted to group team-{tag}"
        in details[f"cluster policy Team {tag} ({team.policy_id}): {bob}"]
    )
    assert "granted to group users" in details[f"{personal_label}: {alice}"]
    # Everything put back: clean again.
    assert layout.run() == 0, capsys.readouterr().out


@pytest.mark.parametrize("layout", ["staging"], indirect=True)
def test_what_a_read_only_identity_cannot_read_is_reported_unchecked(
    layout: Layout, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """Reading grants needs CAN_MANAGE and only an admin sees every policy and cluster: the
    read-only principal's run says what it could not check, never reports a clean stack."""
    reader = WorkspaceClient(host=emulator.url, token=emulator_access.READ_ONLY_TOKEN)
    capsys.readouterr()
    code = main(
        ["--stack", "staging", "--json"],
        project_dir=layout.project,
        client_factory=lambda h: reader,
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 1, report
    unchecked = {(f["group"], f["path"]) for f in report["findings"] if f["kind"] == "unchecked"}
    assert ("permissions", f"job main ({layout.job_id})") in unchecked, unchecked
    assert ("engineers", "cluster policies and clusters") in unchecked, unchecked
    assert all(f["kind"] == "unchecked" for f in report["findings"]), report["findings"]
    assert all("CAN_MANAGE" in f["detail"] or "admin" in f["detail"] for f in report["findings"])


@pytest.mark.parametrize("layout", ["staging"], indirect=True)
def test_no_credentials_is_an_error_with_the_fix(
    layout: Layout,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in (
        "DATABRICKS_TOKEN",
        "DATABRICKS_CLIENT_ID",
        "DATABRICKS_CLIENT_SECRET",
        "DATABRICKS_CONFIG_PROFILE",
        "DATABRICKS_HOST",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-such.cfg"))
    # The tool's own client factory (the SDK's unified authentication) and the stack's host.
    code = main(["--stack", "staging"], project_dir=layout.project)
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"no usable Databricks credentials for {layout.values['databricks:host']}" in err
    assert "DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET" in err


@pytest.mark.parametrize("layout", ["prod"], indirect=True)
def test_an_unreachable_host_is_an_error_naming_it(
    layout: Layout, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    stack_file = layout.project / "Pulumi.prod.yaml"
    document = yaml.safe_load(stack_file.read_text())
    document["config"]["databricks:host"] = closed
    stack_file.write_text(yaml.safe_dump(document))
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-any")
    monkeypatch.setattr("cicd.jobs.stack_outputs.REACHABLE_WITHIN_SECONDS", 1.0)
    code = main(["--stack", "prod"], project_dir=layout.project)
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"cannot reach the workspace {closed}" in err


class _RefusesEveryToken(http.server.BaseHTTPRequestHandler):
    """What a workspace answers a revoked or wrong token: 401 with its JSON error body."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's method name)
        if self.path.startswith("/.well-known/"):
            self.send_response(404)
            self.end_headers()
            return
        body = json.dumps(
            {"error_code": "UNAUTHENTICATED", "message": "Invalid access token."}
        ).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_bad_credentials_are_an_error_with_the_fix(
    built_releases: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RefusesEveryToken)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host = f"http://127.0.0.1:{server.server_address[1]}"
    project = _project(tmp_path, "prod", _stack_values("prod", host))
    try:
        code = main(
            ["--stack", "prod"],
            project_dir=project,
            client_factory=lambda _host: WorkspaceClient(host=host, token="dapi-revoked"),
        )
    finally:
        server.shutdown()
    err = capsys.readouterr().err
    assert code == 2, err
    assert "authentication to" in err and "DATABRICKS_CLIENT_SECRET" in err


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stak", "prod"]) == 2
    assert main(["--stack", "no-such-stack"], project_dir=REPO) == 2
    assert "Pulumi.no-such-stack.yaml" in capsys.readouterr().err


def _published(layout: Layout, path: str) -> bytes:
    (registration,) = [
        r for r in layout.evaluation.resources.values() if r.inputs.get("path") == path
    ]
    return (layout.project / registration.inputs["source"]).read_bytes()


@pytest.mark.parametrize("layout", NORMALISED, indirect=True)
def test_the_export_handler_rewrites_every_notebook_it_exports(layout: Layout) -> None:
    """Without this, the normalised-export runs above would prove nothing the exact export
    does not: every published notebook comes back in another form than it was imported."""
    notebooks = [
        (r.inputs["path"], r.inputs["language"])
        for r in layout.evaluation.of_type("databricks:index/notebook:Notebook")
        if r.inputs["path"].startswith(f"{layout.root}/releases/")
    ]
    assert len(notebooks) >= 3
    for path, language in notebooks:
        exported, published = _export(layout.client, path), _published(layout, path)
        assert exported != published, f"{path} exported as imported"
        assert same_notebook(exported, published, language, "SOURCE"), (path, exported[:200])


@pytest.mark.parametrize(
    "layout", ["staging:notebooks-only", "prod:notebooks-only:normalised-export"], indirect=True
)
def test_a_release_without_a_library_is_checked_and_has_no_drift(
    layout: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    """No artifact folder (nothing to upload) and `libraries: []`, which the service leaves out
    of the job it returns: neither is drift, and the artifact store is still checked."""
    (job,) = layout.evaluation.of_type("databricks:index/job:Job")
    assert job.inputs["tasks"][0]["libraries"] == [], job.inputs["tasks"][0]
    settings = layout.client.jobs.get(layout.job_id).settings
    assert settings is not None and settings.tasks is not None
    assert not settings.tasks[0].libraries, "the emulator returns the empty library list"
    artifacts = f"{layout.artifacts}/releases/{NOTEBOOKS_ONLY}"
    with pytest.raises(NotFound):  # nothing was uploaded: the folder does not exist
        list(layout.client.files.list_directory_contents(artifacts))
    code = layout.run()
    out = capsys.readouterr()
    assert code == 0, out
    assert "no drift" in out.out
    stray = f"{artifacts}/etl_pipeline-9.9.9-py3-none-any.whl"
    layout.client.files.upload(stray, io.BytesIO(b"a wheel nobody published"), overwrite=True)
    code, report = _run_json(layout, capsys)
    assert code == 1
    assert [(f["kind"], f["path"]) for f in report["findings"]] == [("added", stray)]


def test_empty_settings_the_service_leaves_out_are_not_drift() -> None:
    from cicd.driftcheck.job import compare_job

    expected = {
        "name": "j",
        "tags": {},
        "tasks": [
            {
                "task_key": "main",
                "libraries": [],
                "retry_on_timeout": False,
                "max_retries": 0,
                "notebook_task": {"notebook_path": "/r/main", "base_parameters": {}},
            }
        ],
    }
    returned = {"name": "j", "tasks": [{"task_key": "main", "notebook_task": {}}]}
    returned["tasks"][0]["notebook_task"]["notebook_path"] = "/r/main"
    assert compare_job(expected, returned, 1) == []
    for key, value in (
        ("retry_on_timeout", True),
        ("max_retries", 3),
        ("libraries", [{"whl": "x"}]),
    ):
        edited = copy.deepcopy(returned)
        edited["tasks"][0][key] = value
        (finding,) = compare_job(expected, edited, 1)
        assert (finding.path, finding.actual) == (f"tasks[main].{key}", value), finding


def test_run_as_is_who_the_service_says_the_job_runs_as() -> None:
    from cicd.driftcheck.job import effective_run_as

    sp = {"service_principal_name": "5e0c7a53-2f7b-4c5e-9d0a-1b2c3d4e5f60"}
    principal = sp["service_principal_name"]
    assert effective_run_as(sp, principal) == sp
    assert effective_run_as(None, principal) == sp  # write-only run_as: an application id
    assert effective_run_as(None, "someone@example.com") == {"user_name": "someone@example.com"}
    assert effective_run_as(sp, None) == sp
    # run_as_user_name is what the job runs as in every case: a stale settings.run_as loses.
    assert effective_run_as(sp, "someone@example.com") == {"user_name": "someone@example.com"}
    assert effective_run_as(None, None) is None


@pytest.mark.parametrize("layout", ["prod"], indirect=True)
def test_a_run_as_changed_in_the_ui_is_reported(
    layout: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    runner = layout.values["databricks-cicd:job"]["runAs"]
    deployer = layout.values["databricks-cicd:access"]["deployIdentity"]
    assert layout.client.jobs.get(layout.job_id).run_as_user_name == runner
    assert layout.run() == 0, capsys.readouterr()
    # The job page's "Run as": a person picks themselves (the page saves the whole settings;
    # minilake's jobs/update would also reset the job's name to its model default).
    job = layout.client.jobs.get(layout.job_id)
    assert job.settings is not None
    job.settings.run_as = JobRunAs(user_name="oncall@example.com")
    layout.client.jobs.reset(layout.job_id, job.settings)
    assert layout.client.jobs.get(layout.job_id).run_as_user_name == "oncall@example.com"
    code, report = _run_json(layout, capsys)
    assert code == 1
    assert [(f["path"], f["expected"], f["actual"]) for f in report["findings"]] == [
        ("run_as", {"service_principal_name": runner}, {"user_name": "oncall@example.com"})
    ], report["findings"]
    # Run as removed: the job runs as its owner (the deploy identity holds IS_OWNER).
    job.settings.run_as = None
    layout.client.jobs.reset(layout.job_id, job.settings)
    code, report = _run_json(layout, capsys)
    assert code == 1
    assert [(f["path"], f["actual"]) for f in report["findings"]] == [
        ("run_as", {"service_principal_name": deployer})
    ], report["findings"]


def _release_objects(layout: Layout) -> list[str]:
    return [
        str(r.inputs["path"])
        for r in layout.evaluation.resources.values()
        if (r.parent or "").startswith("release-") and "source" in r.inputs
    ]


# Requests of a drift check of the shipped prod stack beyond one per release object (issue 23
# allows 60), as measured: per release (2) its folders listed (7 each, the release folder itself
# included: no get-status first) and its artifact folder (1 each); per job (2) a jobs/list by
# name and a jobs/get; the pipeline's list by name and get; each permission list read once
# (the folder, 2 jobs, the pipeline: 4) and the folder's get-status for its id. 34 before the
# permission lists were read once and the release folders listed without a get-status.
FIXED_REQUESTS_PROD = 27


def _requests_seen(requests: Any) -> str:
    return "; ".join(f"{m} {p} x{n}" for (m, p), n in sorted(requests.seen.items()))


def _permission_objects(layout: Layout) -> int:
    return sum(1 for r in layout.evaluation.resources.values() if r.type.endswith(":Permissions"))


@pytest.mark.parametrize("layout", ["prod"], indirect=True)
def test_requests_one_per_object_and_with_since_only_what_changed(
    layout: Layout, emulator: Emulator, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Issue 23's request budget, counted by the emulator: a first check reads each release
    object once (+ FIXED_REQUESTS_PROD other requests at most, the measured budget); with
    --since the last report, nothing that is provably unchanged is read again."""
    requests = emulator.requests
    objects = _release_objects(layout)
    libraries = [p for p in objects if p.startswith("/Volumes/")]
    assert len(objects) >= 10 and len(libraries) == 2, objects
    permissions = _permission_objects(layout)
    assert permissions == 4, "the folder, two jobs and the pipeline carry the program's grants"

    def reads() -> tuple[int, int]:
        return (
            requests.matching("GET", "/api/2.0/workspace/export"),
            requests.matching("GET", "/api/2.0/fs/files/"),
        )

    requests.reset()
    code, report = _run_json(layout, capsys)
    first = requests.total
    assert code == 0, report["findings"]
    assert reads() == (len(objects) - len(libraries), len(libraries)), requests.seen
    assert first - len(objects) <= FIXED_REQUESTS_PROD, (
        f"{first} requests for {len(objects)} objects: {first - len(objects)} beyond one per"
        f" object, budget {FIXED_REQUESTS_PROD}; seen: {_requests_seen(requests)}"
    )
    # Each object's permission list is read once for both its direct and inherited grants.
    assert requests.matching("GET", "/api/2.0/permissions/") == permissions, _requests_seen(
        requests
    )
    assert requests.matching("GET", "/api/2.0/workspace/get-status") == 1, _requests_seen(requests)
    assert sorted(report["objects"]) == sorted(objects)
    since = tmp_path / "report.json"
    since.write_text(json.dumps(report))

    requests.reset()
    code, report = _run_json(layout, capsys, "--since", str(since))
    assert code == 0, report["findings"]
    assert reads() == (0, 0), requests.seen
    assert requests.total == first - len(objects), requests.seen
    since.write_text(json.dumps(report))

    notebook = f"{layout.root}/releases/{layout.live}/main"
    edited = _export(layout.client, notebook) + b"\nprint('hot fix')\n"
    layout.client.workspace.import_(
        notebook,
        content=base64.b64encode(edited).decode(),
        format=ImportFormat.SOURCE,
        language=Language.PYTHON,
        overwrite=True,
    )
    wheel = next(p for p in libraries if f"/{layout.live}/" in p)
    layout.client.files.upload(wheel, io.BytesIO(b"patched"), overwrite=True)
    requests.reset()
    code, report = _run_json(layout, capsys, "--since", str(since))
    assert code == 1
    assert reads() == (1, 1), requests.seen
    assert requests.total == first - len(objects) + 2, requests.seen
    assert sorted((f["kind"], f["path"]) for f in report["findings"]) == [
        ("changed", notebook),
        ("changed", wheel),
    ]
    # A drifted object stays reported while it is unchanged, without being read again.
    since.write_text(json.dumps(report))
    requests.reset()
    code, again = _run_json(layout, capsys, "--since", str(since))
    assert (code, reads()) == (1, (0, 0))
    assert again["findings"] == report["findings"]


@pytest.mark.parametrize("layout", ["staging"], indirect=True)
def test_a_since_report_of_another_stack_or_unreadable_is_an_error(
    layout: Layout, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    for text, message in (
        ("{not json", "not a JSON report"),
        (json.dumps({"stack": "prod", "host": layout.values["databricks:host"]}), "'prod'"),
        (
            json.dumps(
                {
                    "stack": "staging",
                    "host": layout.values["databricks:host"],
                    "objects": {"/x": {"stamp": "s"}},
                }
            ),
            "malformed object record",
        ),
    ):
        report.write_text(text)
        capsys.readouterr()
        assert layout.run("--since", str(report)) == 2
        err = capsys.readouterr().err
        assert f"--since {report}" in err and message in err, err
    assert layout.run("--since", str(tmp_path / "none.json")) == 2
    assert "cannot read it" in capsys.readouterr().err


@pytest.mark.parametrize("layout", ["staging"], indirect=True)
def test_the_evaluation_is_cached_per_stack_config_and_lock(
    layout: Layout, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import cicd.driftcheck.cache as cache

    evaluations = []
    real = cache.evaluate

    def counted(*args: Any) -> Any:
        evaluations.append(args[1])
        return real(*args)

    monkeypatch.setattr(cache, "evaluate", counted)
    shutil.rmtree(layout.project / cache.CACHE_DIR)  # what laying it out left
    assert layout.run() == 0
    assert layout.run() == 0
    assert evaluations == ["staging"], "the second check evaluated the program again"
    (entry,) = (layout.project / cache.CACHE_DIR).glob("staging-*.json")
    # A changed stack file is a new evaluation, and the old entry goes.
    stack_file = layout.project / "Pulumi.staging.yaml"
    document = yaml.safe_load(stack_file.read_text())
    document["config"]["databricks-cicd:job"]["timeoutSeconds"] = 1800
    stack_file.write_text(yaml.safe_dump(document))
    code, report = _run_json(layout, capsys)
    assert code == 1 and evaluations == ["staging", "staging"]
    assert "timeout_seconds" in {f["path"] for f in report["findings"]}, report["findings"]
    assert [p.name for p in (layout.project / cache.CACHE_DIR).glob("staging-*.json")] != [
        entry.name
    ]
    # A cache entry that is not JSON (a crash while writing it) is evaluated afresh.
    for stale in (layout.project / cache.CACHE_DIR).glob("staging-*.json"):
        stale.write_text("{")
    assert layout.run("--json") == 1
    assert len(evaluations) == 3


# --------------------------------------------------------------------------------------------
# Without a server: the notebook normalisation and the report's cap


def test_the_evaluation_key_covers_the_folders_the_program_reads_and_nothing_else(
    sandbox: SandboxProject, values: dict[str, Any]
) -> None:
    """A dev push (dist/dev/) or a release no stack keeps leaves the cached evaluation valid; a
    file changed in any kept release's folder, in dist/ or published elsewhere, does not."""
    sandbox.add_release("1.0.0")
    sandbox.add_release("2.0.0")
    (sandbox.root / "published").mkdir()
    shutil.move(sandbox.root / "dist/releases/2.0.0", sandbox.root / "published/2.0.0")
    sandbox.add_release("3.0.0")
    shutil.move(sandbox.root / "dist/releases/3.0.0", sandbox.root / "releases/3.0.0")
    sandbox.add_release("0.9.0")
    values["releases"] = {
        "kept": [
            {"version": "1.0.0"},
            {"version": "2.0.0", "source": "published/2.0.0"},
            {"version": "3.0.0"},  # where `cicd.release publish` keeps a release: releases/<v>
        ],
        "live": "1.0.0",
    }
    config = to_pulumi_config(values)
    key = cache_key(config, "prod", sandbox.root)

    dev_build = sandbox.root / "dist/dev/alice/etl_pipeline-0.0.0.dev1-py3-none-any.whl"
    dev_build.parent.mkdir(parents=True)
    dev_build.write_bytes(b"an engineer's dev build")
    (sandbox.root / "dist/releases/0.9.0/notebooks/main.py").write_text("# not kept\n")
    assert cache_key(config, "prod", sandbox.root) == key, "a file the program never reads"

    for changed in (
        "dist/releases/1.0.0/notebooks/main.py",
        "published/2.0.0/notebooks/main.py",
        "releases/3.0.0/notebooks/main.py",
    ):
        path = sandbox.root / changed
        path.write_text(path.read_text() + "# edited\n")
        new = cache_key(config, "prod", sandbox.root)
        assert new != key, f"{changed} changed and the evaluation's key did not"
        key = new
    # A config the program would refuse still has a key (the evaluation reports the problem).
    assert cache_key({"databricks-cicd:releases": "{"}, "prod", sandbox.root) != key


def test_the_json_report_stays_json_when_a_file_is_named_like_a_secret(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A release notebook `rotate_token.py` is a key of the report's `objects`: redaction hides
    the secrets of the findings and leaves the document whole, so `--since` can read it back."""
    import argparse
    import sys
    from types import SimpleNamespace

    from cicd.drift import _Redacting, _report
    from cicd.driftcheck.releases import Record

    path = "/Production/etl/releases/1.1.0/jobs/rotate_token"
    record = Record("1700000000000:42", "sha256:" + "a" * 64, "sha256:" + "a" * 64, True)
    leaked = Finding("job etl", "differs", "parameters.api_token", "hunter2-long", "hunter3-long")
    result = SimpleNamespace(findings=[leaked], job_id=7, records={path: record})
    args = argparse.Namespace(json=True, stack="prod")
    _report(args, "https://h.example.com", result, None, _Redacting(sys.stdout))  # type: ignore[arg-type]
    out = capsys.readouterr().out
    report = json.loads(out)
    assert report["objects"][path] == record.__dict__, report["objects"]
    assert "hunter" not in out, out
    assert report["findings"][0]["actual"] == "[redacted: its key names a secret]", report


def test_an_unchanged_round_trip_through_the_services_rewrites_is_no_drift() -> None:
    """What the service itself changes on export (normalise.py): line endings, the final
    newline, blank lines around cell separators. Checked on every notebook the repo publishes."""
    notebooks = sorted((REPO / "pipeline" / "notebooks").rglob("*.py")) + sorted(
        (REPO / "pipeline" / "notebooks").rglob("*.sql")
    )
    assert len(notebooks) >= 3
    for path in notebooks:
        published = path.read_bytes()
        language = "SQL" if path.suffix == ".sql" else "PYTHON"
        marker = ("-- " if language == "SQL" else "# ").encode() + b"COMMAND ----------"
        rewrites = [
            published.replace(b"\n", b"\r\n"),
            published.rstrip(b"\n"),
            published + b"\n",
            published.replace(b"\n\n" + marker + b"\n\n", b"\n" + marker + b"\n"),
        ]
        for exported in rewrites:
            assert same_notebook(exported, published, language, "SOURCE"), (path, exported[:80])
        edited = published.replace(b"\n", b"\nx = 1\n", 1)
        assert not same_notebook(edited, published, language, "SOURCE"), path
        assert not same_notebook(published + b" ", published, language, "SOURCE"), path


def test_normalisation_keeps_everything_but_blank_lines_at_the_separators() -> None:
    source = b"# Databricks notebook source\na = 1\n\n\n# COMMAND ----------\n  \nb = 2\n"
    assert normalise_source(source, "PYTHON") == (
        b"# Databricks notebook source\na = 1\n\n# COMMAND ----------\n\n  \nb = 2"
    )


def test_a_jupyter_notebook_is_compared_by_its_cells() -> None:
    published = json.dumps(
        {"cells": [{"cell_type": "code", "source": ["a = 1\n", "b = 2"]}], "metadata": {}}
    ).encode()
    exported = json.dumps(
        {"cells": [{"cell_type": "code", "source": "a = 1\nb = 2", "outputs": []}], "nbformat": 4}
    ).encode()
    assert same_notebook(exported, published, "PYTHON", "JUPYTER")
    assert not same_notebook(exported.replace(b"b = 2", b"b = 3"), published, "PYTHON", "JUPYTER")


def test_the_text_report_is_grouped_and_capped() -> None:
    findings = [Finding("release 1.0.0", "changed", f"/r/1.0.0/n{i}") for i in range(15)] + [
        Finding("job j (id 1)", "differs", f"tags.k{i}", "a", "b") for i in range(10)
    ]
    lines = text_report(findings)
    assert lines[0] == "release 1.0.0:" and "job j (id 1):" in lines
    assert sum(1 for line in lines if line.startswith("  ")) == 20
    assert lines[-1] == "and 5 more (--json lists every finding)"
    assert "program a, workspace b" in "\n".join(lines)


def test_write_helper_creates_a_workspace_file(emulator: Emulator) -> None:
    client = emulator.client()
    path = f"/Shared/drift-helper-{uuid.uuid4().hex[:8]}/a.json"
    write_workspace_file(client, path, b"{}")
    (info,) = list(client.workspace.list(path.rsplit("/", 1)[0]))
    assert info.object_type is not None and info.object_type.value == "FILE"


@pytest.mark.parametrize("layout", ["prod"], indirect=True)
def test_every_job_and_pipeline_is_read_back_and_its_hand_edits_reported(
    layout: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    """The serverless job and the pipeline are checked like the main job: a hand edit of the
    pipeline's source, of the second job's notebook, and a grant on the pipeline are each found,
    named by key."""
    from databricks.sdk.service import iam

    client = layout.client
    pipeline_name = layout.values["databricks-cicd:pipelines"]["orders_bronze"]["name"]
    (status,) = list(client.pipelines.list_pipelines(filter=f"name LIKE '{pipeline_name}'"))
    pipeline_id = str(status.pipeline_id)
    pipeline = client.pipelines.get(pipeline_id)
    assert pipeline.spec is not None and pipeline.spec.libraries
    body = pipeline.spec.as_dict()
    body["libraries"] = [{"glob": {"include": "/Workspace/Users/someone/scratch/**"}}]
    # An edit in the UI keeps who the pipeline runs as (run_as is write-only, as for jobs).
    body["run_as"] = {"service_principal_name": pipeline.run_as_user_name}
    client.api_client.do("PUT", f"/api/2.0/pipelines/{pipeline_id}", body=body)
    client.permissions.update(
        "pipelines",
        pipeline_id,
        access_control_list=[
            iam.AccessControlRequest(
                user_name="intern@example.com", permission_level=iam.PermissionLevel.CAN_MANAGE
            )
        ],
    )
    quality_name = layout.values["databricks-cicd:jobs"]["orders_quality"]["name"]
    (quality,) = [
        j
        for j in client.jobs.list(name=quality_name)
        if j.settings and j.settings.name == quality_name
    ]
    assert quality.job_id is not None
    job = client.jobs.get(quality.job_id)
    assert job.settings is not None and job.settings.tasks
    task = next(t for t in job.settings.tasks if t.task_key == "quality")
    assert task.notebook_task is not None
    task.notebook_task.notebook_path = "/Users/someone/scratch"
    _edit_in_the_ui(client, quality.job_id, job)

    code, report = _run_json(layout, capsys)
    assert code == 1, report
    seen = sorted((f["group"].split(" (")[0], f["path"]) for f in report["findings"])
    assert seen == sorted(
        [
            (f"pipeline orders_bronze {pipeline_name}", "libraries"),
            (f"job orders_quality {quality_name}", "tasks[quality].notebook_task.notebook_path"),
            ("permissions", f"pipeline orders_bronze ({pipeline_id}): userName intern@example.com"),
        ]
    ), json.dumps(report["findings"], indent=1)


# ------------------------------------------------------------------------------------------
# Secrets added by hand never reach the report (issue 20, item 7)

PLANTED_SECRETS = {
    # Under a key naming a secret, not shaped like anything: only the key rule can hide it.
    "env": "correct-horse-battery-staple-42",
    # A job parameter added in the UI, named like a secret.
    "parameter": "hunter2-plus-some-more-letters",
    # Token-shaped, under a harmless key: only the shape rule can hide it.
    "tag": "dapi" + "4f1c9e2b7a3d8c6f" * 2,
}


def _plant_secrets_as_in_the_ui(layout: Layout) -> None:
    from databricks.sdk.service.jobs import JobParameterDefinition

    job = layout.client.jobs.get(layout.job_id)
    settings = job.settings
    assert settings is not None and settings.job_clusters and settings.tags is not None
    cluster = settings.job_clusters[0].new_cluster
    assert cluster is not None
    cluster.spark_env_vars = {
        **(cluster.spark_env_vars or {}),
        "DB_PASSWORD": PLANTED_SECRETS["env"],
    }
    settings.parameters = [
        JobParameterDefinition(name="api_token", default=PLANTED_SECRETS["parameter"])
    ]
    settings.tags["note"] = f"temporary {PLANTED_SECRETS['tag']}"
    _edit_in_the_ui(layout.client, layout.job_id, job)


def _any_part_of_a_secret(text: str) -> list[str]:
    """Every planted secret of which some 6-character piece appears in `text`."""
    return [
        name
        for name, secret in PLANTED_SECRETS.items()
        if any(secret[i : i + 6] in text for i in range(len(secret) - 5))
    ]


def _issue_body(tmp_path: Path, report: str, status: str = "drift") -> str:
    """The issue body as drift.yml's report job builds it, by running that job's own script
    with bash, and a `gh` that records the body it is given instead of calling GitHub."""
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "drift.yml").read_text())
    script = workflow["jobs"]["report"]["steps"][0]["run"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    recorded = tmp_path / "issue-body.md"
    gh = bin_dir / "gh"
    gh.write_text(
        "#!/usr/bin/env bash\n"
        "# Stands in for the GitHub CLI: no open issue, and a created one's body is kept.\n"
        'while [ $# -gt 0 ]; do\n  if [ "$1" = --body-file ]; then cp "$2" '
        f'"{recorded}"; fi\n  shift\ndone\n'
    )
    gh.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "RUN_URL": "https://github.com/o/r/actions/runs/1",
        "STAGING_STATUS": status,
        "STAGING_REPORT": report,
        "STAGING_PREVIEW": "success",
        "PROD_STATUS": "clean",
        "PROD_REPORT": "",
        "PROD_PREVIEW": "success",
    }
    done = subprocess.run(
        ["bash", "-e", "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1, f"drift is reported as a failure: {done.stdout}{done.stderr}"
    return recorded.read_text()


@pytest.mark.parametrize("layout", ["staging"], indirect=True)
def test_a_secret_added_by_hand_is_in_no_report_nor_the_issue(
    layout: Layout, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _plant_secrets_as_in_the_ui(layout)
    capsys.readouterr()
    assert layout.run() == 1
    text, errors = capsys.readouterr()
    code, report = _run_json(layout, capsys)
    assert code == 1
    raw_json = json.dumps(report)
    # Found, and said where: a reviewer learns that a secret sits in the job, not what it is.
    assert "spark_env_vars.DB_PASSWORD" in text and "tags.note" in text, text
    paths = {f["path"] for f in report["findings"]}
    assert "parameters" in paths and "tags.note" in paths, paths
    assert "[redacted: " in text and "[redacted: " in raw_json
    body = _issue_body(tmp_path, text + errors)
    assert "spark_env_vars.DB_PASSWORD" in body, body
    for where, shown in (("text report", text + errors), ("JSON", raw_json), ("issue", body)):
        assert _any_part_of_a_secret(shown) == [], f"{where} shows a planted secret:\n{shown}"


@pytest.mark.parametrize("layout", ["staging"], indirect=True)
def test_a_backup_folder_that_cannot_be_made_is_named_and_nothing_is_restored(
    layout: Layout, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    paths = _plant_six_drifts(layout)
    edited_main = _export(layout.client, paths["main"])
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the backup folder's parent should be")
    code = layout.run("--restore", "--backup-dir", str(blocker / "backups"))
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"cannot create the backup folder {blocker / 'backups'}" in err, err
    assert "nothing in the workspace was changed" in err and "--backup-dir" in err, err
    assert "cannot reach the workspace" not in err, err
    assert _export(layout.client, paths["main"]) == edited_main  # not restored
