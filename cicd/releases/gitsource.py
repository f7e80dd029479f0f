"""Git as the source of releases: the tree of pipeline/ a release was built from, and its tags."""

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


def has_tree(project_dir: Path, tree: str | None) -> bool:
    return bool(tree) and git(project_dir, "cat-file", "-e", f"{tree}^{{tree}}").returncode == 0
