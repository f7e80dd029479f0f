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
from cicd.driftcheck.cache import cached_evaluate
from cicd.evaluation import Registration
from cicd.evaluation.program import fake_id
from cicd.releases.lock import LOCK_FILE, LockError, read_lock
from cicd.releases.references import artifact_folder_path, release_folder_path

NOTEBOOK = "databricks:index/notebook:Notebook"
WORKSPACE_FILE = "databricks:index/workspaceFile:WorkspaceFile"
VOLUME_FILE = "databricks:index/file:File"
DBFS_FILE = "databricks:index/dbfsFile:DbfsFile"
JOB = "databricks:index/job:Job"
PIPELINE = "databricks:index/pipeline:Pipeline"
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

    object_kind: str  # "directory", "job" or "pipeline"
    directory_path: str | None
    grants: dict[tuple[str, str], str]  # (principal kind, principal) -> permission level
    # The job's or pipeline's key in the stack config (`main` is databricks-cicd:job).
    object_key: str | None = None


# In an expected job's inputs, the id of a pipeline or job of the stack (a pipeline task's
# pipelineId, a run-job task's jobId) is only known in the workspace: it stands there as
# "{pipeline:<key>}" or "{job:<key>}", filled in once the check has found them by name.
def id_placeholder(kind: str, key: str) -> str:
    return f"{{{kind}:{key}}}"


@dataclass(frozen=True)
class ExpectedStack:
    stack: str
    config: StackConfig
    releases: tuple[ExpectedRelease, ...]
    # Every job's and pipeline's inputs by key (wire, camelCase names); the main job first.
    jobs: dict[str, dict[str, Any]]
    permissions: tuple[ExpectedGrants, ...] = field(default=())
    pipelines: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def main_job(self) -> str:
        return next(iter(self.jobs))

    @property
    def job_inputs(self) -> dict[str, Any]:
        """The main job's inputs (databricks-cicd:job, else the first job)."""
        return self.jobs[self.main_job]

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


def expected_state(config_map: Mapping[str, str], stack: str, project_dir: Path) -> ExpectedStack:
    """Evaluate the program for `stack` (kept releases must be on disk, as `cicd.release ensure`
    leaves them) and read what it registers into the expected state."""
    config_map = {k: v for k, v in config_map.items() if k not in UNCHECKED_KEYS}
    try:
        config = parse_stack_config(namespace_values(config_map))
        lock = read_lock(project_dir / LOCK_FILE)
    except (ConfigError, LockError) as exc:
        raise DriftSetupError(str(exc)) from None
    try:
        evaluation = cached_evaluate(config_map, stack, project_dir)
    except pulumi.RunError as exc:  # the program's own message (bad config or release content)
        raise DriftSetupError(
            f"the program does not evaluate for stack {stack!r}: {exc}. Run `python -m"
            f" cicd.release ensure --stack {stack}` first so every kept release is on disk"
        ) from None
    store = _store_of(config.artifact_store.kind)
    releases = []
    # Every Release the program registers (kept ones, and any other kind a later change adds)
    # is checked alike; its folder follows components/release.py.
    versions = sorted(
        (r.name.removeprefix("release-") for r in evaluation.of_type(RELEASE)),
        key=version_sort_key,
    )
    for version in versions:
        folder = release_folder_path(config.workspace_root, version)
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
                artifact_folder_path(config.artifact_store, version),
                store,
                objects,
            )
        )
    job_keys = {job.name: key for key, job in config.all_jobs().items()}
    pipeline_keys = {p.name: key for key, p in config.pipelines.items()}
    # Registration name -> (kind, key) of every job and pipeline, and their mock ids.
    owners: dict[str, tuple[str, str]] = {}
    ids: dict[str, str] = {}
    jobs: dict[str, dict[str, Any]] = {}
    pipelines: dict[str, dict[str, Any]] = {}
    for registration in evaluation.of_type(JOB):
        key = job_keys[str(registration.inputs["name"])]
        owners[registration.name] = ("job", key)
        ids[fake_id(registration.name)] = id_placeholder("job", key)
    for registration in evaluation.of_type(PIPELINE):
        key = pipeline_keys[str(registration.inputs["name"])]
        owners[registration.name] = ("pipeline", key)
        ids[fake_id(registration.name)] = id_placeholder("pipeline", key)
    for registration in evaluation.of_type(JOB):
        jobs[owners[registration.name][1]] = _with_placeholders(registration.inputs, ids)
    for registration in evaluation.of_type(PIPELINE):
        pipelines[owners[registration.name][1]] = dict(registration.inputs)
    if not jobs and not pipelines:
        raise DriftSetupError(f"the program registers no job and no pipeline for {stack!r}")
    ordered = dict(sorted(jobs.items(), key=lambda item: (item[0] != "main", item[0])))
    permissions = tuple(_grants(r, owners) for r in evaluation.of_type(PERMISSIONS))
    return ExpectedStack(
        stack, config, tuple(releases), ordered, permissions, dict(sorted(pipelines.items()))
    )


def _with_placeholders(value: Any, ids: Mapping[str, str]) -> Any:
    """`value` with every pipeline and job id of the stack replaced by its placeholder."""
    if isinstance(value, Mapping):
        return {
            k: ids.get(str(v), v)
            if k in ("pipelineId", "jobId") and str(v) in ids
            else _with_placeholders(v, ids)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_with_placeholders(v, ids) for v in value]
    return value


PRINCIPAL_KEYS = ("groupName", "servicePrincipalName", "userName")


def _grants(registration: Registration, owners: Mapping[str, tuple[str, str]]) -> ExpectedGrants:
    inputs = registration.inputs
    grants = {}
    for control in inputs.get("accessControls") or []:
        for key in PRINCIPAL_KEYS:
            if control.get(key):
                grants[(key, str(control[key]))] = str(control["permissionLevel"])
    if inputs.get("directoryPath"):
        return ExpectedGrants("directory", str(inputs["directoryPath"]), grants)
    # A component's Permissions is "<component>-permissions", its object "<component>-job" or
    # "<component>-pipeline" (components/pipeline_job.py, lakeflow_pipeline.py).
    component = registration.name.removesuffix("-permissions")
    for kind, field_name in (("job", "jobId"), ("pipeline", "pipelineId")):
        owner = owners.get(f"{component}-{kind}")
        if field_name in inputs and owner is not None:
            return ExpectedGrants(kind, None, grants, owner[1])
    raise DriftSetupError(
        f"permissions {registration.name}: not on a folder, job or pipeline of the stack; the"
        " drift check knows only those (cicd/driftcheck/expected.py)"
    )
