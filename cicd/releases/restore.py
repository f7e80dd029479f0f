"""Bringing published releases back on a machine that lacks them, without losing a file.

A release built from pipeline/ is rebuilt from its tag, else the git tree recorded in the lock,
else the working tree; the rebuild happens in a scratch folder, is verified against the lock,
and is then put in place only where that deletes or overwrites nothing (`placement`). A release
published from content built elsewhere is never rebuilt: its tracked folder is checked, and a
missing or changed one is refused with the git command that brings it back.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cicd.config import StackConfig
from cicd.project import PIPELINE_DIR
from cicd.releases.build import ReleaseBuildError, built_release
from cicd.releases.content import ReleaseContentError, scan_release
from cicd.releases.gitsource import git, has_tag, has_tree
from cicd.releases.lock import (
    LOCK_FILE,
    PUBLISH,
    LockError,
    ReleaseMetadata,
    read_lock_document,
    verify,
)
from cicd.releases.placement import ForeignContentError, place
from cicd.releases.publish import release_folder


def _check_published(
    version: str, metadata: ReleaseMetadata, lock: dict[str, dict[str, str]], folder: Path
) -> str:
    """A published release is its tracked folder: check it, never rebuild it."""
    try:
        verify(version, lock, scan_release(folder))
    except (ReleaseContentError, LockError) as exc:
        raise ReleaseBuildError(
            f"{exc}\n{version} was published from content built elsewhere and cannot be rebuilt;"
            f" its files are tracked in git under {metadata.content}: bring them back with"
            f" `git checkout HEAD -- {metadata.content}` (after moving aside anything of yours"
            " in it), or `git lfs pull` if the repository keeps them in Git LFS"
        ) from None
    return f"{version}: present in {folder} (published content tracked in git), identical to {LOCK_FILE}"


@contextmanager
def _from_git(project_dir: Path, version: str, tree: str | None) -> Iterator[tuple[Path, str]]:
    """The pipeline source `version` was built from, extracted from git into a scratch folder."""
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
        yield Path(scratch) / PIPELINE_DIR, origin


def restore(project_dir: Path, version: str, folder: Path | None = None) -> list[str]:
    """`restore VERSION`: rebuild a release built from pipeline/ from git (its tag `v<VERSION>`,
    else the source tree recorded in the lock), verify it against the lock, and put it in place
    without deleting or overwriting a file that differs. A published release is only checked."""
    lock, sources, metadata = read_lock_document(project_dir / LOCK_FILE)
    if version not in lock:
        raise ReleaseBuildError(
            f"{version} is not in {LOCK_FILE}: it was never published, so there is nothing to"
            f" restore. Content built elsewhere becomes a release with `python -m cicd.release"
            f" publish {version} --notebooks DIR --library FILE`"
        )
    target = folder or project_dir / release_folder(version, None, metadata[version])
    if metadata[version].origin == PUBLISH:
        return [_check_published(version, metadata[version], lock, target)]
    with (
        _from_git(project_dir, version, sources.get(version)) as (source, origin),
        built_release(source, version) as built,
    ):
        verify(version, lock, scan_release(built))
        copied = place(
            built, target, version, f"python -m cicd.release restore {version}", "<new version>"
        )
    done = f"copied {len(copied)} file(s)" if copied else "nothing was missing"
    return [f"{version}: restored from {origin} into {target} ({done}), identical to {LOCK_FILE}"]


def _ensure_one(project_dir: Path, config: StackConfig, version: str, owner: str) -> list[str]:
    lock, sources, metadata = read_lock_document(project_dir / LOCK_FILE)
    if version not in lock:
        raise ReleaseBuildError(
            f"{version} (kept by {owner}) is not in {LOCK_FILE}: publish it with"
            f" `python -m cicd.release build {version}` (from {PIPELINE_DIR}/) or `python -m"
            f" cicd.release publish {version} --notebooks DIR --library FILE` (content built"
            " elsewhere), and commit the lock file"
        )
    meta = metadata[version]
    folder = project_dir / release_folder(version, config.releases.entry(version).source, meta)
    if meta.origin == PUBLISH:
        return [_check_published(version, meta, lock, folder)]
    if folder.is_dir():
        try:
            verify(version, lock, scan_release(folder))
            return [f"{version}: present in {folder}, identical to {LOCK_FILE}"]
        except (ReleaseContentError, LockError):
            pass  # rebuilt below, verified, and put in place only if that loses nothing
    if has_tag(project_dir, version) or has_tree(project_dir, sources.get(version)):
        return restore(project_dir, version, folder)
    stack = owner.removeprefix("stack ") if owner.startswith("stack ") else "<stack>"
    command = f"python -m cicd.release ensure --stack {stack}"
    with built_release(project_dir / PIPELINE_DIR, version) as built:
        try:
            verify(version, lock, scan_release(built))
        except LockError as exc:
            raise ReleaseBuildError(
                f"{exc}\nThere is no tag v{version} or recorded source tree to rebuild it from,"
                f" and the working tree builds other content: tag the commit {version} was"
                " published from"
            ) from None
        place(built, folder, version, command, "<new version>")
    return [f"{version}: built from the working tree into {folder}, identical to {LOCK_FILE}"]


def ensure_releases(project_dir: Path, config: StackConfig, owner: str) -> list[str]:
    """Every release kept by a stack config ready on disk; every release that cannot be is
    reported, all at once, and nothing of anyone's is deleted or overwritten."""
    report: list[str] = []
    problems: list[str] = []
    for version in config.releases.versions:
        try:
            report += _ensure_one(project_dir, config, version, owner)
        except (ReleaseBuildError, ForeignContentError, LockError, ReleaseContentError) as exc:
            problems.append(str(exc))
    if problems:
        raise ReleaseBuildError(
            f"{len(problems)} kept release(s) of {owner} are not ready:\n" + "\n".join(problems)
        )
    return report
