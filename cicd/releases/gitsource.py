"""Git as the source of releases: the tree of pipeline/ a release was built from, and its tags.

A release is rebuilt from the tree its lock entry records, never from a tag: the lock is reviewed
with the code, a tag is not (anyone who can push may make or move one). A tag is only checked
against the lock (`tag_tree`), so that a tag on other content is refused before anything builds.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from cicd.project import PIPELINE_DIR


def git(
    project_dir: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", "-C", str(project_dir), *args], capture_output=True, check=False, env=env
    )


def source_tree(project_dir: Path) -> str | None:
    """The git tree id of pipeline/ as it is in the working tree (what committing it would
    record), or None outside a git repository. Written into a scratch index, so the real index
    and the working tree are left as they are."""
    with tempfile.TemporaryDirectory() as scratch:
        env = dict(os.environ, GIT_INDEX_FILE=str(Path(scratch) / "index"))
        if git(project_dir, "add", "--all", "--", PIPELINE_DIR, env=env).returncode != 0:
            return None
        tree = git(project_dir, "write-tree", f"--prefix={PIPELINE_DIR}/", env=env)
    return tree.stdout.decode().strip() if tree.returncode == 0 else None


def has_tag(project_dir: Path, version: str) -> bool:
    return (
        git(project_dir, "rev-parse", "--verify", "--quiet", f"refs/tags/v{version}").returncode
        == 0
    )


def tag_tree(project_dir: Path, version: str) -> str | None:
    """The git tree id of pipeline/ at tag `v<version>`, '' when the tag has no pipeline/, or
    None when there is no such tag."""
    if not has_tag(project_dir, version):
        return None
    found = git(
        project_dir, "rev-parse", "--verify", "--quiet", f"refs/tags/v{version}:{PIPELINE_DIR}"
    )
    return found.stdout.decode().strip() if found.returncode == 0 else ""


def has_tree(project_dir: Path, tree: str | None) -> bool:
    return bool(tree) and git(project_dir, "cat-file", "-e", f"{tree}^{{tree}}").returncode == 0
