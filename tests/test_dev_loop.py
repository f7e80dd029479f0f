"""`python -m cicd.dev push|pull|status` against a real HTTP server: the minilake emulator, with
the handlers of `tests.emulator_devloop` for the Libraries API, SQL and Jupyter notebooks and raw
files, and `tests.emulator_export`, which exports every engineer's notebooks rewritten as the
real service does (so a test cannot pass only because the emulator's export is exact).

The round trip an engineer makes: push the working tree, edit in the workspace, status, pull
(`git diff` shows exactly that edit), then a conflict refused with both sides intact, and
`--force` overwriting after a backup. Each test works as its own engineer (own folder, own
cluster, own sync record), in its own copy of the project.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.workspace import ExportFormat, ImportFormat, Language, ObjectType

from cicd.config import dev_slug
from cicd.dev import main
from cicd.devloop.items import digest
from cicd.devloop.library import dev_version
from tests import emulator_devloop, emulator_export
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

    @property
    def item_count(self) -> int:
        return sum(1 for path in self.notebooks.rglob("*") if path.is_file())

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
    emulator_export.normalise_below(emulator, project.folder)
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
    assert exported(client, f"{folder}/main") == emulator_export.service_export(main_py)
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
    assert f"{project.item_count} in sync" in out and "changed" not in out, out

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
    assert f"{project.item_count} in sync" in capsys.readouterr().out

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
        assert "main.py (changed on both sides" in err, err
        assert (project.notebooks / "main.py").read_text() == here
        assert exported(client, f"{folder}/main") == emulator_export.service_export(there.encode())

    # --force overwrites the workspace, after saving its copy to a backup folder it names.
    assert project.dev("push", "--force") == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert exported(client, f"{folder}/main") == emulator_export.service_export(here.encode())
    backups = sorted((project.root / ".dev-sync" / "backups").iterdir())
    assert len(backups) == 1 and f"saved what --force replaced in {backups[0]}" in out, out
    saved = (backups[0] / "workspace" / "main.py").read_bytes()
    assert saved == emulator_export.service_export(there.encode()), saved


def test_pull_brings_new_notebooks_and_shows_deletions(
    tmp_path: Path, emulator: Emulator, client: WorkspaceClient, capsys: pytest.CaptureFixture[str]
) -> None:
    project = engineer(tmp_path, emulator, client, "newnotebooks")
    assert project.dev("push") == 0, capsys.readouterr().err
    sql = "-- Databricks notebook source\nSELECT 1\n"
    client.workspace.mkdirs(f"{project.folder}/scratch")
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
    created = (project.notebooks / "scratch" / "explore.sql").read_bytes()
    assert created == emulator_export.service_export(sql.encode()), created
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
    assert "overwrite 2 item(s)" in err and "main.py (changed on both sides; both sides" in err, err
    assert "notes (only there; new in the workspace)" in err, err
    assert main_path.read_text() == here
    assert (project.notebooks / "notes.py").read_text() == "not a notebook\n"

    assert project.dev("pull", "--force") == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    # Forced: the workspace's copy as it exports it.
    assert main_path.read_bytes() == emulator_export.service_export(there.encode())
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


def test_an_unreachable_workspace_is_reported_with_the_time_really_waited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    project = Project(tmp_path / "project", "offline@example.com", closed)
    for variable in ("DATABRICKS_HOST", "DATABRICKS_CONFIG_PROFILE", "DATABRICKS_CLIENT_ID"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("DATABRICKS_TOKEN", "any-token")
    # The budget every tool's client waits for a host to answer (45 s by default).
    monkeypatch.setattr("cicd.jobs.stack_outputs.REACHABLE_WITHIN_SECONDS", 1.5)
    started = time.monotonic()
    assert project.dev("status") == 1
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    waited = re.search(rf"cannot reach the workspace: no answer from {closed} in ([0-9.]+) s", err)
    assert waited, err
    assert 1.5 <= float(waited.group(1)) <= elapsed + 0.05, (waited.group(1), elapsed, err)
    assert "Timed out after" not in err and "Traceback" not in err, err
    assert "ConnectionRefusedError" in err and "nothing was changed" in err, err


# ---------------------------------------------------------------------------------------------
# Pull writes exactly the workspace's edits (issue 21), against the export the service rewrites

LAYOUT_PY = (
    "# Databricks notebook source\nimport os\n# COMMAND ----------\nx = 1\ny = 2\n\n\n"
    "# COMMAND ----------\nprint(x)\n"
)
NOTEBOOK_IPYNB = {
    "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Explore\n", "\n", "Orders."]},
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": ["rows = 10\n", "print(rows)"],
        },
    ],
    "metadata": {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}


def commit_all(project: Project) -> None:
    for command in (
        ["add", "-A", "pipeline"],
        ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "more"],
    ):
        subprocess.run(["git", *command], cwd=project.root, check=True)


def numstat(project: Project) -> dict[str, tuple[int, int]]:
    """`git diff --numstat`: lines added and removed per changed file."""
    done = subprocess.run(
        ["git", "diff", "--numstat"], cwd=project.root, capture_output=True, text=True, check=True
    )
    stats = {}
    for line in done.stdout.splitlines():
        added, removed, path = line.split("\t")
        stats[path.removeprefix("pipeline/notebooks/")] = (int(added), int(removed))
    return stats


def edit_export(
    client: WorkspaceClient, path: str, old: str, new: str, jupyter: bool = False
) -> None:
    """An edit made in the workspace editor: the notebook as the workspace has it, one line
    changed, saved back."""
    fmt = ImportFormat.JUPYTER if jupyter else ImportFormat.SOURCE
    text = base64.b64decode(
        client.workspace.export(path, format=ExportFormat(fmt.value)).content or ""
    ).decode()
    assert old in text, (path, text)
    status = client.workspace.get_status(path)
    client.workspace.import_(
        path,
        content=base64.b64encode(text.replace(old, new).encode()).decode(),
        format=fmt,
        language=None if jupyter else status.language,
        overwrite=True,
    )


def test_pull_writes_only_the_workspace_edits_as_git_diff_sized_changes(
    tmp_path: Path, emulator: Emulator, client: WorkspaceClient, capsys: pytest.CaptureFixture[str]
) -> None:
    project = engineer(tmp_path, emulator, client, "oneline")
    (project.notebooks / "layout.py").write_text(LAYOUT_PY)
    ipynb = json.dumps(NOTEBOOK_IPYNB, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    (project.notebooks / "explore.ipynb").write_text(ipynb)
    commit_all(project)
    assert project.dev("push") == 0, capsys.readouterr().err
    folder = project.folder
    # The workspace really rewrites them on export: a pull that wrote its export would show it.
    assert exported(client, f"{folder}/layout") != LAYOUT_PY.encode()

    edit_export(client, f"{folder}/layout", "y = 2", "y = 3")
    edit_export(client, f"{folder}/transforms/clean_orders", "ORDER BY order_date", "ORDER BY 1")
    edit_export(client, f"{folder}/explore", "rows = 10", "rows = 20", jupyter=True)
    # main.py: edited in the workspace (first code cell) and here (a line at the end, planted:
    # it must survive): the two edits touch different lines, so pull merges them.
    edit_export(client, f"{folder}/main", "import json\n", "import json  # there\n")
    main_py = project.notebooks / "main.py"
    planted = main_py.read_text() + "print('planted here')\n"
    main_py.write_text(planted)
    capsys.readouterr()

    assert project.dev("pull") == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "merged                 main.py" in out, out
    assert numstat(project) == {
        "layout.py": (1, 1),
        "transforms/clean_orders.sql": (1, 1),
        "explore.ipynb": (1, 1),
        "main.py": (2, 1),  # the workspace's line, and the planted one
    }, project.git_diff()
    assert (project.notebooks / "layout.py").read_text() == LAYOUT_PY.replace("y = 2", "y = 3")
    assert main_py.read_text() == planted.replace("import json\n", "import json  # there\n")
    assert json.loads((project.notebooks / "explore.ipynb").read_text())["cells"][1]["source"] == [
        "rows = 20\n",
        "print(rows)",
    ]
    backups = list((project.root / ".dev-sync" / "backups").iterdir())
    assert len(backups) == 1 and (backups[0] / "local" / "main.py").read_text() == planted

    # The planted edit is here only: status says so, and push sends both edits.
    assert project.dev("status") == 0
    out = capsys.readouterr().out
    assert "changed here               main.py" in out, out
    assert f"{project.item_count - 1} in sync" in out, out
    assert project.dev("push") == 0, capsys.readouterr().err
    there = exported(client, f"{folder}/main").decode()
    assert "import json  # there" in there and "print('planted here')" in there, there
    assert project.dev("status") == 0
    assert f"{project.item_count} in sync" in capsys.readouterr().out


def test_a_clash_is_refused_with_both_sides_kept(
    tmp_path: Path, emulator: Emulator, client: WorkspaceClient, capsys: pytest.CaptureFixture[str]
) -> None:
    project = engineer(tmp_path, emulator, client, "clash")
    ipynb = json.dumps(NOTEBOOK_IPYNB, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    (project.notebooks / "explore.ipynb").write_text(ipynb)
    assert project.dev("push") == 0, capsys.readouterr().err
    edit_export(client, f"{project.folder}/explore", "rows = 10", "rows = 20", jupyter=True)
    here = ipynb.replace("rows = 10", "rows = 30")
    (project.notebooks / "explore.ipynb").write_text(here)
    there = exported(client, f"{project.folder}/explore")
    capsys.readouterr()
    assert project.dev("pull") == 1
    err = capsys.readouterr().err
    assert "explore.ipynb (changed on both sides; both sides edited the same lines)" in err, err
    assert (project.notebooks / "explore.ipynb").read_text() == here
    assert exported(client, f"{project.folder}/explore") == there
    assert not (project.root / ".dev-sync" / "backups").exists()


# ---------------------------------------------------------------------------------------------
# Incremental: requests counted on the emulator (issue 23)


def folders_of(project: Project) -> int:
    """The personal folder and every folder under it that holds the working tree's items."""
    tree = {p.parent for p in project.notebooks.rglob("*") if p.is_file()}
    for folder in list(tree):
        while folder != project.notebooks:
            tree.add(folder)
            folder = folder.parent
    return len(tree | {project.notebooks})


