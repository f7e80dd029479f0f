"""Bringing published releases back on a machine that lacks them: from their tag, else the git
tree recorded in the lock, else the working tree, and always verified against the lock."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from cicd.config import StackConfig
from cicd.project import PIPELINE_DIR
from cicd.releases.build import ReleaseBuildError, build_from_source, release_dir
from cicd.releases.content import ReleaseContentError, scan_release
from cicd.releases.gitsource import git, has_tag, has_tree
from cicd.releases.lock import LOCK_FILE, LockError, read_lock_file, verify


def restore(project_dir: Path, version: str) -> list[str]:
    """`restore VERSION`: rebuild a published release from git (its tag `v<VERSION>`, else the
    source tree recorded in the lock) and verify it against the lock."""
    lock, sources = read_lock_file(project_dir / LOCK_FILE)
    if version not in lock:
        raise ReleaseBuildError(f"{version} is not in {LOCK_FILE}: it was never published")
    tree = sources.get(version)
    if has_tag(project_dir, version):
        archive_args, origin = [f"v{version}", PIPELINE_DIR], f"tag v{version}"
    elif has_tree(project_dir, tree):
        archive_args, origin = (
            [f"--prefix={PIPELINE_DIR}/", str(tree)],
            f"source tree {str(tree)[:12]}",
        )
    else:
        raise ReleaseBuildError(
            f"cannot rebuild {version}: there is no git tag v{version} and its source tree"
            f" ({tree or 'not recorded'}) is not in this clone; fetch the full history and tags"
            f" (`git fetch --tags --unshallow`, or fetch-depth: 0 in CI), or tag the commit"
            f" {version} was built from"
        )
    with tempfile.TemporaryDirectory() as scratch:
        archive = git(project_dir, "archive", "--format=tar", *archive_args)
        if archive.returncode != 0:
            raise ReleaseBuildError(
                f"git archive of {origin} failed: {archive.stderr.decode()[-500:]}"
            )
        subprocess.run(["tar", "-x", "-C", scratch], input=archive.stdout, check=True)
        target = build_from_source(
            Path(scratch) / PIPELINE_DIR, version, release_dir(project_dir, version)
        )
    verify(version, lock, scan_release(target))
    return [f"{version}: restored from {origin} into {target}, identical to {LOCK_FILE}"]


def ensure_releases(project_dir: Path, config: StackConfig, owner: str) -> list[str]:
    """Every release kept by a stack config ready on disk."""
    lock, sources = read_lock_file(project_dir / LOCK_FILE)
    report = []
    for version in config.releases.versions:
        if version not in lock:
            raise ReleaseBuildError(
                f"{version} (kept by {owner}) is not in {LOCK_FILE}: publish it with"
                f" `python -m cicd.release build {version}` and commit the lock file"
            )
        folder = project_dir / config.releases.entry(version).source_dir
        if folder.is_dir():
            try:
                verify(version, lock, scan_release(folder))
                report.append(f"{version}: present in {folder}, identical to {LOCK_FILE}")
                continue
            except (ReleaseContentError, LockError):
                pass  # rebuilt below, then verified again
        if has_tag(project_dir, version) or has_tree(project_dir, sources.get(version)):
            report += restore(project_dir, version)
            continue
        target = build_from_source(project_dir / PIPELINE_DIR, version, folder)
        try:
            verify(version, lock, scan_release(target))
        except LockError as exc:
            raise ReleaseBuildError(
                f"{exc}\nThere is no tag v{version} or recorded source tree to rebuild it from,"
                f" and the working tree builds other content: tag the commit {version} was"
                " published from"
            ) from None
        report.append(
            f"{version}: built from the working tree into {folder}, identical to {LOCK_FILE}"
        )
    return report
