"""Reproducible builds of the example pipeline into a release folder, recorded in the lock.

The wheel's bytes never depend on when or where it was built (fixed SOURCE_DATE_EPOCH,
hatchling's stable file order), so a release rebuilt from git on a fresh CI machine matches the
digests recorded when it was published. A build happens in a scratch folder and is put in place
without deleting or overwriting any file that differs from it (`cicd.releases.placement`).

The build runs the pipeline's build backend and its hooks, i.e. code; it gets an environment
built from an allow-list (`build_environment`), never the caller's: a CI step that holds a
secret, or a developer's shell, passes none of it on, and HOME points at the scratch folder so
that `~/.databrickscfg` or a Pulumi login are not where the build looks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from build import BuildBackendException, BuildException, ProjectBuilder
from packaging.version import InvalidVersion, Version

from cicd.project import PIPELINE_DIR
from cicd.releases.content import entry_problem, scan_release
from cicd.releases.gitsource import source_tree
from cicd.releases.lock import (
    BUILD,
    LOCK_FILE,
    PUBLISH,
    ReleaseMetadata,
    check_lock_writable,
    differences,
    read_lock_snapshot,
    replace_lock,
)
from cicd.releases.placement import place
from policy.databricks_guardrails.redact import redact_text

# 1980-01-01, the earliest time a zip entry can hold: the wheel's bytes never depend on when or
# where it was built.
SOURCE_DATE_EPOCH = "315532800"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
# The notebook the example pipeline's job runs; recorded with every release `build` makes.
PIPELINE_ENTRY = "main"
# What a build may see of the caller's environment: where programs are, the locale and the time
# zone. An allow-list, not a deny-list: a credential under a name nobody thought of (a CI secret,
# a cloud SDK's variable) is left behind as surely as DATABRICKS_CLIENT_SECRET.
PASSED_TO_BUILDS = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "SYSTEMROOT")


def build_environment(version: str, scratch: Path) -> dict[str, str]:
    """The whole environment of a build subprocess: the allow-listed variables, the build's own
    (fixed SOURCE_DATE_EPOCH, the version), and HOME/TMPDIR inside `scratch`, so that nothing
    under the caller's home (a `.databrickscfg`, a Pulumi login, git credentials) is at hand."""
    home = scratch / "home"
    home.mkdir(exist_ok=True)
    env = {name: os.environ[name] for name in PASSED_TO_BUILDS if name in os.environ}
    env.update(
        HOME=str(home),
        TMPDIR=str(scratch),
        PYTHONNOUSERSITE="1",  # no packages from the caller's ~/.local
        SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH,
        ETL_PIPELINE_VERSION=version,
    )
    return env


class ReleaseBuildError(Exception):
    """A release that cannot be built, restored or verified; the message says what to do."""


