"""The engineer's dev build of the library: built from the working tree by the reproducible
release build, uploaded to their own dev location, installed on their own cluster with the
Libraries API (the previous dev build uninstalled), the cluster restarted on request.

A push whose build is byte for byte the one it last installed (the sync record keeps its digest)
uploads and installs nothing, once the cluster's library list confirms it is still there.

The version is `0.0.0.dev<N>`, N taken from a digest of the library's sources: a changed
library gets a new version and file name, so the cluster never keeps a stale wheel of the same
name (databricks/cli issues 2502, 1050); the same sources give the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.compute import (
    ClusterDetails,
    Library,
    LibraryFullStatus,
    LibraryInstallStatus,
    State,
)
from databricks.sdk.service.workspace import ImportFormat

from cicd.config import ArtifactStoreKind
from cicd.devloop.record import Library as BuiltLibrary
from cicd.devloop.record import SyncRecord
from cicd.devloop.target import DevTarget
from cicd.project import PIPELINE_DIR
from cicd.releases.build import build_from_source

# What goes into the wheel (see pipeline/pyproject.toml); notebooks do not change the version.
LIBRARY_SOURCES = ("pyproject.toml", "src")
# Library states in which the cluster does not (or will not) have the build: install it again.
NOT_INSTALLED = (
    LibraryInstallStatus.FAILED,
    LibraryInstallStatus.SKIPPED,
    LibraryInstallStatus.UNINSTALL_ON_RESTART,
)
# Where builds are assembled, relative to the project (`dist/` is never committed).
DEV_BUILD_DIR = Path("dist") / "dev"


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


def build_dev_wheel(project_dir: Path, slug: str) -> Path:
    """Build the working tree's library into `dist/dev/<slug>/`; returns the wheel. A wheel of
    the same version already there is the same build (the version is the digest of everything
    that goes into it, and the build is reproducible): it is reused, not rebuilt."""
    pipeline = project_dir / PIPELINE_DIR
    version = dev_version(pipeline)
    folder = project_dir / DEV_BUILD_DIR / slug
    built = sorted((folder / "libraries").glob(f"*-{version}-*.whl"))
    if len(built) == 1:
        return built[0]
    target = build_from_source(pipeline, version, folder)
    wheels = sorted((target / "libraries").glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def upload_wheel(client: WorkspaceClient, target: DevTarget, wheel: Path) -> str:
    """Upload to the engineer's dev location; returns the library URI a cluster installs.

    The same file name always holds the same bytes (reproducible build), so overwriting it is
    byte-identical."""
    location = target.location
    path = f"{location.path}/{wheel.name}"
    data = wheel.read_bytes()
    if location.kind is ArtifactStoreKind.VOLUME:
        client.files.upload(path, io.BytesIO(data), overwrite=True)
    elif location.kind is ArtifactStoreKind.WORKSPACE:
        client.workspace.mkdirs(location.path)
        client.workspace.import_(
            path,
            content=base64.b64encode(data).decode("ascii"),
            format=ImportFormat.RAW,
            overwrite=True,
        )
    else:
        client.dbfs.upload(path, io.BytesIO(data), overwrite=True)
    return target.store.library_uri(path)


def _is_dev_build(uri: str, target: DevTarget) -> bool:
    """A wheel of this engineer's: in their dev location, or where the stack used to put their
    builds (`<artifact root>/dev/<slug>/`)."""
    own = target.store.library_uri(target.location.path + "/")
    former = target.store.library_uri(f"{target.store.root}/dev/{target.engineer.slug}/")
    return uri.endswith(".whl") and (uri.startswith(own) or uri.startswith(former))


def sync_library(
    client: WorkspaceClient,
    cluster: ClusterDetails,
    target: DevTarget,
    wheel: Path,
    record: SyncRecord,
    restart: bool,
) -> list[str]:
    """Upload `wheel` and install it on the engineer's cluster, uninstalling their other dev
    builds; skipped when the record says this very build (same bytes, same place) was installed
    and the cluster still lists it. `record.library` is updated."""
    cluster_id = cluster.cluster_id or ""
    data = wheel.read_bytes()
    built = f"sha256:{hashlib.sha256(data).hexdigest()}"
    uri = target.store.library_uri(f"{target.location.path}/{wheel.name}")
    listed = [s for s in client.libraries.cluster_status(cluster_id) if s.library]
    installed = any(
        s.library and s.library.whl == uri and s.status not in NOT_INSTALLED for s in listed
    )
    lines = []
    if record.library == BuiltLibrary(uri, built) and installed:
        lines.append(f"library unchanged      {wheel.name}: installed on {target.cluster_name}")
    else:
        upload_wheel(client, target, wheel)
        lines.append(f"uploaded               {wheel.name} to {target.location.path}")
        lines += _install(client, cluster_id, target, uri, listed)
        record.library = BuiltLibrary(uri, built)
    return lines + _restart(client, cluster, target, restart)


def _install(
    client: WorkspaceClient,
    cluster_id: str,
    target: DevTarget,
    uri: str,
    listed: list[LibraryFullStatus],
) -> list[str]:
    previous = [
        status.library
        for status in listed
        if status.library
        and status.library.whl
        and status.library.whl != uri
        and _is_dev_build(status.library.whl, target)
        and status.status is not LibraryInstallStatus.UNINSTALL_ON_RESTART
    ]
    client.libraries.install(cluster_id, [Library(whl=uri)])
    lines = [f"installed              {uri} on {target.cluster_name} ({cluster_id})"]
    if previous:
        client.libraries.uninstall(cluster_id, previous)
        for library in previous:
            lines.append(f"uninstalled            {library.whl} (removed at the next restart)")
    return lines


def _restart(
    client: WorkspaceClient, cluster: ClusterDetails, target: DevTarget, restart: bool
) -> list[str]:
    """Restart on request; `cluster.state` is as listed when the command started."""
    state = cluster.state
    if restart and state is State.RUNNING:
        client.clusters.restart(cluster.cluster_id or "")
        return [f"restarted              {target.cluster_name}: sessions load the new build"]
    if restart:
        return [
            f"not restarted          {target.cluster_name} is {state.value if state else '?'}:"
            " it installs the build when it starts"
        ]
    if state is State.RUNNING:
        return [
            "running sessions keep the previous build until the cluster restarts (push --restart)"
        ]
    return []
