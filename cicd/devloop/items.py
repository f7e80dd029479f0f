"""Both sides of the dev loop as items (a notebook or a workspace file, by its workspace name
relative to the personal folder) and how each compares with the last sync.

Local items come from the working tree's `pipeline/notebooks` by the release import rules
(`cicd.releases.content`); workspace items from a recursive listing of the personal folder,
exported in source format (files raw). States, one per item:

- in sync; changed here; changed in the workspace; changed on both sides (or never synced and
  different); only here; only there.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound
from databricks.sdk.service.workspace import ExportFormat, ObjectType

from cicd.devloop.record import Synced, SyncRecord
from cicd.devloop.target import DevLoopError
from cicd.releases.content import ReleaseContentError, scan_notebooks

# The Workspace API refuses a request above 10 MB.
MAX_IMPORT_BYTES = 10 * 1024 * 1024
EXTENSIONS = {"PYTHON": ".py", "SQL": ".sql", "SCALA": ".scala", "R": ".r"}

IN_SYNC = "in sync"
CHANGED_HERE = "changed here"
CHANGED_THERE = "changed in the workspace"
CHANGED_BOTH = "changed on both sides"
ONLY_HERE = "only here"
ONLY_THERE = "only there"


def digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@dataclass(frozen=True)
class LocalItem:
    name: str  # workspace name: notebooks without extension, files with theirs
    path: str  # relative to pipeline/notebooks/
    notebook: bool
    language: str | None
    format: str  # SOURCE or JUPYTER (notebooks); RAW (files)
    data: bytes


@dataclass(frozen=True)
class RemoteItem:
    name: str
    workspace_path: str
    notebook: bool
    language: str | None
    data: bytes


@dataclass(frozen=True)
class ItemStatus:
    name: str
    state: str
    local: LocalItem | None
    remote: RemoteItem | None
    synced: Synced | None

    @property
    def note(self) -> str:
        if self.state == ONLY_HERE:
            return "deleted in the workspace since the last sync" if self.synced else "new here"
        if self.state == ONLY_THERE:
            return "deleted here since the last sync" if self.synced else "new in the workspace"
        if self.state == CHANGED_BOTH and self.synced is None:
            return "never synced, and the two differ"
        return ""

    def line(self) -> str:
        where = self.local.path if self.local else self.name
        return f"{self.state:<26} {where}" + (f"  ({self.note})" if self.note else "")


def scan_local(notebooks_dir: Path) -> dict[str, LocalItem]:
    """Every notebook and file of the working tree, refusing what the workspace would refuse."""
    try:
        notebooks, files, _ = scan_notebooks(notebooks_dir)
    except ReleaseContentError as exc:
        raise DevLoopError(f"{exc}; nothing was changed") from None
    items: dict[str, LocalItem] = {}
    problems: list[str] = []
    for notebook in notebooks:
        data = notebook.source.read_bytes()
        items[notebook.workspace_name] = LocalItem(
            notebook.workspace_name,
            notebook.relative_path,
            True,
            notebook.language,
            notebook.format,
            data,
        )
        if notebook.format == "SOURCE":
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as exc:
                problems.append(
                    f"{notebooks_dir / notebook.relative_path}: not UTF-8 text ({exc.reason} at"
                    f" byte {exc.start}); the workspace imports source notebooks as UTF-8: save"
                    " it as UTF-8"
                )
    for file in files:
        data = file.source.read_bytes()
        items[file.relative_path] = LocalItem(
            file.relative_path, file.relative_path, False, None, "RAW", data
        )
    for item in items.values():
        if len(item.data) > MAX_IMPORT_BYTES:
            problems.append(
                f"{notebooks_dir / item.path}: {len(item.data)} bytes; the workspace refuses an"
                f" import above {MAX_IMPORT_BYTES} bytes (10 MB): split it, or keep the data"
                " out of the notebooks tree (a volume, a table)"
            )
    if problems:
        shown = problems[:10] + ([f"and {len(problems) - 10} more"] if len(problems) > 10 else [])
        raise DevLoopError(
            f"{len(problems)} file(s) the workspace would refuse; nothing was changed:\n"
            + "\n".join(f"  - {p}" for p in shown)
        )
    return items


def export_bytes(client: WorkspaceClient, path: str, notebook: bool, jupyter: bool) -> bytes:
    if not notebook:
        fmt = ExportFormat.RAW
    else:
        fmt = ExportFormat.JUPYTER if jupyter else ExportFormat.SOURCE
    content = client.workspace.export(path, format=fmt).content or ""
    return base64.b64decode(content)


def scan_remote(
    client: WorkspaceClient, folder: str, local: dict[str, LocalItem]
) -> dict[str, RemoteItem]:
    """Every notebook and file under the personal folder, exported (Jupyter where the working
    tree holds an .ipynb, else source; files raw). A missing folder has nothing in it."""
    items: dict[str, RemoteItem] = {}
    try:
        objects = list(client.workspace.list(folder, recursive=True))
    except NotFound:
        return items
    for info in objects:
        if info.object_type not in (ObjectType.NOTEBOOK, ObjectType.FILE) or not info.path:
            continue
        name = info.path.removeprefix("/Workspace").removeprefix(folder + "/")
        notebook = info.object_type is ObjectType.NOTEBOOK
        counterpart = local.get(name)
        jupyter = bool(counterpart and counterpart.format == "JUPYTER")
        language = info.language.value if notebook and info.language else None
        data = export_bytes(client, info.path, notebook, jupyter)
        items[name] = RemoteItem(name, info.path, notebook, language, data)
    return items


def _state(local: LocalItem, remote: RemoteItem, synced: Synced | None) -> str:
    if local.data == remote.data:
        return IN_SYNC
    if synced is None:
        return CHANGED_BOTH
    here = digest(local.data) != synced.local
    there = digest(remote.data) != synced.remote
    if here and there:
        return CHANGED_BOTH
    if here:
        return CHANGED_HERE
    if there:
        return CHANGED_THERE
    # Unchanged on both sides since the sync, yet different bytes: the workspace normalised
    # the source on import (the real service may). Nothing to do.
    return IN_SYNC


def compare(
    local: dict[str, LocalItem], remote: dict[str, RemoteItem], record: SyncRecord
) -> list[ItemStatus]:
    """One status per item present on either side, sorted by name."""
    statuses = []
    for name in sorted(set(local) | set(remote)):
        here, there, synced = local.get(name), remote.get(name), record.items.get(name)
        state = _state(here, there, synced) if here and there else ONLY_HERE if here else ONLY_THERE
        statuses.append(ItemStatus(name, state, here, there, synced))
    return statuses


def local_path_for(remote: RemoteItem) -> str:
    """Where a notebook created in the workspace goes in the working tree: its name plus the
    extension of its language (files keep their own name)."""
    if not remote.notebook:
        return remote.name
    return remote.name + EXTENSIONS.get(remote.language or "PYTHON", ".py")
