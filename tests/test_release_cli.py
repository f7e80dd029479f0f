"""`python -m cicd.release`: reproducible builds recorded in the lock, refusal to republish a
version with other content, and bringing kept releases back (from a git tag or the tree)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from cicd.release import main
from cicd.releases.lock import read_lock, write_lock
from tests.conftest import REPO, base_values


def git(project: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(project), *args], check=True, capture_output=True)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git repo holding a copy of the example pipeline, as a team's repo would."""
    root = tmp_path / "repo"
    shutil.copytree(
        REPO / "pipeline",
        root / "pipeline",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "build", "dist"),
    )
    git(root, "init", "-q")
    git(root, "-c", "user.email=ci@example.com", "-c", "user.name=ci", "add", "-A")
    git(root, "-c", "user.email=ci@example.com", "-c", "user.name=ci", "commit", "-qm", "pipeline")
    return root


def stack_file(project: Path, kept: list[str], live: str) -> None:
    values = base_values()
    values["releases"] = {"kept": [{"version": v} for v in kept], "live": live}
    config = {f"databricks-cicd:{k}": v for k, v in values.items()}
    (project / "Pulumi.prod.yaml").write_text(yaml.safe_dump({"config": config}))


def forget_sources(project: Path) -> None:
    """A lock written where git was not available: it names no source trees."""
    lock = project / "releases.lock.yaml"
    write_lock(lock, read_lock(lock))


def change_library(project: Path) -> None:
    module = project / "pipeline" / "src" / "etl_pipeline" / "orders.py"
    module.write_text(module.read_text() + "\n# a change after 1.0.0\n")


def test_build_records_a_new_version_and_rebuilds_identically(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "1.0.0"], project_dir=project) == 0, capsys.readouterr().err
    lock = read_lock(project / "releases.lock.yaml")
    assert sorted(lock["1.0.0"]) == sorted(
        [
            "libraries/etl_pipeline-1.0.0-py3-none-any.whl",
            "notebooks/config/defaults.json",
            "notebooks/main.py",
            "notebooks/pipelines/orders/orders_bronze.py",
            "notebooks/quality/orders_quality.py",
            "notebooks/tasks/check_source.py",
            "notebooks/tasks/publish_report.py",
            "notebooks/transforms/clean_orders.sql",
            "notebooks/transforms/explore_orders.py",
        ]
    ), lock
    wheel = project / "dist/releases/1.0.0/libraries/etl_pipeline-1.0.0-py3-none-any.whl"
    first = wheel.read_bytes()
    shutil.rmtree(project / "dist")
    assert main(["build", "1.0.0"], project_dir=project) == 0
    assert wheel.read_bytes() == first, "the same source built twice gave different wheels"
    assert "identical to releases.lock.yaml" in capsys.readouterr().out


def test_republishing_a_version_with_other_content_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "1.0.0"], project_dir=project) == 0
    recorded = (project / "releases.lock.yaml").read_text()
    change_library(project)
    assert main(["build", "1.0.0"], project_dir=project) == 1
    err = capsys.readouterr().err
    assert "libraries/etl_pipeline-1.0.0-py3-none-any.whl changed since it was published" in err, (
        err
    )
    assert "build the change as a new version" in err, err
    assert (project / "releases.lock.yaml").read_text() == recorded, "the lock was rewritten"


def test_a_build_requirement_that_is_not_installed_is_named_before_anything_builds(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pyproject = project / "pipeline" / "pyproject.toml"
    text = pyproject.read_text()
    pinned = 'requires = ["hatchling==1.33.0"]'
    assert pinned in text, text[:400]
    pyproject.write_text(
        text.replace(pinned, 'requires = ["hatchling==1.33.0", "etl-build-helper-nobody-has==9.9"]')
    )
    assert main(["build", "1.0.0"], project_dir=project) == 1
    err = capsys.readouterr().err
    assert "etl-build-helper-nobody-has==9.9 not installed" in err, err
    assert "./scripts/install" in err, err
    assert "hatchling" not in err.split("failed:", 1)[1], f"hatchling is installed: {err}"
    assert not (project / "dist").exists(), "a release was placed although nothing was built"
    assert not (project / "releases.lock.yaml").exists(), "the lock was written"


def test_version_that_could_escape_its_folder_is_a_usage_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["build", "../1.0"], project_dir=project)
    assert exited.value.code == 2
    assert "not a plain identifier" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("version", "fragment"),
    [("1.0.0-rc1", "use '1.0.0rc1'"), ("release-one", "not a Python package version")],
)
def test_version_the_wheel_would_spell_differently_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str], version: str, fragment: str
) -> None:
    assert main(["build", version], project_dir=project) == 1
    assert fragment in capsys.readouterr().err
    assert not (project / "releases.lock.yaml").exists()


