"""Release folders: import rules (notebook vs workspace file), refusals reported all at once,
workspace limits, and the lock (digests and per-release metadata)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from cicd.releases.content import ReleaseContentError, entry_problem, scan_notebooks, scan_release
from cicd.releases.lock import (
    LockError,
    ReleaseMetadata,
    check_lock_grows,
    read_lock,
    read_release_metadata,
    verify,
    write_lock,
)
from tests.conftest import PY_NOTEBOOK, REPO, SandboxProject


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
    message = str(caught.value)
    assert "files that would be published at the same workspace path (1):" in message, message
    assert "- report.py and report.sql (both 'report'): rename one of them" in message, message


def test_a_release_without_libraries_is_a_notebooks_only_release(sandbox: SandboxProject) -> None:
    folder = sandbox.add_release("1.0.0", libraries={}, lock=False)
    content = scan_release(folder)
    assert content.libraries == () and "main" in content.notebook_names(), content


def test_release_refuses_unexpected_entries(sandbox: SandboxProject) -> None:
    folder = sandbox.add_release("1.0.0", lock=False)
    (folder / "README.txt").write_text("x")
    (folder / "libraries" / "notes.txt").write_text("x")
    with pytest.raises(ReleaseContentError) as caught:
        scan_release(folder)
    message = str(caught.value)  # both at once
    assert "(only notebooks/ and libraries/) (1):\n    - README.txt: move it out" in message
    assert "libraries/notes.txt (neither .whl nor .jar): give a built .whl or .jar" in message


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


def test_dots_and_spaces_in_names_are_not_extensions(tmp_path: Path) -> None:
    write(tmp_path, "01.5-Delta-pipeline.py", "# Databricks notebook source\n1")
    write(tmp_path, "1. setup.sql", "-- Databricks notebook source\nSELECT 1")
    write(tmp_path, "v1.2 area/nb.step-3.scala", "// Databricks notebook source\nval x = 1")
    write(tmp_path, "v1.2 area/data.v2.csv", "a,b\n")
    notebooks, files, _ = scan_notebooks(tmp_path)
    assert sorted(n.workspace_name for n in notebooks) == [
        "01.5-Delta-pipeline",
        "1. setup",
        "v1.2 area/nb.step-3",
    ], notebooks
    assert [f.relative_path for f in files] == ["v1.2 area/data.v2.csv"], files
    assert entry_problem(notebooks, "01.5-Delta-pipeline") is None


def test_every_problem_of_a_tree_is_reported_at_once_grouped_and_capped(tmp_path: Path) -> None:
    write(tmp_path, "main.py", "# Databricks notebook source\n1")
    for index in range(25):  # one kind with many problems: capped
        write(tmp_path, f"area{index:02d}/.DS_Store", "x")
    write(tmp_path, "__pycache__/main.cpython-311.pyc", "x")
    write(tmp_path, "report.py", "# Databricks notebook source\n1")
    write(tmp_path, "report.sql", "-- Databricks notebook source\nSELECT 1")
    write(tmp_path, "a/utils.py", "# Databricks notebook source\n1")
    write(tmp_path, "a/utils/x.py", "# Databricks notebook source\n1")
    (tmp_path / "bom.py").write_bytes(b"\xef\xbb\xbf# Databricks notebook source\n1")
    write(tmp_path, "lab.ipynb", "{not json")
    write(tmp_path, "tab\there.py", "# Databricks notebook source\n1")
    (tmp_path / "link.py").symlink_to(tmp_path / "main.py")
    with pytest.raises(ReleaseContentError) as caught:
        scan_notebooks(tmp_path)
    message = str(caught.value)
    lines = message.splitlines()
    assert lines[0] == f"{tmp_path}: 32 problem(s) in the content; nothing was published:", lines[0]
    for heading in (
        "hidden files and __pycache__ are not published (a build never copies them) (26):",
        "symbolic links are not published (1):",
        "names the workspace cannot hold (control characters, or bytes that are not UTF-8) (1):",
        "files that would be published at the same workspace path (1):",
        "notebooks published at the path of a folder (the workspace holds one object per path) (1):",
        "a UTF-8 byte-order mark before the notebook header: refused, not stripped",
        ".ipynb files that are not valid JSON (1):",
    ):
        assert any(line.strip().startswith(heading) for line in lines), (heading, message)
    file_lines = [line for line in lines if line.startswith("    - ")]
    assert len(file_lines) == 20, message  # the cap, shared between the kinds
    assert "    ... and 12 more" in lines, message  # 26 hidden, 14 shown
    assert "- __pycache__: remove it from the tree" in message, message
    assert "- link.py: copy the file in instead of linking it" in message, message
    assert "- 'tab\\there.py': rename it" in message, message
    assert (
        "- a/utils.py (published as 'a/utils', the path of the folder holding"
        " a/utils/x.py): rename the notebook or the folder" in message
    ), message
    assert "- bom.py: save it as UTF-8 without BOM" in message, message
    assert "- lab.ipynb: fix or remove it" in message, message
    assert (tmp_path / "bom.py").read_bytes().startswith(b"\xef\xbb\xbf"), "the file was changed"


def test_a_name_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "main.py", "# Databricks notebook source\n1")
    with open(os.path.join(os.fsencode(tmp_path), b"caf\xe9.py"), "wb") as handle:
        handle.write(b"# Databricks notebook source\n1")
    with pytest.raises(ReleaseContentError) as caught:
        scan_notebooks(tmp_path)
    assert "- 'caf\\udce9.py': rename it" in str(caught.value), str(caught.value)


def test_a_notebook_over_the_import_limit_is_refused_with_its_size(tmp_path: Path) -> None:
    header = b"# Databricks notebook source\n"
    size = 7_864_321  # one byte more than 10 MB of base64 holds
    (tmp_path / "big.py").write_bytes(header + b"x" * (size - len(header)))
    (tmp_path / "big.csv").write_bytes(b"x" * size)  # a workspace file: not a notebook import
    (tmp_path / "fits.py").write_bytes(header + b"x" * (7_864_320 - len(header)))
    with pytest.raises(ReleaseContentError) as caught:
        scan_notebooks(tmp_path)
    message = str(caught.value)
    assert "notebooks over the workspace import limit" in message, message
    assert (
        "- big.py (7864321 bytes, 10485764 as base64; at most 10485760): split it,"
        " or clear its outputs" in message
    ), message
    assert "fits.py" not in message and "big.csv" not in message, message


def test_a_missing_entry_notebook_message_stays_short_in_a_large_tree(tmp_path: Path) -> None:
    for index in range(1000):
        write(tmp_path, f"area{index % 10}/notebook_{index:04d}.py", PY_NOTEBOOK.format(index))
    notebooks, _, _ = scan_notebooks(tmp_path)
    problem = entry_problem(notebooks, "area3/notebook_0003x")
    assert problem is not None and len(problem) < 200, problem
    assert problem.startswith(
        "has no notebook 'area3/notebook_0003x' (1000 notebook(s); closest: 'area3/notebook_0003'"
    ), problem
    assert entry_problem(notebooks, "area3/notebook_0003.py") == (
        "has no notebook 'area3/notebook_0003.py' (that is the file: name the notebook without"
        " its extension, 'area3/notebook_0003')"
    )


def test_lock_entries_written_before_metadata_read_as_built_with_entry_main(
    tmp_path: Path,
) -> None:
    path = tmp_path / "releases.lock.yaml"
    path.write_text("releases:\n  1.0.0:\n    notebooks/main.py: sha256:1\n")
    assert read_release_metadata(path) == {"1.0.0": ReleaseMetadata("main", "build")}


def test_the_repo_lock_migration_kept_every_digest_and_passes_check_lock(tmp_path: Path) -> None:
    """The lock as it was before metadata existed is the base: the migrated lock only grew."""
    current = REPO / "releases.lock.yaml"
    document = yaml.safe_load(current.read_text())
    assert document["metadata"] == {
        v: {"entryNotebook": "main", "origin": "build"}
        for v in ("1.0.0", "1.1.0", "1.2.0", "1.3.0")
    }, document["metadata"]
    base = tmp_path / "base.lock.yaml"
    base.write_text(yaml.safe_dump({k: v for k, v in document.items() if k != "metadata"}))
    assert read_lock(base) == read_lock(current)
    assert check_lock_grows(base, current) == [
        "releases.lock.yaml: 4 published release(s) unchanged"
    ]


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        (
            ReleaseMetadata("other"),
            "release 1.0.0: entryNotebook changed since it was published ('main' -> 'other')",
        ),
        (
            ReleaseMetadata("main", "publish", "releases/1.0.0"),
            "release 1.0.0: origin changed since it was published ('build' -> 'publish')",
        ),
    ],
)
def test_check_lock_refuses_changed_metadata(
    tmp_path: Path, metadata: ReleaseMetadata, expected: str
) -> None:
    base, current = tmp_path / "base.yaml", tmp_path / "current.yaml"
    digests = {"1.0.0": {"notebooks/main.py": "sha256:1"}}
    write_lock(base, digests)
    write_lock(current, digests, None, {"1.0.0": metadata})
    with pytest.raises(LockError) as caught:
        check_lock_grows(base, current)
    assert expected in str(caught.value), str(caught.value)
