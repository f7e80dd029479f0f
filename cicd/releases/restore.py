"""Bringing published releases back on a machine that lacks them, without losing a file.

A release built from pipeline/ is rebuilt only from the git tree its lock entry records (from git,
or from the working tree when pipeline/ as checked out is that tree): the lock is reviewed with
the code, a tag is not. A tag `v<version>` on another tree is refused before anything builds. The
rebuild happens in a scratch folder with no credential in its environment (`build`), is verified
against the lock, and is then put in place only where that deletes or overwrites nothing
(`placement`). A release
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
from cicd.releases.gitsource import git, has_tree, source_tree, tag_tree
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


def _check_tag(project_dir: Path, version: str, tree: str | None) -> None:
    """Refuse a tag `v<version>` on other content than the lock records, before anything
    builds: a tag is not reviewed, and one on other content is either a mistake or someone
    trying to get their code built where the deploy's secrets are."""
    tagged = tag_tree(project_dir, version)
    if not tree or tagged is None or tagged == tree:
        return  # no tree recorded: nothing is rebuilt from git at all (`_rebuild_source`)
    raise ReleaseBuildError(
        f"tag v{version} holds {PIPELINE_DIR}/ tree {tagged[:12] or '(none)'}, but {LOCK_FILE}"
        f" records {version} as built from {str(tree)[:12] if tree else 'no tree'}: the tag"
        f" was moved or made on other content, and nothing was built. Releases are rebuilt only"
        f" from the tree the lock records; find out who pushed the tag, then delete it (`git push"
        f" --delete origin v{version}` and `git tag -d v{version}`) or move it to the commit"
        f" {version} was built from"
    )


def _rebuild_source(project_dir: Path, version: str, tree: str | None) -> str:
    """How `version` can be rebuilt from the tree its lock entry records: 'git' (the tree is in
    this clone) or 'working tree' (pipeline/ as checked out is that tree); else refused, with
    nothing built. Never from a tag."""
    _check_tag(project_dir, version, tree)
    if not tree:
        raise ReleaseBuildError(
            f"cannot rebuild {version}: {LOCK_FILE} records no source tree for it, and releases"
            f" are rebuilt only from the tree the lock records (never from a tag, which nobody"
            f" reviews). On a checkout of the commit {version} was built from, run `python -m"
            f" cicd.release build {version}`: it checks the rebuild is identical and records the"
            f" tree; commit the lock"
        )
    if has_tree(project_dir, tree):
        return "git"
    if source_tree(project_dir) == tree:
        return "working tree"
    raise ReleaseBuildError(
        f"cannot rebuild {version}: its source tree {tree} (recorded in {LOCK_FILE}) is not in"
        f" this clone; fetch the full history (`git fetch --unshallow`, or fetch-depth: 0 in CI)"
    )


@contextmanager
def _from_git(project_dir: Path, version: str, tree: str) -> Iterator[tuple[Path, str]]:
    """The pipeline source `version` was built from (the tree the lock records), extracted from
    git into a scratch folder."""
    origin = f"source tree {tree[:12]}"
    with tempfile.TemporaryDirectory() as scratch:
        archive = git(project_dir, "archive", "--format=tar", f"--prefix={PIPELINE_DIR}/", tree)
        if archive.returncode != 0:
            raise ReleaseBuildError(
                f"git archive of {origin} failed: {archive.stderr.decode()[-500:]}"
            )
        subprocess.run(["tar", "-x", "-C", scratch], input=archive.stdout, check=True)
        yield Path(scratch) / PIPELINE_DIR, origin


@contextmanager
def _recorded_source(
    project_dir: Path, version: str, tree: str | None
) -> Iterator[tuple[Path, str]]:
    if _rebuild_source(project_dir, version, tree) == "git":
        with _from_git(project_dir, version, str(tree)) as found:
            yield found
    else:
        yield project_dir / PIPELINE_DIR, f"the working tree (source tree {str(tree)[:12]})"


def restore(project_dir: Path, version: str, folder: Path | None = None) -> list[str]:
    """`restore VERSION`: rebuild a release built from pipeline/ from the git tree its lock
    entry records (refused, with nothing built, when a tag `v<VERSION>` holds another tree),
    verify it against the lock, and put it in place without deleting or overwriting a file that
    differs. A published release is only checked."""
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
        _recorded_source(project_dir, version, sources.get(version)) as (source, origin),
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
    # Before anything is read or built: a tag on other content is refused even when the folder
    # is in place, so that it shows (the drift check runs this daily).
    _check_tag(project_dir, version, sources.get(version))
    if folder.is_dir():
        try:
            verify(version, lock, scan_release(folder))
            return [f"{version}: present in {folder}, identical to {LOCK_FILE}"]
        except (ReleaseContentError, LockError):
            pass  # rebuilt below, verified, and put in place only if that loses nothing
    return restore(project_dir, version, folder)


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
