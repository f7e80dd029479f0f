"""`python -m cicd.dev push|pull|status` against a real HTTP server: the minilake emulator, with
the handlers of `tests.emulator_devloop` for the Libraries API, SQL notebooks and raw files.

The round trip an engineer makes: push the working tree, edit in the workspace, status, pull
(`git diff` shows exactly that edit), then a conflict refused with both sides intact, and
`--force` overwriting after a backup. Each test works as its own engineer (own folder, own
cluster, own sync record), in its own copy of the project.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.workspace import ImportFormat, Language, ObjectType

from cicd.config import dev_slug
from cicd.dev import main
from cicd.devloop.library import dev_version
from tests import emulator_devloop
from tests.conftest import REPO, base_values
from tests.emulator import Emulator

MAIN_EDIT = "\n# COMMAND ----------\n\nprint('edited in the workspace')\n"


class Project:
    """A copy of the repo's pipeline in a git repository, and a stack file listing `user`."""

    def __init__(self, root: Path, user: str, host: str) -> None:
        self.root, self.user = root, user
        shutil.copytree(
            REPO / "pipeline",
            root / "pipeline",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "build", "dist", "*.egg-info"),
        )
        values: dict[str, Any] = base_values()
        values["artifactStore"] = {"kind": "volume", "root": "/Volumes/staging/etl/artifacts"}
        values["developers"] = {
            "defaults": {
                "sparkVersion": "15.4.x-scala2.12",
                "nodeType": "i3.xlarge",
                "numWorkers": 0,
            },
            "engineers": [{"user": user}],
        }
        config = {f"databricks-cicd:{k}": v for k, v in values.items()}
        config["databricks:host"] = host
        (root / "Pulumi.staging.yaml").write_text(yaml.safe_dump({"config": config}))
        for command in (
            ["init", "-q"],
            ["add", "pipeline"],
            ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "base"],
        ):
            subprocess.run(["git", *command], cwd=root, check=True)

    @property
    def folder(self) -> str:
        return f"/Users/{self.user}/etl-pipeline"

    @property
    def notebooks(self) -> Path:
        return self.root / "pipeline" / "notebooks"

    def dev(self, *args: str) -> int:
        return main([*args, "--stack", "staging", "--user", self.user], project_dir=self.root)

    def git_diff(self) -> str:
        done = subprocess.run(
            ["git", "diff", "--stat", "--patch"], cwd=self.root, capture_output=True, text=True
        )
        return done.stdout