def test_ensure_restores_every_release_from_its_recorded_tree(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "1.0.0"], project_dir=project) == 0
    git(project, "tag", "v1.0.0")  # a tag on the same tree is fine, and not what is built from
    change_library(project)
    assert main(["build", "1.1.0"], project_dir=project) == 0
    shutil.rmtree(project / "dist")  # a fresh CI machine
    stack_file(project, ["1.0.0", "1.1.0"], "1.1.0")
    capsys.readouterr()
    assert main(["ensure", "--stack", "prod"], project_dir=project) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "1.0.0: restored from source tree" in out, out
    assert "1.1.0: restored from" in out, out
    assert (project / "dist/releases/1.0.0/libraries/etl_pipeline-1.0.0-py3-none-any.whl").is_file()


def test_ensure_refuses_a_release_whose_lock_records_no_tree_even_with_a_tag(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tag is not reviewed: without a recorded tree nothing is rebuilt, from the tag or the
    working tree (which may build the same bytes, but is not what the lock vouches for)."""
    assert main(["build", "1.0.0"], project_dir=project) == 0
    git(project, "tag", "v1.0.0")
    forget_sources(project)
    shutil.rmtree(project / "dist")
    stack_file(project, ["1.0.0"], "1.0.0")
    assert main(["ensure", "--stack", "prod"], project_dir=project) == 1
    err = capsys.readouterr().err
    assert "releases.lock.yaml records no source tree for it" in err, err
    assert "cicd.release build 1.0.0" in err, err
    assert not (project / "dist").exists(), "something was built"


def test_ensure_refuses_an_unpublished_release(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack_file(project, ["2.0.0"], "2.0.0")
    assert main(["ensure", "--stack", "prod"], project_dir=project) == 1
    assert "2.0.0 (kept by stack prod) is not in releases.lock.yaml" in capsys.readouterr().err


def test_restore_needs_the_recorded_source_tree(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "1.0.0"], project_dir=project) == 0
    forget_sources(project)
    assert main(["restore", "1.0.0"], project_dir=project) == 1
    err = capsys.readouterr().err
    assert "cannot rebuild 1.0.0: releases.lock.yaml records no source tree" in err, err


def test_restore_refuses_a_recorded_tree_missing_from_the_clone(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "1.0.0"], project_dir=project) == 0
    lock = project / "releases.lock.yaml"
    missing = "0123456789abcdef0123456789abcdef01234567"
    lock.write_text(
        lock.read_text().replace(yaml.safe_load(lock.read_text())["sources"]["1.0.0"], missing)
    )
    assert main(["restore", "1.0.0"], project_dir=project) == 1
    err = capsys.readouterr().err
    assert f"its source tree {missing}" in err and "is not in this clone" in err, err


def test_ensure_rebuilds_from_the_recorded_source_tree_without_a_tag(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "1.0.0"], project_dir=project) == 0  # built from the committed tree
    tree = yaml.safe_load((project / "releases.lock.yaml").read_text())["sources"]["1.0.0"]
    head_tree = subprocess.run(
        ["git", "-C", str(project), "rev-parse", "HEAD:pipeline"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert tree == head_tree, (
        f"recorded source tree {tree} is not the committed pipeline/ {head_tree}"
    )
    change_library(project)  # the team moves on; no tag was ever made
    shutil.rmtree(project / "dist")
    stack_file(project, ["1.0.0"], "1.0.0")
    capsys.readouterr()
    assert main(["ensure", "--stack", "prod"], project_dir=project) == 0, capsys.readouterr().err
    assert f"1.0.0: restored from source tree {tree[:12]}" in capsys.readouterr().out


def test_the_repo_lock_records_where_each_release_came_from() -> None:
    lock = yaml.safe_load((REPO / "releases.lock.yaml").read_text())
    assert set(lock["sources"]) == set(lock["releases"]), lock.get("sources")
    for version, tree in lock["sources"].items():
        found = subprocess.run(
            ["git", "-C", str(REPO), "cat-file", "-t", tree],
            capture_output=True,
            text=True,
            check=False,
        )
        assert found.stdout.strip() == "tree", (
            f"{version}: source tree {tree} is not in this repo's history"
        )


def test_check_lock_accepts_a_lock_that_only_grew(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "1.0.0"], project_dir=project) == 0
    base = project.parent / "base.lock.yaml"
    shutil.copy(project / "releases.lock.yaml", base)
    change_library(project)
    assert main(["build", "1.1.0"], project_dir=project) == 0
    capsys.readouterr()
    assert main(["check-lock", "--base", str(base)], project_dir=project) == 0
    assert "1 published release(s) unchanged; new: 1.1.0" in capsys.readouterr().out


@pytest.mark.parametrize("tamper", ["rewrite", "drop"])
def test_check_lock_refuses_a_rewritten_or_dropped_release(
    project: Path, capsys: pytest.CaptureFixture[str], tamper: str
) -> None:
    assert main(["build", "1.0.0"], project_dir=project) == 0
    base = project.parent / "base.lock.yaml"
    shutil.copy(project / "releases.lock.yaml", base)
    lock = read_lock(project / "releases.lock.yaml")
    if tamper == "rewrite":
        lock["1.0.0"]["notebooks/main.py"] = "sha256:" + "0" * 64
        expected = "release 1.0.0: notebooks/main.py changed since it was published"
    else:
        del lock["1.0.0"]
        expected = "release 1.0.0 was removed from releases.lock.yaml"
    write_lock(project / "releases.lock.yaml", lock)
    assert main(["check-lock", "--base", str(base)], project_dir=project) == 1
    err = capsys.readouterr().err
    assert expected in err and "may only gain releases" in err, err


def plant_foreign_content(folder: Path) -> dict[Path, bytes]:
    """What a user puts into a release folder by hand: another team's wheel, an edited notebook,
    a notebook of their own. Returns every planted file's bytes."""
    planted = {
        folder / "libraries" / "other_team_lib-3.4.0-py3-none-any.whl": b"another build's wheel",
        folder
        / "notebooks"
        / "main.py": b"# Databricks notebook source\nprint('edited by hand')\n",
        folder
        / "notebooks"
        / "mine"
        / "01.5-Delta-pipeline.py": b"# Databricks notebook source\n1\n",
    }
    for path, data in planted.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return planted


def assert_intact(planted: dict[Path, bytes]) -> None:
    for path, data in planted.items():
        assert path.read_bytes() == data, f"{path} was changed or deleted"


def assert_names_foreign_files(err: str, folder: Path, command: str) -> None:
    assert f"{folder}: holds 3 file(s) that are not release" in err, err
    assert "nothing was deleted or overwritten" in err, err
    assert "libraries/other_team_lib-3.4.0-py3-none-any.whl (not part of the release)" in err, err
    assert "notebooks/main.py (differs from the published bytes)" in err, err
    assert "notebooks/mine/01.5-Delta-pipeline.py (not part of the release)" in err, err
    assert "python -m cicd.release publish" in err and f"run `{command}` again" in err, err


def test_restore_never_deletes_or_overwrites_foreign_content(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "1.0.0"], project_dir=project) == 0
    folder = project / "dist/releases/1.0.0"
    shutil.rmtree(folder / "notebooks" / "transforms")  # partly missing: restore would copy it
    planted = plant_foreign_content(folder)
    capsys.readouterr()
    assert main(["restore", "1.0.0"], project_dir=project) == 1
    assert_names_foreign_files(
        capsys.readouterr().err, folder, "python -m cicd.release restore 1.0.0"
    )
    assert_intact(planted)
    assert not (folder / "notebooks" / "transforms").exists(), "restore changed the folder"


