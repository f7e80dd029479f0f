"""Release content on disk: `python -m cicd.release build|ensure|restore`.

- `build VERSION` builds the pipeline library as VERSION (a reproducible wheel: fixed
  SOURCE_DATE_EPOCH, hatchling's stable file order) and assembles `dist/releases/VERSION/`
  with the notebooks tree. A new version is recorded in `releases.lock.yaml` (commit it with
  the stack config); a version already recorded must rebuild to the same bytes or it fails.
- `restore VERSION` rebuilds a published release from git (its tag `v<VERSION>`, else the git
  tree of pipeline/ recorded in the lock when it was built) and checks it against the lock: how
  a kept-but-not-live release comes back on a fresh CI machine.
- `ensure --stack STACK` makes every release the stack keeps present and identical to the lock:
  already there, else restored from git, else built from the working tree. It never writes
  the lock. CI runs it before `pulumi preview`/`up`.

- `check-lock --base FILE` fails when the lock lost a release or a recorded file changed
  compared with FILE (the base branch's lock): the lock only grows.

Exit codes: 0 done; 1 a release cannot be built or does not match the lock; 2 bad arguments.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.version import InvalidVersion, Version

from cicd.config import ConfigError, StackConfig, check_version, read_stack_file
from cicd.release_content import ReleaseContent, ReleaseContentError, scan_release
from cicd.release_lock import (
    LOCK_FILE,
    LockError,
    differences,
    read_lock,
    read_lock_file,
    verify,
    write_lock,
)

PROJECT_DIR = Path(__file__).resolve().parent.parent
PIPELINE_DIR = "pipeline"
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


def _git(
    project_dir: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
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
        if _git(project_dir, "add", "--all", "--", PIPELINE_DIR, env=env).returncode != 0:
            return None
        tree = _git(project_dir, "write-tree", f"--prefix={PIPELINE_DIR}/", env=env)
    return tree.stdout.decode().strip() if tree.returncode == 0 else None


def has_tag(project_dir: Path, version: str) -> bool:
    return (
        _git(project_dir, "rev-parse", "--verify", "--quiet", f"refs/tags/v{version}").returncode
        == 0
    )


def has_tree(project_dir: Path, tree: str | None) -> bool:
    return bool(tree) and _git(project_dir, "cat-file", "-e", f"{tree}^{{tree}}").returncode == 0


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
        archive = _git(project_dir, "archive", "--format=tar", *archive_args)
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


def ensure(project_dir: Path, stack: str) -> list[str]:
    """`ensure --stack STACK`: every kept release present and identical to the lock."""
    return ensure_releases(
        project_dir, read_stack_file(project_dir / f"Pulumi.{stack}.yaml"), f"stack {stack}"
    )


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
    # The program also reads each listed engineer's dev build; missing ones are built here.
    from cicd.dev_build import ensure_dev_builds  # imports this module

    return report + ensure_dev_builds(project_dir, config)


def check_lock(project_dir: Path, base: Path) -> list[str]:
    """`check-lock --base FILE`: the lock only grows. Every release recorded in the base
    branch's lock is still recorded, with the same files and digests (CI runs this on pull
    requests, so a published release cannot be rewritten together with its lock entry)."""
    before, after = read_lock(base), read_lock(project_dir / LOCK_FILE)
    problems = []
    for version in sorted(before):
        if version not in after:
            problems.append(f"release {version} was removed from {LOCK_FILE}; restore its entry")
            continue
        problems += differences(version, before[version], _as_content(after[version]))
    if problems:
        raise ReleaseBuildError(
            "\n".join(problems)
            + f"\n{LOCK_FILE} may only gain releases: published content never changes"
        )
    added = sorted(set(after) - set(before))
    return [
        f"{LOCK_FILE}: {len(before)} published release(s) unchanged"
        + (f"; new: {', '.join(added)}" if added else "")
    ]


def _as_content(digests: Mapping[str, str]) -> ReleaseContent:
    return ReleaseContent(Path(LOCK_FILE), (), (), (), dict(digests))


def main(argv: Sequence[str] | None = None, project_dir: Path = PROJECT_DIR) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cicd.release",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("build", "build the working tree as VERSION and record it"),
        ("restore", "rebuild a published VERSION from git (tag or recorded tree)"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("version", type=_version_argument)
    ensure_command = commands.add_parser("ensure", help="make every kept release of a stack ready")
    ensure_command.add_argument("--stack", required=True)
    check_command = commands.add_parser("check-lock", help="the lock only grows (against --base)")
    check_command.add_argument(
        "--base", type=Path, required=True, help="the lock file of the base branch"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            lines = build(project_dir, args.version)
        elif args.command == "restore":
            lines = restore(project_dir, args.version)
        elif args.command == "check-lock":
            lines = check_lock(project_dir, args.base)
        else:
            lines = ensure(project_dir, args.stack)
    except (ReleaseBuildError, ReleaseContentError, LockError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


def _version_argument(value: str) -> str:
    try:
        return check_version(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


if __name__ == "__main__":
    sys.exit(main())