def counted(emulator: Emulator, action: Any) -> tuple[Any, Counter[tuple[str, str]]]:
    before = Counter(emulator.requests.seen)
    result = action()
    return result, Counter(emulator.requests.seen) - before


def by_kind(requests: Counter[tuple[str, str]], method: str, prefix: str) -> int:
    return sum(n for (m, path), n in requests.items() if m == method and path.startswith(prefix))


def test_requests_first_push_and_nothing_changed(
    tmp_path: Path, emulator: Emulator, client: WorkspaceClient, capsys: pytest.CaptureFixture[str]
) -> None:
    project = engineer(tmp_path, emulator, client, "counted")
    n, folders = project.item_count, folders_of(project)
    code, first = counted(emulator, lambda: project.dev("push"))
    assert code == 0, capsys.readouterr().err
    assert sum(first.values()) <= n + folders + 10, (n, folders, first)
    assert by_kind(first, "POST", "/api/2.0/workspace/import") == n, first
    assert by_kind(first, "GET", "/api/2.0/workspace/export") == 0, first
    mkdirs = by_kind(first, "POST", "/api/2.0/workspace/mkdirs")
    assert 0 < mkdirs < folders, first  # the deepest missing ones only, each once

    for verb in ("status", "push", "pull"):
        code, again = counted(emulator, lambda verb=verb: project.dev(verb))
        assert code == 0, capsys.readouterr().err
        assert sum(again.values()) <= folders + 10, (verb, folders, again)
        assert by_kind(again, "GET", "/api/2.0/workspace/list") == folders, (verb, again)
        for method, path in (
            ("GET", "/api/2.0/workspace/export"),
            ("POST", "/api/2.0/workspace/import"),
            ("POST", "/api/2.0/workspace/mkdirs"),
            ("PUT", "/api/2.0/fs/files"),
            ("POST", "/api/2.0/libraries/install"),
        ):
            assert by_kind(again, method, path) == 0, (verb, method, path, again)
    assert "library unchanged" in capsys.readouterr().out

    # One edit in the workspace: one export, and only that notebook is read.
    edit_in_workspace(client, f"{project.folder}/main", "# Databricks notebook source\n1\n")
    code, one = counted(emulator, lambda: project.dev("status"))
    assert code == 0 and by_kind(one, "GET", "/api/2.0/workspace/export") == 1, one


