"""Engineers' dev builds: `python -m cicd.dev_build --stack STACK (--user USER ... | --all)`.

A dev build is the working tree's library and notebooks, built by the same reproducible build
as a release (`cicd.release.build_from_source`) into `dist/dev/<slug>/` (`notebooks/` and
`libraries/`, the shape of a release folder). The Pulumi program publishes each listed
engineer's folder to their own dev environment, so one engineer's build never lands on another
engineer's cluster. `dist/` is never committed: `python -m cicd.release ensure` (CI runs it
before every Pulumi command) builds the folders that are missing, from the working tree.

The wheel's version is `0.0.0.dev<N>`, N taken from a digest of the library's sources: a changed
library gets a new version and file name (so pip on a running cluster installs it instead of
keeping the same-version wheel it already has), the same sources the same bytes.

Exit codes: 0 built; 1 the stack or the build refuses (the message says what to do); 2 bad
arguments.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from cicd.config import ConfigError, DevEngineer, StackConfig, read_stack_file
from cicd.release import PIPELINE_DIR, PROJECT_DIR, ReleaseBuildError, build_from_source
from cicd.release_content import ReleaseContent, ReleaseContentError, scan_release
from cicd.stack_inputs import StackInputError

# Relative to the project, like release folders: resource inputs hold these paths, and they must
# not depend on where the project is checked out.
DEV_ROOT = Path("dist") / "dev"
# What goes into the wheel (see pipeline/pyproject.toml); notebooks do not change the version.
LIBRARY_SOURCES = ("pyproject.toml", "src")


class DevBuildError(StackInputError):
    """A dev build that is missing or cannot be built; the message names the file and the fix."""


def dev_folder(slug: str) -> Path:
    return DEV_ROOT / slug


def build_command(stack: str, user: str) -> str:
    return f"python -m cicd.dev_build --stack {stack} --user {user}"


def source_digest(pipeline_dir: Path) -> str:
    """sha256 of the library's sources: relative paths and bytes, in a fixed order."""
    digest = hashlib.sha256()
    for top in LIBRARY_SOURCES:
        start = pipeline_dir / top
        files = [start] if start.is_file() else sorted(p for p in start.rglob("*") if p.is_file())
        for path in files:
            relative = path.relative_to(pipeline_dir).as_posix()
            if any(part.startswith(".") or part == "__pycache__" for part in relative.split("/")):
                continue
            if path.suffix == ".pyc":
                continue
            digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def dev_version(pipeline_dir: Path) -> str:
    """`0.0.0.dev<N>`: a plain PEP 440 version (no '+', which some paths and URIs mangle)."""
    return f"0.0.0.dev{int(source_digest(pipeline_dir)[:8], 16)}"


def _has_wheel(folder: Path) -> bool:
    return any((folder / "libraries").glob("*.whl"))


def build_dev(project_dir: Path, engineers: Sequence[DevEngineer]) -> list[str]:
    """Build the working tree once and place it in each engineer's dev folder."""
    pipeline = project_dir / PIPELINE_DIR
    version = dev_version(pipeline)
    report: list[str] = []
    first: Path | None = None
    for engineer in engineers:
        target = project_dir / dev_folder(engineer.slug)
        if first is None:
            build_from_source(pipeline, version, target)
            first = target
        else:
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(first, target)
        wheels = ", ".join(p.name for p in sorted((target / "libraries").glob("*.whl")))
        report.append(f"{engineer.user}: dev build {version} in {target} ({wheels})")
    return report


def ensure_dev_builds(project_dir: Path, config: StackConfig) -> list[str]:
    """Build, from the working tree, the dev folders of listed engineers that are missing.

    A folder that is present is kept as it is: it is that engineer's own build.
    """
    if config.developers is None:
        return []
    missing = [
        e for e in config.developers.by_slug() if not _has_wheel(project_dir / dev_folder(e.slug))
    ]
    present = [
        f"{e.user}: dev build present in {project_dir / dev_folder(e.slug)}"
        for e in config.developers.by_slug()
        if e not in missing
    ]
    return present + (build_dev(project_dir, missing) if missing else [])


def load_dev_builds(config: StackConfig, stack: str) -> dict[str, ReleaseContent]:
    """Every listed engineer's dev build (slug -> content), read relative to the project.

    Raises `DevBuildError` naming every missing or unusable folder and the command that builds
    it, before the program registers anything.
    """
    if config.developers is None:
        return {}
    builds: dict[str, ReleaseContent] = {}
    problems: list[str] = []
    for engineer in config.developers.by_slug():
        folder = dev_folder(engineer.slug)
        command = build_command(stack, engineer.user)
        if not _has_wheel(folder):
            problems.append(
                f"{folder / 'libraries'}: no dev build (wheel) for {engineer.user}, listed in"
                f" databricks-cicd:developers.engineers; build it with `{command}`"
                " (or `python -m cicd.release ensure --stack " + stack + "`)"
            )
            continue
        try:
            builds[engineer.slug] = scan_release(folder)
        except ReleaseContentError as exc:
            problems.append(
                f"{exc} (the dev build of {engineer.user}; rebuild it with `{command}`)"
            )
    if problems:
        raise DevBuildError(
            f"{len(problems)} problem(s) with the engineers' dev builds; nothing was deployed:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    return builds


def _select(
    config: StackConfig, stack: str, users: Sequence[str], everyone: bool
) -> list[DevEngineer]:
    if config.developers is None:
        raise DevBuildError(
            f"stack {stack} has no databricks-cicd:developers: add the section to"
            f" Pulumi.{stack}.yaml with yourself under engineers (see README)"
        )
    if everyone:
        return config.developers.by_slug()
    listed = {e.user.lower(): e for e in config.developers.engineers}
    chosen = []
    for user in users:
        engineer = listed.get(user.lower())
        if engineer is None:
            raise DevBuildError(
                f"{user} is not listed in databricks-cicd:developers.engineers of stack {stack}:"
                f" add `- user: {user}` there first (see README)"
            )
        chosen.append(engineer)
    return sorted({e.slug: e for e in chosen}.values(), key=lambda e: e.slug)


def main(argv: Sequence[str] | None = None, project_dir: Path = PROJECT_DIR) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cicd.dev_build",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--stack", required=True, help="stack whose developers list names you")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", action="append", help="engineer to build for (repeatable)")
    who.add_argument("--all", action="store_true", help="build for every listed engineer")
    args = parser.parse_args(argv)
    try:
        config = read_stack_file(project_dir / f"Pulumi.{args.stack}.yaml")
        engineers = _select(config, args.stack, args.user or [], args.all)
        lines = build_dev(project_dir, engineers)
    except (DevBuildError, ReleaseBuildError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
