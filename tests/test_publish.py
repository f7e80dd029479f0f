"""`python -m cicd.release publish`: releases of content built elsewhere (a large notebooks tree,
another team's wheel), recorded in the lock with their entry notebook and origin, kept in a tracked
folder so a fresh clone previews and deploys them, immutable, and blue/green like a built one."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from cicd.evaluation import Evaluation, compare, evaluate
from cicd.preview import describe_changes
from cicd.release import main
from cicd.releases.lock import ReleaseMetadata, read_lock, read_release_metadata
from tests.conftest import REPO, SandboxProject, base_values, to_pulumi_config, with_releases
from tests.outside_content import OutsideTree, make_outside_tree, make_wheel

JOB = ("databricks:index/job:Job", "pipeline-job")
NOTEBOOK = "databricks:index/notebook:Notebook"
WORKSPACE_FILE = "databricks:index/workspaceFile:WorkspaceFile"


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> SandboxProject:
    """A team's repository under git: the program, and release 1.1.0 (entry `main`) in dist/,
    which git ignores, as a built release."""
    (tmp_path / "repo").mkdir()
    project = SandboxProject(tmp_path / "repo")
    project.add_release("1.1.0")
    shutil.copy(REPO / ".gitattributes", project.root / ".gitattributes")
    (project.root / ".gitignore").write_text("dist/\n__pycache__/\n")
    git(project.root, "init", "-q")
    git(project.root, "add", "-A")
    git(project.root, "commit", "-qm", "the program and its lock")
    return project


@pytest.fixture
def outside(tmp_path: Path) -> tuple[OutsideTree, Path]:
    """A large tree and a wheel from another team's build, outside the repository."""
    return make_outside_tree(tmp_path / "their-build" / "notebooks"), make_wheel(
        tmp_path / "their-build" / "dist"
    )


def snapshot(root: Path) -> dict[str, str]:
    """Every file under root except .git, by relative path: its sha256."""
    found = {}
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = [d for d in subdirectories if d != ".git"]
        for name in names:
            path = Path(directory, name)
            found[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def publish_outside(root: Path, version: str, tree: OutsideTree, wheel: Path, *extra: str) -> int:
    return main(
        ["publish", version, "--notebooks", str(tree.root), "--library", str(wheel), *extra],
        project_dir=root,
    )


def stack_file(root: Path, values: dict[str, Any], stack: str = "prod") -> None:
    config = {f"databricks-cicd:{k}": v for k, v in values.items()}
    (root / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))


