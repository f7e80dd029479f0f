"""What a stack should look like in its workspace, read from one place: the program itself.

The offline evaluator (`cicd.evaluation.evaluate`) runs `__main__.py` with the stack's config and
records every registration; this module reads those registrations: each kept release's notebooks,
workspace files and library uploads (path, local source, language), the job's inputs and the
permissions the program grants. Content digests come from `releases.lock.yaml`. Nothing here
repeats a setting of the program: change the program and the check follows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import Any

import pulumi

from cicd.config import (
    ArtifactStoreKind,
    ConfigError,
    StackConfig,
    namespace_values,
    parse_stack_config,
    version_sort_key,
)
from cicd.evaluation import Registration, evaluate
from cicd.releases.lock import LOCK_FILE, LockError, read_lock

NOTEBOOK = "databricks:index/notebook:Notebook"
WORKSPACE_FILE = "databricks:index/workspaceFile:WorkspaceFile"
VOLUME_FILE = "databricks:index/file:File"
DBFS_FILE = "databricks:index/dbfsFile:DbfsFile"
JOB = "databricks:index/job:Job"
PERMISSIONS = "databricks:index/permissions:Permissions"
RELEASE = "databricks-cicd:release:Release"
# Dev environments are not part of the check; leaving them out also spares building dev wheels.
UNCHECKED_KEYS = ("databricks-cicd:developers",)


class DriftSetupError(Exception):
    """The expected state cannot be read (bad stack file, release content, lock)."""


class Store(str, Enum):
    """Where an object lives, which decides how it is read and written back."""

    WORKSPACE = "workspace"  # notebooks and workspace files (also a workspace artifact store)
    VOLUME = "volume"  # Unity Catalog volume, Files API
    DBFS = "dbfs"


@dataclass(frozen=True)
class ExpectedObject:
    """One published object of a release: where it lives and what it must hold."""

    path: str  # workspace, volume or DBFS path, as the program registers it
    store: Store
    kind: str  # "notebook", "file" or "library"
    source: Path  # local bytes, verified against the lock
    lock_key: str  # "notebooks/main.py"
    digest: str  # "sha256:..." from the lock
    language: str | None = None  # notebooks only
    format: str | None = None  # notebooks only: SOURCE or JUPYTER

    def data(self) -> bytes:
        return self.source.read_bytes()


@dataclass(frozen=True)
class ExpectedRelease:
    version: str
    folder: str  # <workspaceRoot>/releases/<version>
    artifact_folder: str  # <artifact root>/releases/<version>
    artifact_store: Store
    objects: tuple[ExpectedObject, ...]


@dataclass(frozen=True)
class ExpectedGrants:
    """One authoritative Permissions resource: the object and exactly what it grants."""

    object_kind: str  # "directory" or "job"
    directory_path: str | None
    grants: dict[tuple[str, str], str]  # (principal kind, principal) -> permission level


@dataclass(frozen=True)
class ExpectedStack:
    stack: str
    config: StackConfig
    releases: tuple[ExpectedRelease, ...]
    job_inputs: dict[str, Any]  # the Job's inputs, wire (camelCase) names
    permissions: tuple[ExpectedGrants, ...] = field(default=())

    @property
    def job_name(self) -> str:
        return str(self.job_inputs["name"])


def _store_of(kind: ArtifactStoreKind) -> Store:
    return {
        ArtifactStoreKind.WORKSPACE: Store.WORKSPACE,
        ArtifactStoreKind.VOLUME: Store.VOLUME,
        ArtifactStoreKind.DBFS: Store.DBFS,
    }[kind]


def _lock_key(source: str, recorded: Mapping[str, str]) -> str | None:
    """The lock's name of a release file ("notebooks/main.py"): the part of its local path from
    the release folder's `notebooks/` or `libraries/` on, wherever that folder is."""
    parts = PurePosixPath(source).parts
    for index, part in enumerate(parts):
        if part in ("notebooks", "libraries"):
            key = "/".join(parts[index:])
            if key in recorded:
                return key
    return None