# ---------------------------------------------------------------------------------------------
# Two commands at once lose nothing


def test_a_second_command_on_the_same_record_is_refused_and_a_stale_lock_is_taken_over(
    tmp_path: Path, emulator: Emulator, client: WorkspaceClient, capsys: pytest.CaptureFixture[str]
) -> None:
    project = engineer(tmp_path, emulator, client, "locked")
    assert project.dev("push") == 0, capsys.readouterr().err
    planted = project.notebooks / "main.py"
    planted.write_text(planted.read_text() + "print('mine')\n")
    record = project.root / ".dev-sync" / "staging" / f"{dev_slug(project.user)}.json"
    recorded = record.read_bytes()
    lock = record.with_suffix(".lock")
    lock.write_text(f"{socket.gethostname()} {os.getpid()} 2026-01-01T00:00:00Z dev push\n")
    capsys.readouterr()
    assert project.dev("push") == 1
    err = capsys.readouterr().err
    assert f"another dev command is running on this sync record ({socket.gethostname()}" in err
    assert str(lock) in err and "nothing was changed" in err, err
    assert planted.read_text().endswith("print('mine')\n") and record.read_bytes() == recorded

    dead = subprocess.Popen(["true"])  # a process that has exited: its lock is stale
    dead.wait()
    lock.write_text(f"{socket.gethostname()} {dead.pid} 2026-01-01T00:00:00Z dev push\n")
    assert project.dev("push") == 0, capsys.readouterr().err
    assert not lock.exists()
    assert "print('mine')" in exported(client, f"{project.folder}/main").decode()