def test_ensure_never_deletes_or_overwrites_foreign_content(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "1.0.0"], project_dir=project) == 0
    stack_file(project, ["1.0.0"], "1.0.0")
    planted = plant_foreign_content(project / "dist/releases/1.0.0")
    capsys.readouterr()
    assert main(["ensure", "--stack", "prod"], project_dir=project) == 1
    err = capsys.readouterr().err
    assert_names_foreign_files(
        err, project / "dist/releases/1.0.0", "python -m cicd.release restore 1.0.0"
    )
    assert_intact(planted)


def test_ensure_refuses_unrecorded_content_naming_publish_and_leaves_it(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's first report: content from elsewhere under dist/releases/<version>/, then
    `ensure`. It used to be replaced by the example pipeline; now it is refused and kept."""
    stack_file(project, ["2.0.0"], "2.0.0")
    planted = plant_foreign_content(project / "dist/releases/2.0.0")
    assert main(["ensure", "--stack", "prod"], project_dir=project) == 1
    err = capsys.readouterr().err
    assert "2.0.0 (kept by stack prod) is not in releases.lock.yaml" in err, err
    assert "python -m cicd.release publish 2.0.0 --notebooks DIR --library FILE" in err, err
    assert_intact(planted)


def test_build_never_deletes_or_overwrites_foreign_content(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    planted = plant_foreign_content(project / "dist/releases/2.0.0")
    assert main(["build", "2.0.0"], project_dir=project) == 1
    err = capsys.readouterr().err
    assert "holds 3 file(s) that are not release 2.0.0 as published" in err, err
    assert "python -m cicd.release publish 2.0.0 --notebooks" in err, err
    assert_intact(planted)
    assert not (project / "releases.lock.yaml").exists(), "recorded content it did not place"


def test_restore_completes_a_partial_folder_without_touching_identical_files(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "1.0.0"], project_dir=project) == 0
    folder = project / "dist/releases/1.0.0"
    wheel = folder / "libraries/etl_pipeline-1.0.0-py3-none-any.whl"
    before = wheel.stat().st_mtime_ns
    (folder / "notebooks/main.py").unlink()
    capsys.readouterr()
    assert main(["restore", "1.0.0"], project_dir=project) == 0, capsys.readouterr().err
    assert "(copied 1 file(s))" in capsys.readouterr().out
    assert (folder / "notebooks/main.py").is_file() and wheel.stat().st_mtime_ns == before


def test_check_lock_reads_the_base_from_a_pipe_once(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check-lock --base <(git show main:releases.lock.yaml)`: the base is a pipe, readable once."""
    import sys

    assert main(["build", "1.0.0"], project_dir=project) == 0
    git(project, "add", "-A")
    git(project, "-c", "user.email=ci@example.com", "-c", "user.name=ci", "commit", "-qm", "1.0")
    change_library(project)
    assert main(["build", "1.1.0"], project_dir=project) == 0
    script = (
        "import sys; from pathlib import Path; from cicd.release import main;"
        " sys.exit(main(['check-lock', '--base', sys.argv[1]], project_dir=Path(sys.argv[2])))"
    )
    done = subprocess.run(
        [
            "bash",
            "-c",
            f'"{sys.executable}" -c "$0" <(git -C "$1" show HEAD:releases.lock.yaml) "$1"',
            script,
            str(project),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "1 published release(s) unchanged; new: 1.1.0" in done.stdout, done.stdout


def test_check_lock_refuses_a_base_that_does_not_exist(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "1.0.0"], project_dir=project) == 0
    capsys.readouterr()
    missing = project.parent / "no-such.lock.yaml"
    assert main(["check-lock", "--base", str(missing)], project_dir=project) == 1
    err = capsys.readouterr().err
    assert f"--base {missing}: no such file" in err and "git show" in err, err


def test_restore_refuses_a_rebuild_whose_bytes_differ_from_the_lock(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tag v1.0.0 put on a later commit is refused before anything builds (releases are
    rebuilt from the tree the lock records, never from a tag); and a rebuild of the recorded
    tree whose bytes differ from the lock (a build that is not reproducible) is placed nowhere,
    the message naming the file and how to get the published bytes."""
    assert main(["build", "1.0.0"], project_dir=project) == 0
    published = read_lock(project / "releases.lock.yaml")["1.0.0"]
    change_library(project)
    identity = ["-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    git(project, *identity, "commit", "-qam", "later work")
    git(project, *identity, "tag", "v1.0.0")
    shutil.rmtree(project / "dist")
    lock = (project / "releases.lock.yaml").read_bytes()
    capsys.readouterr()
    assert main(["restore", "1.0.0"], project_dir=project) == 1
    err = capsys.readouterr().err
    assert "tag v1.0.0 holds pipeline/ tree" in err and "nothing was built" in err, err
    assert not (project / "dist").exists(), "something was built"
    assert (project / "releases.lock.yaml").read_bytes() == lock

    git(project, "tag", "-d", "v1.0.0")
    wheel = next(name for name in published if name.endswith(".whl"))
    lock_file = project / "releases.lock.yaml"
    lock_file.write_text(lock_file.read_text().replace(published[wheel], "sha256:" + "0" * 64))
    assert main(["restore", "1.0.0"], project_dir=project) == 1
    err = capsys.readouterr().err
    assert f"release 1.0.0: {wheel} changed since it was published" in err, err
    assert "Releases are immutable" in err, err
    assert not (project / "dist" / "releases" / "1.0.0").exists(), "a differing rebuild was placed"