@pytest.fixture
def client(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> WorkspaceClient:
    emulator_devloop.install(emulator)
    for variable in ("DATABRICKS_HOST", "DATABRICKS_CONFIG_PROFILE", "DATABRICKS_CLIENT_ID"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("DATABRICKS_TOKEN", "emulator-token")
    return emulator.client()


def create_environment(client: WorkspaceClient, user: str) -> str:
    """What the shared stack's deploy leaves: the cluster (named and tagged) and the folder."""
    waiter = client.clusters.create(
        cluster_name=f"etl-pipeline-dev-{dev_slug(user)}",
        spark_version="15.4.x-scala2.12",
        node_type_id="i3.xlarge",
        num_workers=0,
        autotermination_minutes=30,
        custom_tags={"Owner": user, "pipeline": "etl-pipeline"},
    )
    client.workspace.mkdirs(f"/Users/{user}/etl-pipeline")
    return str(waiter.cluster_id)


def engineer(tmp_path: Path, emulator: Emulator, client: WorkspaceClient, name: str) -> Project:
    user = f"{name}@example.com"
    project = Project(tmp_path / "project", user, emulator.url)
    project.cluster_id = create_environment(client, user)  # type: ignore[attr-defined]
    return project


def exported(client: WorkspaceClient, path: str) -> bytes:
    return base64.b64decode(client.workspace.export(path).content or "")


def edit_in_workspace(client: WorkspaceClient, path: str, text: str) -> None:
    """What saving a notebook in the workspace editor does: a new source for the notebook."""
    client.workspace.import_(
        path,
        content=base64.b64encode(text.encode()).decode(),
        format=ImportFormat.SOURCE,
        language=Language.PYTHON,
        overwrite=True,
    )


def test_round_trip_push_edit_status_pull_conflict_force(
    tmp_path: Path, emulator: Emulator, client: WorkspaceClient, capsys: pytest.CaptureFixture[str]
) -> None:
    project = engineer(tmp_path, emulator, client, "roundtrip")
    folder = project.folder

    assert project.dev("push") == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert f"created                {folder}/main  (from main.py)" in out, out
    main_py = (project.notebooks / "main.py").read_bytes()
    assert exported(client, f"{folder}/main") == main_py
    sql = client.workspace.get_status(f"{folder}/transforms/clean_orders")
    assert (sql.object_type, sql.language) == (ObjectType.NOTEBOOK, Language.SQL), sql
    data = client.workspace.get_status(f"{folder}/config/defaults.json")
    assert data.object_type == ObjectType.FILE, data
    version = dev_version(project.root / "pipeline")
    wheel = f"etl_pipeline-{version}-py3-none-any.whl"
    volume = f"/Volumes/staging/etl/dev_{dev_slug(project.user).replace('-', '_')}"
    built = project.root / "dist" / "dev" / dev_slug(project.user) / "libraries" / wheel
    assert client.files.download(f"{volume}/{wheel}").contents.read() == built.read_bytes()
    assert emulator_devloop.libraries_on(project.cluster_id) == {  # type: ignore[attr-defined]
        f"{volume}/{wheel}": "PENDING"
    }

    assert project.dev("status") == 0
    out = capsys.readouterr().out
    files = sum(1 for p in project.notebooks.rglob("*") if p.is_file())
    assert f"{files} in sync" in out and "changed" not in out, out

    # An edit in the workspace: status sees it, pull brings exactly it.
    edited = main_py.decode() + MAIN_EDIT
    edit_in_workspace(client, f"{folder}/main", edited)
    assert project.dev("status") == 0
    out = capsys.readouterr().out
    assert "changed in the workspace   main.py" in out, out
    assert project.dev("pull") == 0, capsys.readouterr().err
    assert (project.notebooks / "main.py").read_text() == edited
    diff = project.git_diff()
    assert " pipeline/notebooks/main.py | 4 ++++\n 1 file changed, 4 insertions(+)" in diff, diff
    assert "+print('edited in the workspace')" in diff, diff
    assert project.dev("status") == 0
    assert f"{files} in sync" in capsys.readouterr().out

    # Both sides edit main: push and pull refuse, naming it, and both copies stay as they are.
    here = edited + "print('edited here')\n"
    there = edited + "print('edited there again')\n"
    (project.notebooks / "main.py").write_text(here)
    edit_in_workspace(client, f"{folder}/main", there)
    capsys.readouterr()
    for verb in ("push", "pull"):
        assert project.dev(verb) == 1
        err = capsys.readouterr().err
        assert "overwrite 1 item(s) edited on the other side" in err, err
        assert "main.py (changed on both sides)" in err, err
        assert (project.notebooks / "main.py").read_text() == here
        assert exported(client, f"{folder}/main").decode() == there

    # --force overwrites the workspace, after saving its copy to a backup folder it names.
    assert project.dev("push", "--force") == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert exported(client, f"{folder}/main").decode() == here
    backups = sorted((project.root / ".dev-sync" / "backups").iterdir())
    assert len(backups) == 1 and f"saved what --force replaced in {backups[0]}" in out, out
    assert (backups[0] / "workspace" / "main.py").read_text() == there


def test_pull_brings_new_notebooks_and_shows_deletions(
    tmp_path: Path, emulator: Emulator, client: WorkspaceClient, capsys: pytest.CaptureFixture[str]
) -> None:
    project = engineer(tmp_path, emulator, client, "newnotebooks")
    assert project.dev("push") == 0, capsys.readouterr().err
    sql = "-- Databricks notebook source\nSELECT 1\n"
    client.workspace.import_(
        f"{project.folder}/scratch/explore",
        content=base64.b64encode(sql.encode()).decode(),
        format=ImportFormat.SOURCE,
        language=Language.SQL,
        overwrite=True,
    )
    client.workspace.delete(f"{project.folder}/transforms/clean_orders")
    capsys.readouterr()
    assert project.dev("status") == 0
    out = capsys.readouterr().out
    assert "only there                 scratch/explore  (new in the workspace)" in out, out
    assert (
        "only here                  transforms/clean_orders.sql  (deleted in the workspace since"
        " the last sync)" in out
    ), out
    assert project.dev("pull") == 0
    out = capsys.readouterr().out
    assert (project.notebooks / "scratch" / "explore.sql").read_text() == sql
    assert (project.notebooks / "transforms" / "clean_orders.sql").is_file(), (
        "deleted without --delete"
    )
    assert "--delete removes it" in out, out
    assert project.dev("pull", "--delete") == 0
    assert not (project.notebooks / "transforms" / "clean_orders.sql").exists()


def test_a_new_build_replaces_the_previous_one_and_restart_reloads(
    tmp_path: Path, emulator: Emulator, client: WorkspaceClient, capsys: pytest.CaptureFixture[str]
) -> None:
    project = engineer(tmp_path, emulator, client, "rebuild")
    assert project.dev("push") == 0, capsys.readouterr().err
    first = dev_version(project.root / "pipeline")
    module = project.root / "pipeline" / "src" / "etl_pipeline" / "orders.py"
    module.write_text(module.read_text() + "\n# a change\n")
    second = dev_version(project.root / "pipeline")
    assert second != first
    client.clusters.wait_get_cluster_running(project.cluster_id)  # type: ignore[attr-defined]
    assert project.dev("push", "--restart") == 0, capsys.readouterr().err
    volume = f"/Volumes/staging/etl/dev_{dev_slug(project.user).replace('-', '_')}"
    assert emulator_devloop.libraries_on(project.cluster_id) == {  # type: ignore[attr-defined]
        f"{volume}/etl_pipeline-{first}-py3-none-any.whl": "UNINSTALL_ON_RESTART",
        f"{volume}/etl_pipeline-{second}-py3-none-any.whl": "PENDING",
    }
    state = client.clusters.get(project.cluster_id).state  # type: ignore[attr-defined]
    out = capsys.readouterr().out
    assert state is not None and state.value == "RESTARTING", state
    assert "restarted              etl-pipeline-dev-rebuild-example-com" in out, out
    assert f"uninstalled            {volume}/etl_pipeline-{first}" in out, out


def test_unlisted_user_is_refused_before_credentials(
    tmp_path: Path,
    emulator: Emulator,
    client: WorkspaceClient,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = Project(tmp_path / "project", "listed@example.com", emulator.url)
    monkeypatch.delenv("DATABRICKS_TOKEN")
    code = main(["push", "--stack", "staging", "--user", "carol@example.com"], project.root)
    assert code == 1
    err = capsys.readouterr().err
    assert "carol@example.com is not listed under databricks-cicd:developers.engineers" in err
    assert "`- user: carol@example.com`" in err, err


def test_missing_credentials_name_the_variables(
    tmp_path: Path,
    emulator: Emulator,
    client: WorkspaceClient,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = Project(tmp_path / "project", "nocreds@example.com", emulator.url)
    monkeypatch.delenv("DATABRICKS_TOKEN")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.databrickscfg
    assert project.dev("status") == 1
    err = capsys.readouterr().err
    for name in (
        "DATABRICKS_TOKEN",
        "DATABRICKS_CLIENT_ID",
        "DATABRICKS_CLIENT_SECRET",
        "--profile",
    ):
        assert name in err, err


def test_environment_not_created_yet_says_to_merge_first(
    tmp_path: Path, emulator: Emulator, client: WorkspaceClient, capsys: pytest.CaptureFixture[str]
) -> None:
    project = Project(tmp_path / "project", "notyet@example.com", emulator.url)
    assert project.dev("push") == 1
    err = capsys.readouterr().err
    assert "no cluster etl-pipeline-dev-notyet-example-com owned by notyet@example.com" in err
    assert "Merge the pull request that adds you" in err, err
    assert list(client.workspace.list("/Users")) == [] or not any(
        "notyet" in (o.path or "") for o in client.workspace.list("/Users")
    )


def test_a_notebook_the_workspace_would_refuse_changes_nothing(
    tmp_path: Path, emulator: Emulator, client: WorkspaceClient, capsys: pytest.CaptureFixture[str]
) -> None:
    project = engineer(tmp_path, emulator, client, "refused")
    (project.notebooks / "broken.py").write_bytes(b"# Databricks notebook source\nx = '\xff'\n")
    assert project.dev("push") == 1
    err = capsys.readouterr().err
    assert "1 file(s) the workspace would refuse; nothing was changed" in err, err
    assert "broken.py: not UTF-8 text" in err, err
    assert list(client.workspace.list(project.folder)) == [], "pushed despite the refusal"
    assert emulator_devloop.libraries_on(project.cluster_id) == {}  # type: ignore[attr-defined]


def test_pull_refuses_to_overwrite_a_local_edit_and_force_keeps_a_backup(
    tmp_path: Path, emulator: Emulator, client: WorkspaceClient, capsys: pytest.CaptureFixture[str]
) -> None:
    project = engineer(tmp_path, emulator, client, "pullforce")
    assert project.dev("push") == 0, capsys.readouterr().err
    main_path = project.notebooks / "main.py"
    here = main_path.read_text() + "print('here')\n"
    there = main_path.read_text() + "print('there')\n"
    main_path.write_text(here)
    edit_in_workspace(client, f"{project.folder}/main", there)
    # A notebook created in the workspace whose file name is already taken here by a plain file.
    (project.notebooks / "notes.py").write_text("not a notebook\n")
    edit_in_workspace(client, f"{project.folder}/notes", "# Databricks notebook source\n1\n")
    capsys.readouterr()
    assert project.dev("pull") == 1
    err = capsys.readouterr().err
    assert "overwrite 2 item(s)" in err and "main.py (changed on both sides)" in err, err
    assert "notes (only there; new in the workspace)" in err, err
    assert main_path.read_text() == here
    assert (project.notebooks / "notes.py").read_text() == "not a notebook\n"

    assert project.dev("pull", "--force") == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert main_path.read_text() == there
    backups = sorted((project.root / ".dev-sync" / "backups").iterdir())
    assert len(backups) == 1 and str(backups[0]) in out, out
    assert (backups[0] / "local" / "main.py").read_text() == here
    assert (backups[0] / "local" / "notes.py").read_text() == "not a notebook\n"


def test_user_defaults_to_the_credentials_identity(
    tmp_path: Path, emulator: Emulator, client: WorkspaceClient, capsys: pytest.CaptureFixture[str]
) -> None:
    project = Project(tmp_path / "project", "someone@example.com", emulator.url)
    assert main(["status", "--stack", "staging"], project.root) == 1
    err = capsys.readouterr().err
    # The emulator's credentials belong to `minilake-user`, who is not listed in this stack.
    assert "minilake-user is not listed under databricks-cicd:developers.engineers" in err, err