def test_two_pushes_at_once_lose_nothing(
    tmp_path: Path, emulator: Emulator, client: WorkspaceClient, capsys: pytest.CaptureFixture[str]
) -> None:
    project = engineer(tmp_path, emulator, client, "twice")
    planted = project.notebooks / "main.py"
    planted.write_text(planted.read_text() + "print('mine')\n")
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(project.dev("push"))) for _ in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    err = capsys.readouterr().err
    assert 0 in results, err
    assert all(r == 0 for r in results) or "another dev command is running" in err, (results, err)
    assert planted.read_text().endswith("print('mine')\n")
    assert project.dev("status") == 0
    assert f"{project.item_count} in sync" in capsys.readouterr().out


def test_pull_never_replaces_a_file_saved_while_it_ran(tmp_path: Path) -> None:
    from cicd.devloop.notebooks import _write

    target = tmp_path / "main.py"
    target.write_bytes(b"as scanned\n")
    target.write_bytes(b"saved by the editor meanwhile\n")
    assert not _write(target, b"the workspace's\n", b"as scanned\n")
    assert target.read_bytes() == b"saved by the editor meanwhile\n"
    assert [p.name for p in tmp_path.iterdir()] == ["main.py"]
    assert _write(target, b"the workspace's\n", b"saved by the editor meanwhile\n")
    assert target.read_bytes() == b"the workspace's\n"


def test_a_record_from_before_bases_is_read_and_upgraded(
    tmp_path: Path, emulator: Emulator, client: WorkspaceClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """A format-1 record (digests only, written by the previous dev loop) still tells every
    notebook in sync: each is exported once, then known by its modified_at."""
    project = engineer(tmp_path, emulator, client, "upgraded")
    assert project.dev("push") == 0, capsys.readouterr().err
    record = project.root / ".dev-sync" / "staging" / f"{dev_slug(project.user)}.json"
    document = json.loads(record.read_text())
    items = {}
    for name, entry in document["items"].items():
        notebook = not entry["path"].endswith(".json")
        path = f"{project.folder}/{name}"
        data = exported(client, path) if notebook else client.workspace.download(path).read()
        items[name] = {"path": entry["path"], "local": entry["local"], "remote": digest(data)}
    record.write_text(
        json.dumps(
            {"format": 1, "host": document["host"], "folder": project.folder, "items": items}
        )
    )
    shutil.rmtree(record.with_suffix(".bases"))
    planted = project.notebooks / "main.py"
    planted.write_text(planted.read_text() + "print('mine')\n")
    capsys.readouterr()
    code, first = counted(emulator, lambda: project.dev("status"))
    out = capsys.readouterr().out
    assert code == 0 and f"{project.item_count - 1} in sync" in out, out
    assert "changed here               main.py" in out, out
    assert by_kind(first, "GET", "/api/2.0/workspace/export") == project.item_count, first
    code, again = counted(emulator, lambda: project.dev("status"))
    assert code == 0 and by_kind(again, "GET", "/api/2.0/workspace/export") == 0, again
    assert json.loads(record.read_text())["format"] == 2
    assert planted.read_text().endswith("print('mine')\n")


def test_a_notebook_never_synced_and_different_is_not_overwritten_by_pull(
    tmp_path: Path, emulator: Emulator, client: WorkspaceClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """No record yet (first use), and the workspace already has another `main`: pull refuses,
    both copies stay; --force keeps the local one in a backup."""
    project = engineer(tmp_path, emulator, client, "neversynced")
    planted = project.notebooks / "main.py"
    mine = planted.read_text()
    edit_in_workspace(client, f"{project.folder}/main", "# Databricks notebook source\n1\n")
    assert project.dev("pull") == 1
    err = capsys.readouterr().err
    assert "main.py (changed on both sides; never synced, and the two differ)\n" in err, err
    assert planted.read_text() == mine
    assert project.dev("pull", "--force") == 0, capsys.readouterr().err
    backups = list((project.root / ".dev-sync" / "backups").iterdir())
    assert len(backups) == 1 and (backups[0] / "local" / "main.py").read_text() == mine
