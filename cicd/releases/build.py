"""Reproducible builds of the example pipeline into a release folder, recorded in the lock.

The wheel's bytes never depend on when or where it was built (fixed SOURCE_DATE_EPOCH,
hatchling's stable file order), so a release rebuilt from git on a fresh CI machine matches the
digests recorded when it was published.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.version import InvalidVersion, Version

from cicd.project import PIPELINE_DIR
from cicd.releases.content import scan_release
from cicd.releases.gitsource import source_tree
from cicd.releases.lock import LOCK_FILE, differences, read_lock_file, write_lock

# 1980-01-01, the earliest time a zip entry can hold: the wheel's bytes never depend on when or
# where it was built.
SOURCE_DATE_EPOCH = "315532800"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")


class ReleaseBuildError(Exception):
    """A release that cannot be built, restored or verified; the message says what to do."""


def release_dir(project_dir: Path, version: str) -> Path:
    return project_dir / "dist" / "releases" / version


def build_from_source(pipeline_dir: Path, version: str, target: Path) -> Path:
    """Build the wheel from `pipeline_dir` as `version` and assemble the release in `target`."""
    if not (pipeline_dir / "pyproject.toml").is_file():
        raise ReleaseBuildError(f"{pipeline_dir}: no pyproject.toml; nothing to build")
    with tempfile.TemporaryDirectory() as scratch:
        # Build from a clean copy so build/ and *.egg-info never land in the working tree.
        source = Path(scratch) / "src"
        shutil.copytree(
            pipeline_dir,
            source,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "build", "dist", "*.egg-info"),
        )
        out = Path(scratch) / "out"
        env = dict(os.environ, SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH, ETL_PIPELINE_VERSION=version)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "build",
                "--wheel",
                "--no-isolation",
                "--outdir",
                str(out),
                str(source),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ReleaseBuildError(
                f"building the library in {pipeline_dir} as {version} failed:\n"
                + (result.stderr or result.stdout)[-2000:]
            )
        wheels = sorted(out.glob("*.whl"))
        if target.exists():
            shutil.rmtree(target)
        (target / "libraries").mkdir(parents=True)
        for wheel in wheels:
            shutil.copy2(wheel, target / "libraries" / wheel.name)
        shutil.copytree(pipeline_dir / "notebooks", target / "notebooks", ignore=IGNORED)
    return target


def check_wheel_version(version: str) -> None:
    """The wheel's file name carries the normalised version; the release folder must match it."""
    try:
        normalised = str(Version(version))
    except InvalidVersion:
        raise ReleaseBuildError(
            f"{version!r} is not a Python package version: use one such as 2.1.0 or 2.1.0rc1"
        ) from None
    if normalised != version:
        raise ReleaseBuildError(
            f"{version!r} is spelled differently in the wheel ({normalised!r}): use {normalised!r}"
        )


def build(project_dir: Path, version: str, record: bool = True) -> list[str]:
    """`build VERSION`: build from the working tree; record a new version in the lock."""
    check_wheel_version(version)
    target = build_from_source(
        project_dir / PIPELINE_DIR, version, release_dir(project_dir, version)
    )
    content = scan_release(target)
    lock_path = project_dir / LOCK_FILE
    lock, sources = read_lock_file(lock_path)
    tree = source_tree(project_dir)
    if version in lock:
        problems = differences(version, lock[version], content)
        if problems:
            raise ReleaseBuildError(
                "\n".join(problems)
                + f"\n{version} is already published with other content: releases are"
                " immutable, so build the change as a new version"
            )
        if tree and version not in sources:
            write_lock(lock_path, lock, {**sources, version: tree})
            return [
                f"{version}: rebuilt in {target}, identical to {LOCK_FILE}; recorded its"
                f" source tree {tree[:12]}"
            ]
        return [f"{version}: rebuilt in {target}, identical to {LOCK_FILE}"]
    if not record:
        raise ReleaseBuildError(f"{version} is not in {LOCK_FILE}")
    lock[version] = content.digests
    write_lock(lock_path, lock, {**sources, version: tree} if tree else sources)
    return [
        f"{version}: built in {target} and recorded in {LOCK_FILE} ({len(content.digests)}"
        " files); commit the lock file with the stack config and the pipeline source"
    ]
