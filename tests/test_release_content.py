"""Release folders: import rules (notebook vs workspace file), refusals, and the lock check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cicd.releases.content import ReleaseContentError, scan_notebooks, scan_release
from cicd.releases.lock import LockError, read_lock, verify, write_lock
from tests.conftest import PY_NOTEBOOK, SandboxProject


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_languages_come_from_extension_and_header(tmp_path: Path) -> None:
    write(tmp_path, "main.py", "# Databricks notebook source\n1")
    write(tmp_path, "q/report.sql", "-- Databricks notebook source\nSELECT 1")
    write(tmp_path, "q/job.scala", "// Databricks notebook source\nval x = 1")
    write(tmp_path, "q/model.r", "# Databricks notebook source\nx <- 1")
    write(
        tmp_path,
        "q/lab.ipynb",
        json.dumps({"cells": [], "metadata": {"kernelspec": {"language": "python"}}}),
    )
    notebooks, files, _ = scan_notebooks(tmp_path)
    found = {n.workspace_name: (n.language, n.format) for n in notebooks}
    assert found == {
        "main": ("PYTHON", "SOURCE"),
        "q/report": ("SQL", "SOURCE"),
        "q/job": ("SCALA", "SOURCE"),
        "q/model": ("R", "SOURCE"),
        "q/lab": ("PYTHON", "JUPYTER"),
    }, found
    assert files == (), files


def test_files_that_are_not_notebooks_become_workspace_files(tmp_path: Path) -> None:
    write(tmp_path, "main.py", "# Databricks notebook source\n1")
    write(tmp_path, "helpers.py", "def helper(): ...\n")  # no header: a module, not a notebook
    write(tmp_path, "config/defaults.json", "{}")
    notebooks, files, _ = scan_notebooks(tmp_path)
    assert [n.workspace_name for n in notebooks] == ["main"]
    assert [f.relative_path for f in files] == ["config/defaults.json", "helpers.py"], files


@pytest.mark.parametrize(
    "junk", [".DS_Store", "__pycache__/main.cpython-311.pyc", "sub/.hidden.py"]
)
def test_hidden_files_and_caches_are_refused_not_dropped(tmp_path: Path, junk: str) -> None:
    write(tmp_path, "main.py", "# Databricks notebook source\n1")
    write(tmp_path, junk, "x")
    with pytest.raises(ReleaseContentError, match="hidden files and __pycache__ are not published"):
        scan_notebooks(tmp_path)


def test_two_files_publishing_to_one_path_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "report.py", "# Databricks notebook source\n1")
    write(tmp_path, "report.sql", "-- Databricks notebook source\nSELECT 1")
    with pytest.raises(ReleaseContentError) as caught:
        scan_notebooks(tmp_path)
    assert "'report.py' and 'report.sql' would both be published as 'report'" in str(caught.value)


def test_release_needs_a_library(sandbox: SandboxProject) -> None:
    folder = sandbox.add_release("1.0.0", libraries={}, lock=False)
    with pytest.raises(ReleaseContentError, match="no built library"):
        scan_release(folder)


def test_release_refuses_unexpected_entries(sandbox: SandboxProject) -> None:
    folder = sandbox.add_release("1.0.0", lock=False)
    (folder / "README.txt").write_text("x")
    with pytest.raises(ReleaseContentError, match="unexpected 'README.txt'"):
        scan_release(folder)
    (folder / "README.txt").unlink()
    (folder / "libraries" / "notes.txt").write_text("x")
    with pytest.raises(
        ReleaseContentError, match="notes.txt: libraries/ holds only built .whl or .jar"
    ):
        scan_release(folder)


def test_missing_release_folder_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(ReleaseContentError, match="python -m cicd.release build"):
        scan_release(tmp_path / "dist" / "releases" / "9.9.9")


def test_changed_file_is_named(sandbox: SandboxProject) -> None:
    folder = sandbox.add_release("1.0.0")
    (folder / "notebooks" / "transforms" / "explore.py").write_text(PY_NOTEBOOK.format("edited"))
    lock = read_lock(sandbox.root / "releases.lock.yaml")
    with pytest.raises(LockError) as caught:
        verify("1.0.0", lock, scan_release(folder))
    message = str(caught.value)
    assert (
        "release 1.0.0: notebooks/transforms/explore.py changed since it was published" in message
    )
    assert "publish the change as a new version" in message


def test_added_and_removed_files_are_named(sandbox: SandboxProject) -> None:
    folder = sandbox.add_release("1.0.0")
    (folder / "notebooks" / "config" / "defaults.json").unlink()
    (folder / "notebooks" / "extra.py").write_text(PY_NOTEBOOK.format("new"))
    lock = read_lock(sandbox.root / "releases.lock.yaml")
    with pytest.raises(LockError) as caught:
        verify("1.0.0", lock, scan_release(folder))
    message = str(caught.value)
    assert "notebooks/config/defaults.json was published but is missing" in message, message
    assert "notebooks/extra.py is new" in message, message


def test_unlocked_release_is_refused(sandbox: SandboxProject) -> None:
    folder = sandbox.add_release("2.0.0", lock=False)
    with pytest.raises(LockError, match="release 2.0.0 is not in releases.lock.yaml"):
        verify("2.0.0", {}, scan_release(folder))


def test_lock_round_trip_is_sorted_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "releases.lock.yaml"
    write_lock(path, {"1.10.0": {"b": "sha256:2", "a": "sha256:1"}, "1.2.0": {"x": "sha256:3"}})
    first = path.read_text()
    write_lock(path, read_lock(path))
    assert path.read_text() == first
    assert read_lock(path) == {
        "1.10.0": {"a": "sha256:1", "b": "sha256:2"},
        "1.2.0": {"x": "sha256:3"},
    }


def test_corrupt_lock_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "releases.lock.yaml"
    path.write_text("releases: [1, 2]\n")
    with pytest.raises(LockError, match="restore it from git"):
        read_lock(path)