def _object(
    registration: Registration,
    folder: str,
    project_dir: Path,
    recorded: Mapping[str, str],
    version: str,
    artifact_store: Store,
) -> ExpectedObject:
    inputs = registration.inputs
    path, source = str(inputs["path"]), str(inputs["source"])
    lock_key = _lock_key(source, recorded)
    local = project_dir / source
    digest = recorded.get(lock_key) if lock_key else None
    if lock_key is None or digest is None:
        raise DriftSetupError(
            f"release {version}: {source} is published by the program but not recorded in"
            f" {LOCK_FILE}; publish a new version with `python -m cicd.release build`"
        )
    actual = f"sha256:{hashlib.sha256(local.read_bytes()).hexdigest()}"
    if actual != digest:
        raise DriftSetupError(
            f"release {version}: {local} differs from {LOCK_FILE}; bring the published bytes"
            " back with `python -m cicd.release ensure --stack <stack>`"
        )
    if registration.type == NOTEBOOK:
        return ExpectedObject(
            path,
            Store.WORKSPACE,
            "notebook",
            local,
            lock_key,
            digest,
            language=str(inputs.get("language") or "PYTHON"),
            format=str(inputs.get("format") or "SOURCE"),
        )
    if registration.type == WORKSPACE_FILE and path.startswith(folder + "/"):
        return ExpectedObject(path, Store.WORKSPACE, "file", local, lock_key, digest)
    return ExpectedObject(path, artifact_store, "library", local, lock_key, digest)


def _evaluate(
    config_map: Mapping[str, str], stack: str, project_dir: Path
) -> tuple[StackConfig, Any]:
    config_map = {k: v for k, v in config_map.items() if k not in UNCHECKED_KEYS}
    try:
        config = parse_stack_config(namespace_values(config_map))
    except ConfigError as exc:
        raise DriftSetupError(str(exc)) from None
    try:
        evaluation = evaluate(config_map, stack, project_dir)
    except pulumi.RunError as exc:  # the program's own message (bad config or release content)
        raise DriftSetupError(
            f"the program does not evaluate for stack {stack!r}: {exc}. Run `python -m"
            f" cicd.release ensure --stack {stack}` first so every kept release is on disk"
        ) from None
    return config, evaluation


def _releases(
    config: StackConfig, evaluation: Any, project_dir: Path
) -> tuple[ExpectedRelease, ...]:
    try:
        lock = read_lock(project_dir / LOCK_FILE)
    except LockError as exc:
        raise DriftSetupError(str(exc)) from None
    store = _store_of(config.artifact_store.kind)
    releases = []
    # Every Release the program registers (kept ones, and any other kind a later change adds)
    # is checked alike; its folder follows components/release.py.
    versions = sorted(
        (r.name.removeprefix("release-") for r in evaluation.of_type(RELEASE)),
        key=version_sort_key,
    )
    for version in versions:
        folder = f"{config.workspace_root}/releases/{version}"
        children = [
            r
            for r in evaluation.resources.values()
            if r.parent == f"release-{version}"
            and r.type in (NOTEBOOK, WORKSPACE_FILE, VOLUME_FILE, DBFS_FILE)
        ]
        objects = tuple(
            sorted(
                (
                    _object(r, folder, project_dir, lock.get(version, {}), version, store)
                    for r in children
                ),
                key=lambda o: o.path,
            )
        )
        releases.append(
            ExpectedRelease(
                version,
                folder,
                f"{config.artifact_store.root}/releases/{version}",
                store,
                objects,
            )
        )
    return tuple(releases)


def expected_releases(
    config_map: Mapping[str, str], stack: str, project_dir: Path
) -> tuple[ExpectedRelease, ...]:
    """What the program publishes for each release `stack` keeps (releases on disk, as `cicd.
    release ensure` leaves them), whatever jobs and pipelines the stack has."""
    config, evaluation = _evaluate(config_map, stack, project_dir)
    return _releases(config, evaluation, project_dir)


def expected_state(config_map: Mapping[str, str], stack: str, project_dir: Path) -> ExpectedStack:
    """Evaluate the program for `stack` (kept releases must be on disk, as `cicd.release ensure`
    leaves them) and read what it registers into the expected state."""
    config, evaluation = _evaluate(config_map, stack, project_dir)
    releases = _releases(config, evaluation, project_dir)
    jobs = evaluation.of_type(JOB)
    if len(jobs) != 1:
        raise DriftSetupError(f"the program registers {len(jobs)} jobs for {stack!r}, expected 1")
    permissions = tuple(_grants(r) for r in evaluation.of_type(PERMISSIONS))
    return ExpectedStack(stack, config, releases, dict(jobs[0].inputs), permissions)


PRINCIPAL_KEYS = ("groupName", "servicePrincipalName", "userName")


def _grants(registration: Registration) -> ExpectedGrants:
    inputs = registration.inputs
    grants = {}
    for control in inputs.get("accessControls") or []:
        for key in PRINCIPAL_KEYS:
            if control.get(key):
                grants[(key, str(control[key]))] = str(control["permissionLevel"])
    if inputs.get("directoryPath"):
        return ExpectedGrants("directory", str(inputs["directoryPath"]), grants)
    if "jobId" in inputs:
        return ExpectedGrants("job", None, grants)
    raise DriftSetupError(
        f"permissions {registration.name}: neither a directory nor the job; the drift check"
        " knows only those two (cicd/driftcheck/expected.py)"
    )
