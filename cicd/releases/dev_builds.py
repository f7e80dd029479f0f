"""Engineers' dev builds: the working tree's library and notebooks, built by the same reproducible
build as a release into `dist/dev/<slug>/` (`notebooks/` and `libraries/`, the shape of a release
folder), and read back for the Pulumi program, which publishes each listed engineer's folder to
their own dev environment.

The wheel's version is `0.0.0.dev<N>`, N taken from a digest of the library's sources: a changed
library gets a new version and file name (so pip on a running cluster installs it instead of
keeping the same-version wheel it already has), the same sources the same bytes.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Sequence
from pathlib import Path

from cicd.config import DevEngineer, StackConfig
from cicd.project import PIPELINE_DIR
from cicd.releases.build import build_from_source
from cicd.releases.content import ReleaseContent, ReleaseContentError, scan_release
from cicd.releases.inputs import StackInputError

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