def test_publish_records_every_file_its_origin_and_entry_and_copies_the_content(
    repo: SandboxProject, outside: tuple[OutsideTree, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    tree, wheel = outside
    before = snapshot(tree.root)
    assert publish_outside(repo.root, "2.0.0", tree, wheel, "--entry", tree.entry) == 0, (
        capsys.readouterr().err
    )
    out = capsys.readouterr().out
    assert (
        f"2.0.0: published {tree.notebooks} notebook(s), {tree.other_files} workspace file(s) and"
        " 1 library into releases/2.0.0" in out
    ), out
    assert "git add releases/2.0.0 releases.lock.yaml" in out, out
    digests = read_lock(repo.root / "releases.lock.yaml")["2.0.0"]
    expected = {f"notebooks/{p}": h for p, h in snapshot(tree.root).items()}
    expected[f"libraries/{wheel.name}"] = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert {k: v.removeprefix("sha256:") for k, v in digests.items()} == expected
    assert read_release_metadata(repo.root / "releases.lock.yaml")["2.0.0"] == ReleaseMetadata(
        tree.entry,
        "publish",
        "releases/2.0.0",
        {"notebooks/": tree.root.as_posix(), f"libraries/{wheel.name}": wheel.as_posix()},
    )
    assert snapshot(repo.root / "releases/2.0.0") == expected
    assert snapshot(tree.root) == before, "publish changed the tree it was given"
    # The built release's record is untouched.
    assert read_release_metadata(repo.root / "releases.lock.yaml")["1.1.0"] == ReleaseMetadata()


def test_published_content_is_immutable(
    repo: SandboxProject, outside: tuple[OutsideTree, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    tree, wheel = outside
    assert publish_outside(repo.root, "2.0.0", tree, wheel, "--entry", tree.entry) == 0
    lock = (repo.root / "releases.lock.yaml").read_text()
    published = snapshot(repo.root / "releases/2.0.0")
    capsys.readouterr()
    assert publish_outside(repo.root, "2.0.0", tree, wheel, "--entry", tree.entry) == 0
    assert "already published with this content" in capsys.readouterr().out
    (tree.root / "1. setup.sql").write_text("-- Databricks notebook source\nDROP SCHEMA x\n")
    assert publish_outside(repo.root, "2.0.0", tree, wheel, "--entry", tree.entry) == 1
    err = capsys.readouterr().err
    assert "release 2.0.0: notebooks/1. setup.sql changed since it was published" in err, err
    assert "publish this content as a new version" in err, err
    assert publish_outside(repo.root, "2.0.1", tree, wheel, "--entry", "main2") == 1
    assert "the tree has no notebook 'main2'" in capsys.readouterr().err
    assert publish_outside(repo.root, "1.1.0", tree, wheel, "--entry", tree.entry) == 1
    assert "1.1.0 is already published, built from pipeline/" in capsys.readouterr().err
    assert (repo.root / "releases.lock.yaml").read_text() == lock
    assert snapshot(repo.root / "releases/2.0.0") == published


def test_publish_never_overwrites_a_folder_holding_other_content(
    repo: SandboxProject, outside: tuple[OutsideTree, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    tree, wheel = outside
    mine = repo.root / "releases/2.0.0/notebooks/01.5-Delta-pipeline.py"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"# Databricks notebook source\nprint('my own')\n")
    assert publish_outside(repo.root, "2.0.0", tree, wheel, "--entry", tree.entry) == 1
    err = capsys.readouterr().err
    assert "releases/2.0.0: already holds 1 file(s) that are not this content" in err, err
    assert "notebooks/01.5-Delta-pipeline.py (differs from the published bytes)" in err, err
    assert mine.read_bytes() == b"# Databricks notebook source\nprint('my own')\n"
    assert "2.0.0" not in read_lock(repo.root / "releases.lock.yaml")


def test_publish_reports_every_problem_at_once_and_writes_nothing(
    repo: SandboxProject, outside: tuple[OutsideTree, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    tree, wheel = outside
    (tree.root / ".DS_Store").write_text("x")
    (tree.root / "1. setup.py").write_text("# Databricks notebook source\n1\n")  # vs 1. setup.sql
    (tree.root / "conf/notes.txt").write_bytes(b"fine: a workspace file")
    lock = (repo.root / "releases.lock.yaml").read_text()
    code = main(
        [
            "publish",
            "2.0.0",
            "--notebooks",
            str(tree.root),
            "--library",
            str(wheel),
            "--library",
            str(tree.root / "conf/notes.txt"),
        ],
        project_dir=repo.root,
    )
    assert code == 1
    err = capsys.readouterr().err
    assert f"{tree.root}: 4 problem(s) in the content; nothing was published as 2.0.0:" in err, err
    assert "- .DS_Store: remove it from the tree" in err, err
    assert "- 1. setup.py and 1. setup.sql (both '1. setup'): rename one of them" in err, err
    assert f"- {tree.root}/conf/notes.txt (neither .whl nor .jar): give a built .whl" in err, err
    assert (
        f"- the tree has no notebook 'main' ({tree.notebooks + 1} notebook(s)); no --entry was"
        " given, so 'main' was looked for: name it with --entry" in err
    ), err
    assert (repo.root / "releases.lock.yaml").read_text() == lock
    assert not (repo.root / "releases").exists()


def test_entry_may_be_given_as_the_file_name(
    repo: SandboxProject, outside: tuple[OutsideTree, Path]
) -> None:
    tree, wheel = outside
    assert publish_outside(repo.root, "2.0.0", tree, wheel, "--entry", f"{tree.entry}.py") == 0
    metadata = read_release_metadata(repo.root / "releases.lock.yaml")["2.0.0"]
    assert metadata.entry_notebook == tree.entry, metadata


def prod(
    values: dict[str, Any], live: str, kept: tuple[str, ...] = ("1.1.0", "2.0.0")
) -> dict[str, Any]:
    other = next((v for v in kept if v != live), live)
    return with_releases(values, list(kept), live, rollbackTarget=other)


def job_notebook(evaluation: Evaluation) -> str:
    return str(evaluation.resources[JOB].inputs["tasks"][0]["notebookTask"]["notebookPath"])


def test_a_published_release_is_promoted_and_rolled_back_like_a_built_one(
    repo: SandboxProject,
    outside: tuple[OutsideTree, Path],
    values: dict[str, Any],
) -> None:
    tree, wheel = outside
    assert publish_outside(repo.root, "2.0.0", tree, wheel, "--entry", tree.entry) == 0
    only_old = repo.evaluate(with_releases(values, ["1.1.0"], "1.1.0"), stack="prod")
    new_live = repo.evaluate(prod(values, "2.0.0"), stack="prod")
    old_live = repo.evaluate(prod(values, "1.1.0"), stack="prod")

    # One notebook per notebook file, one workspace file per other file, one upload per library.
    mine = [r for r in new_live.resources.values() if r.parent == "release-2.0.0"]
    assert len([r for r in mine if r.type == NOTEBOOK]) == tree.notebooks
    assert len([r for r in mine if r.type == WORKSPACE_FILE]) == tree.other_files
    assert [r.inputs["path"] for r in mine if r.type == "databricks:index/file:File"] == [
        f"/Volumes/prod/etl/artifacts/releases/2.0.0/{wheel.name}"
    ]
    sources = {r.inputs["source"] for r in mine if r.type == NOTEBOOK}
    assert f"releases/2.0.0/notebooks/{tree.entry}.py" in sources, sorted(sources)[:3]

    # Promotion adds the release, then switches the job to its own entry notebook.
    promotion = compare(only_old, new_live)
    assert {c.kind for c in promotion if c.name.startswith("release-2.0.0")} == {"add"}
    assert [(c.kind, c.name) for c in promotion if not c.name.startswith("release-2.0.0")] == [
        ("change", "pipeline-job")
    ]
    assert job_notebook(new_live) == f"/Production/etl-pipeline/releases/2.0.0/{tree.entry}"

    # Each flip of `live` changes the job only, and points it at that release's entry notebook.
    for before, after in ((new_live, old_live), (old_live, new_live)):
        assert [(c.kind, c.name) for c in compare(before, after)] == [("change", "pipeline-job")]
    assert job_notebook(old_live) == "/Production/etl-pipeline/releases/1.1.0/main"
    shown = describe_changes(new_live, old_live, compare(new_live, old_live))
    assert (
        "      tasks[0].notebookTask.notebookPath: /Production/etl-pipeline/releases/2.0.0/"
        f"{tree.entry} -> /Production/etl-pipeline/releases/1.1.0/main" in shown
    ), shown


def test_ensure_after_publish_changes_nothing_and_a_fresh_clone_previews_the_same(
    repo: SandboxProject,
    outside: tuple[OutsideTree, Path],
    values: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tree, wheel = outside
    assert publish_outside(repo.root, "2.0.0", tree, wheel, "--entry", tree.entry) == 0
    stack_file(repo.root, prod(values, "2.0.0"))
    before = snapshot(repo.root)
    capsys.readouterr()
    assert main(["ensure", "--stack", "prod"], project_dir=repo.root) == 0, capsys.readouterr().err
    assert "2.0.0: present in" in capsys.readouterr().out
    assert snapshot(repo.root) == before, "ensure changed a file"

    # Commit what publish wrote; the clone gets the tracked folder and nothing from dist/.
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-qm", "Publish 2.0.0")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.root), str(clone)], check=True)
    assert not (clone / "dist").exists()
    shutil.rmtree(tmp_path / "their-build")  # nothing from the publishing machine
    staging_like = with_releases(values, ["2.0.0"], "2.0.0")
    stack_file(clone, staging_like)
    assert main(["ensure", "--stack", "prod"], project_dir=clone) == 0, capsys.readouterr().err
    original = repo.evaluate(staging_like, stack="prod")
    cloned = evaluate(to_pulumi_config(staging_like), "prod", clone)
    assert compare(original, cloned) == [] and len(cloned.resources) > tree.notebooks


def test_restore_of_a_published_release_names_the_git_command(
    repo: SandboxProject, outside: tuple[OutsideTree, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    tree, wheel = outside
    assert publish_outside(repo.root, "2.0.0", tree, wheel, "--entry", tree.entry) == 0
    (repo.root / f"releases/2.0.0/notebooks/{tree.entry}.py").unlink()
    capsys.readouterr()
    assert main(["restore", "2.0.0"], project_dir=repo.root) == 1
    err = capsys.readouterr().err
    assert f"notebooks/{tree.entry}.py was published but is missing" in err, err
    assert "git checkout HEAD -- releases/2.0.0" in err, err


def test_ruff_and_pytest_leave_published_content_alone(tmp_path: Path) -> None:
    """Published notebooks are recorded byte for byte: no formatter may rewrite them, and a
    notebook named like a test is not a test of ours."""
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    notebook = tmp_path / "releases/2.0.0/notebooks/test_pipeline.py"
    notebook.parent.mkdir(parents=True)
    source = b"# Databricks notebook source\nimport os,sys\ndef test_x( ):\n  assert False\n"
    notebook.write_bytes(source)
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_ok.py").write_text("def test_ok() -> None:\n    assert True\n")
    venv = Path(sys.executable).parent
    for command in (["ruff", "check", "."], ["ruff", "format", "."]):
        result = subprocess.run(
            [str(venv / command[0]), *command[1:]],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert "tests/test_ok.py::test_ok" in collected and "releases" not in collected, collected
    assert notebook.read_bytes() == source


def test_a_release_without_entry_notebook_is_refused_by_a_job_without_tasks(
    tmp_path: Path,
) -> None:
    """A converted bundle's release records no entry notebook: jobs that name their tasks run
    it; the main job without tasks is refused with the fix, before anything registers."""
    from cicd.releases.publish import publish

    (tmp_path / "project").mkdir()
    project = SandboxProject(tmp_path / "project")
    tree = tmp_path / "bundle"
    (tree / "src").mkdir(parents=True)
    (tree / "src" / "orders.sql").write_text("SELECT 1\n")
    lines = publish(project.root, "2.0.0", tree, [], None, no_entry=True)
    assert "no entry notebook" in lines[0], lines
    assert read_release_metadata(project.root / "releases.lock.yaml")["2.0.0"].entry_notebook == ""
    values = with_releases(base_values(), ["2.0.0"], "2.0.0")
    partial = Evaluation()
    with pytest.raises(Exception) as caught:
        project.evaluate(values, into=partial)
    message = str(caught.value)
    assert "release 2.0.0 (live) was published without an entry notebook" in message, message
    assert "give databricks-cicd:job tasks" in message, message
    assert not partial.resources, sorted(partial.resources)
    # The same release runs under a job that names its task.
    values["job"] = {
        **values["job"],
        "tasks": [
            {"taskKey": "orders", "sqlFile": {"path": "src/orders.sql", "warehouseId": "abc"}}
        ],
    }
    evaluation = project.evaluate(values)
    job = evaluation.resources[JOB].inputs
    assert job["tasks"][0]["sqlTask"]["file"]["path"].endswith("/releases/2.0.0/src/orders.sql")


def test_the_lock_refuses_an_empty_entry_for_a_built_release(tmp_path: Path) -> None:
    from cicd.releases.lock import LockError, read_lock_document

    lock = tmp_path / "releases.lock.yaml"
    lock.write_text(
        "releases:\n  1.0.0:\n    notebooks/main.py: sha256:00\n"
        "metadata:\n  1.0.0:\n    entryNotebook: ''\n    origin: build\n"
    )
    with pytest.raises(LockError, match="needs entryNotebook"):
        read_lock_document(lock)


def _zip(path: Path, members: dict[str, str]) -> Path:
    import zipfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in members.items():
            archive.writestr(zipfile.ZipInfo(member, (1980, 1, 1, 0, 0, 0)), text)
    return path


def _wheel(folder: Path, file_name: str, dist_info: str, name: str, version: str) -> Path:
    return _zip(
        folder / file_name,
        {
            "lib/__init__.py": "",
            f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
            f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        },
    )


def test_publish_refuses_libraries_that_would_not_install_naming_each_file(
    repo: SandboxProject, outside: tuple[OutsideTree, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    tree, good = outside
    bad = good.parent / "bad"
    bad.mkdir()
    empty = bad / "empty_lib-1.0.0-py3-none-any.whl"
    empty.write_bytes(b"")
    text = bad / "text_lib-1.0.0-py3-none-any.whl"
    text.write_text("404 Not Found\n")
    renamed = shutil.copy(good, bad / "other_team_lib-3.5.0-py3-none-any.whl")
    other_name = _wheel(
        bad, "their_lib-1.0-py3-none-any.whl", "their_lib-1.0.dist-info", "mine", "1.0"
    )
    no_info = _zip(bad / "bare_lib-1.0-py3-none-any.whl", {"bare_lib/__init__.py": ""})
    jar = bad / "udfs-1.2.jar"
    jar.write_bytes(b"\xca\xfe\xba\xbe not a zip")
    empty_jar = bad / "empty-1.0.jar"
    empty_jar.write_bytes(b"")
    lock = (repo.root / "releases.lock.yaml").read_bytes()
    libraries = [empty, text, Path(renamed), other_name, no_info, jar, empty_jar]
    argv = ["publish", "2.0.0", "--notebooks", str(tree.root), "--entry", tree.entry]
    for library in libraries:
        argv += ["--library", str(library)]
    assert main(argv, project_dir=repo.root) == 1
    err = capsys.readouterr().err
    assert "libraries that would not install" in err and "7 problem(s)" in err, err
    for expected in (
        f"{empty}: is empty (0 bytes)",
        f"{text}: is not a zip archive",
        f"{renamed}: the file name says other-team-lib 3.5.0, its METADATA says other_team_lib 3.4.0",
        f"{other_name}: the file name says their-lib 1.0, its METADATA says mine 1.0",
        f"{no_info}: needs exactly one top-level <name>-<version>.dist-info folder",
        f"{jar}: is not a zip archive",
        f"{empty_jar}: is empty (0 bytes)",
    ):
        assert expected in err, f"missing {expected!r} in:\n{err}"
    assert "publish the file exactly as its build named and wrote it" in err, err
    assert (repo.root / "releases.lock.yaml").read_bytes() == lock
    assert not (repo.root / "releases" / "2.0.0").exists()


def test_publish_accepts_a_wheel_whose_names_differ_only_as_pip_normalises_them(
    repo: SandboxProject, outside: tuple[OutsideTree, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    tree, _ = outside
    folder = tree.root.parent / "normalised"
    wheel = _wheel(
        folder, "Other.Lib-2.0-py3-none-any.whl", "other_lib-2.0.0.dist-info", "other-lib", "2.0.0"
    )
    jar = _zip(folder / "udfs-1.2.jar", {"META-INF/MANIFEST.MF": "Manifest-Version: 1.0\n"})
    argv = ["publish", "2.0.0", "--notebooks", str(tree.root), "--entry", tree.entry]
    assert (
        main([*argv, "--library", str(wheel), "--library", str(jar)], project_dir=repo.root) == 0
    ), capsys.readouterr().err
    assert set(read_lock(repo.root / "releases.lock.yaml")["2.0.0"]) >= {
        "libraries/Other.Lib-2.0-py3-none-any.whl",
        "libraries/udfs-1.2.jar",
    }


def test_publish_called_with_a_version_that_escapes_its_folder_writes_nothing(
    repo: SandboxProject, outside: tuple[OutsideTree, Path]
) -> None:
    """The library function itself refuses (not only the command line's argument check)."""
    from cicd.releases.publish import PublishError, publish

    tree, wheel = outside
    before = snapshot(repo.root.parent)
    for version in ("../escaped", "a/b", "", " 2.0"):
        with pytest.raises(PublishError, match="plain identifier"):
            publish(repo.root, version, tree.root, [wheel], tree.entry)
    assert snapshot(repo.root.parent) == before


def test_two_publishes_at_once_lose_no_lock_entry(
    repo: SandboxProject,
    outside: tuple[OutsideTree, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """2.1.0 is published while 2.0.0's publish copies its files: 2.0.0's then refuses to write
    a lock without 2.1.0, names that change, and succeeds when run again."""
    import cicd.releases.publish as publishing

    tree, wheel = outside
    real_place = publishing.place
    inner: list[int] = []

    def place_while_another_publishes(*args: Any, **kwargs: Any) -> Any:
        if not inner:
            inner.append(-1)  # the inner publish places its files with the real function
            inner[0] = publish_outside(repo.root, "2.1.0", tree, wheel, "--entry", tree.entry)
        return real_place(*args, **kwargs)

    monkeypatch.setattr(publishing, "place", place_while_another_publishes)
    assert publish_outside(repo.root, "2.0.0", tree, wheel, "--entry", tree.entry) == 1
    assert inner == [0]
    err = capsys.readouterr().err
    assert "releases.lock.yaml: changed while `python -m cicd.release publish 2.0.0` ran" in err
    assert "+  2.1.0:" in err, err
    monkeypatch.undo()
    assert publish_outside(repo.root, "2.0.0", tree, wheel, "--entry", tree.entry) == 0
    assert {"1.1.0", "2.0.0", "2.1.0"} == set(read_lock(repo.root / "releases.lock.yaml"))


def test_a_read_only_lock_is_a_message_and_nothing_is_copied(
    repo: SandboxProject, outside: tuple[OutsideTree, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    tree, wheel = outside
    lock = repo.root / "releases.lock.yaml"
    lock.chmod(0o444)
    try:
        assert publish_outside(repo.root, "2.0.0", tree, wheel, "--entry", tree.entry) == 1
    finally:
        lock.chmod(0o644)
    err = capsys.readouterr().err
    assert "releases.lock.yaml: is read-only (mode -r--r--r--)" in err, err
    assert "Traceback" not in err and not (repo.root / "releases" / "2.0.0").exists()