class _HookRunner:
    """Runs each of the build backend's hooks in a subprocess whose whole environment is `env`
    (plus the variables the hook protocol itself passes), keeping its output for the error."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.last_output = ""

    def __call__(
        self,
        cmd: Sequence[str],
        cwd: str | None = None,
        extra_environ: Mapping[str, str] | None = None,
    ) -> None:
        done = subprocess.run(
            list(cmd),
            cwd=cwd,
            env={**self.env, **(extra_environ or {})},
            capture_output=True,
            text=True,
            check=False,
        )
        self.last_output = done.stderr or done.stdout
        if done.returncode != 0:
            raise subprocess.CalledProcessError(done.returncode, cmd, done.stdout, done.stderr)


def _build_wheel(
    source: Path, out: Path, env: dict[str, str], pipeline_dir: Path, version: str
) -> Path:
    """What `python -m build --wheel --no-isolation` does, from this process: check the
    pyproject's build requirements against this interpreter, then call the backend's
    `build_wheel` (one subprocess per hook instead of one more interpreter around them)."""
    failed = f"building the library in {pipeline_dir} as {version} failed"
    runner = _HookRunner(env)
    try:
        builder = ProjectBuilder(source, python_executable=sys.executable, runner=runner)
        missing = builder.check_dependencies("wheel")
        if missing:
            needed = ", ".join(sorted(chain[-1] for chain in missing))
            raise ReleaseBuildError(
                f"{failed}: {needed} not installed in {sys.executable}; the pins are in"
                " requirements.txt: run ./scripts/install"
            )
        return Path(builder.build("wheel", out))
    except (BuildException, BuildBackendException) as exc:
        raise ReleaseBuildError(
            f"{failed}:\n" + redact_text((runner.last_output or str(exc))[-2000:])
        ) from None


def release_dir(project_dir: Path, version: str) -> Path:
    return project_dir / "dist" / "releases" / version


def assemble(pipeline_dir: Path, version: str, out: Path) -> Path:
    """Build the wheel from `pipeline_dir` as `version` and assemble a release in `out`, a folder
    that must not exist yet."""
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
        wheels_dir = Path(scratch) / "out"
        _build_wheel(
            source, wheels_dir, build_environment(version, Path(scratch)), pipeline_dir, version
        )
        (out / "libraries").mkdir(parents=True)
        for wheel in sorted(wheels_dir.glob("*.whl")):
            shutil.copy2(wheel, out / "libraries" / wheel.name)
        shutil.copytree(pipeline_dir / "notebooks", out / "notebooks", ignore=IGNORED)
    return out


@contextmanager
def built_release(pipeline_dir: Path, version: str) -> Iterator[Path]:
    """A release built from `pipeline_dir` in a scratch folder, removed afterwards: it is put in
    place (`cicd.releases.placement.place`) only once it has been checked."""
    with tempfile.TemporaryDirectory() as scratch:
        yield assemble(pipeline_dir, version, Path(scratch) / "release")


def build_from_source(pipeline_dir: Path, version: str, target: Path) -> Path:
    """Build into `target`, replacing what is there: for engineers' dev builds only, whose folder
    under dist/dev/ is theirs to rebuild (releases go through `built_release` and `place`)."""
    with built_release(pipeline_dir, version) as built:
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(built, target)
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
    lock_path = project_dir / LOCK_FILE
    check_lock_writable(lock_path)
    (lock, sources, metadata), lock_bytes = read_lock_snapshot(lock_path)
    command = f"python -m cicd.release build {version}"
    if version in metadata and metadata[version].origin == PUBLISH:
        raise ReleaseBuildError(
            f"{version} was published from content built elsewhere (in"
            f" {metadata[version].content}); it is not built from {PIPELINE_DIR}/: releases are"
            " immutable, so build the change as a new version"
        )
    target = release_dir(project_dir, version)
    tree = source_tree(project_dir)
    with built_release(project_dir / PIPELINE_DIR, version) as built:
        content = scan_release(built)
        problem = entry_problem(content, PIPELINE_ENTRY)
        if problem:
            raise ReleaseBuildError(
                f"{PIPELINE_DIR}/notebooks {problem}: the example pipeline's job runs"
                f" {PIPELINE_ENTRY!r}; keep that notebook"
            )
        if version in lock:
            problems = differences(version, lock[version], content)
            if problems:
                raise ReleaseBuildError(
                    "\n".join(problems)
                    + f"\n{version} is already published with other content: releases are"
                    " immutable, so build the change as a new version"
                )
        elif not record:
            raise ReleaseBuildError(f"{version} is not in {LOCK_FILE}")
        place(built, target, version, f"python -m cicd.release build {version}", version)
    if version in lock:
        if tree and version not in sources:
            replace_lock(lock_path, lock_bytes, command, lock, {**sources, version: tree}, metadata)
            return [
                f"{version}: rebuilt in {target}, identical to {LOCK_FILE}; recorded its"
                f" source tree {tree[:12]}"
            ]
        return [f"{version}: rebuilt in {target}, identical to {LOCK_FILE}"]
    lock[version] = content.digests
    metadata[version] = ReleaseMetadata(PIPELINE_ENTRY, BUILD)
    replace_lock(
        lock_path,
        lock_bytes,
        command,
        lock,
        {**sources, version: tree} if tree else sources,
        metadata,
    )
    return [
        f"{version}: built in {target} and recorded in {LOCK_FILE} ({len(content.digests)}"
        f" files, entry notebook {PIPELINE_ENTRY!r}); commit the lock file with the stack config"
        " and the pipeline source"
    ]
