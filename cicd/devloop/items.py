"""Both sides of the dev loop as items (a notebook or a workspace file, by its workspace name
relative to the personal folder) and how each compares with the last sync.

Local items come from the working tree's `pipeline/notebooks` by the release import rules
(`cicd.releases.content`); workspace items from a listing of the personal folder, one request per
folder. Only an item whose `modified_at` moved since the sync record (or that the record does not
know) is exported (in source format, Jupyter where the working tree holds an .ipynb, files raw),
a few at a time; the others are known unchanged without reading them. An export that differs from
the base only in what the workspace rewrites on export (`merge.same_content`) is unchanged too.
States, one per item:

- in sync; changed here; changed in the workspace; changed on both sides (or never synced and
  different); only here; only there.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound
from databricks.sdk.service.workspace import ExportFormat, ObjectInfo, ObjectType

from cicd.devloop.merge import same_content
from cicd.devloop.record import Synced, SyncRecord
from cicd.devloop.target import DevLoopError
from cicd.releases.content import ReleaseContentError, scan_notebooks

# The Workspace API refuses a request above 10 MB.
MAX_IMPORT_BYTES = 10 * 1024 * 1024
EXTENSIONS = {"PYTHON": ".py", "SQL": ".sql", "SCALA": ".scala", "R": ".r"}
# Requests in flight at once for exports and imports (the SDK client is thread-safe).
WORKERS = 8

IN_SYNC = "in sync"
CHANGED_HERE = "changed here"
CHANGED_THERE = "changed in the workspace"
CHANGED_BOTH = "changed on both sides"
ONLY_HERE = "only here"
ONLY_THERE = "only there"

A = TypeVar("A")
B = TypeVar("B")


def in_parallel(work: Callable[[A], B], items: Iterable[A]) -> list[B]:
    """`work` over `items`, WORKERS at a time, results in order; the first error is raised."""
    listed = list(items)
    if len(listed) < 2:
        return [work(item) for item in listed]
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(work, listed))


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
    data: bytes | None  # the export; None when not exported: unchanged since the sync
    modified_at: int | None
    kind: str  # how it is exported and merged: SOURCE, JUPYTER (notebooks) or RAW (files)


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


@dataclass
class Listing:
    """The personal folder as listed: its items, and the folders that exist (workspace paths)."""

    items: dict[str, RemoteItem] = field(default_factory=dict)
    folders: set[str] = field(default_factory=set)


def _walk(client: WorkspaceClient, folder: str) -> Iterator[ObjectInfo]:
    """Every object under `folder`, directories included: one list request per folder."""
    queue = [folder]
    while queue:
        current = queue.pop(0)
        for info in client.workspace.list(current):
            if info.object_type is ObjectType.DIRECTORY and info.path:
                queue.append(info.path)
            yield info


def _unchanged(info: ObjectInfo, synced: Synced | None) -> bool:
    """The record proves the workspace's copy unchanged since the sync, from the listing alone:
    the same modified_at, or (after a push) one no later than the push's watermark."""
    if synced is None or info.modified_at is None:
        return False
    if synced.modified_at is not None:
        return info.modified_at == synced.modified_at
    return synced.pushed_until is not None and info.modified_at <= synced.pushed_until


def scan_remote(
    client: WorkspaceClient, folder: str, local: dict[str, LocalItem], record: SyncRecord
) -> Listing:
    """Every notebook and file under the personal folder; only those the record cannot prove
    unchanged are exported. A missing folder has nothing in it."""
    listing = Listing()
    try:
        objects = list(_walk(client, folder))
    except NotFound:
        return listing
    listing.folders.add(folder)
    to_export: list[tuple[str, ObjectInfo, bool]] = []
    for info in objects:
        if not info.path:
            continue
        path = info.path.removeprefix("/Workspace")
        if info.object_type is ObjectType.DIRECTORY:
            listing.folders.add(path)
            continue
        if info.object_type not in (ObjectType.NOTEBOOK, ObjectType.FILE):
            continue
        name = path.removeprefix(folder + "/")
        notebook = info.object_type is ObjectType.NOTEBOOK
        counterpart, synced = local.get(name), record.items.get(name)
        jupyter = notebook and (
            counterpart.format == "JUPYTER"
            if counterpart
            else bool(synced and synced.path.endswith(".ipynb"))
        )
        kind = ("JUPYTER" if jupyter else "SOURCE") if notebook else "RAW"
        language = info.language.value if notebook and info.language else None
        item = RemoteItem(name, info.path, notebook, language, None, info.modified_at, kind)
        listing.items[name] = item
        if not _unchanged(info, synced):
            to_export.append((name, info, jupyter))

    def export(entry: tuple[str, ObjectInfo, bool]) -> tuple[str, bytes]:
        name, info, jupyter = entry
        notebook = info.object_type is ObjectType.NOTEBOOK
        return name, export_bytes(client, str(info.path), notebook, jupyter)

    for name, data in in_parallel(export, to_export):
        item = listing.items[name]
        listing.items[name] = RemoteItem(
            item.name,
            item.workspace_path,
            item.notebook,
            item.language,
            data,
            item.modified_at,
            item.kind,
        )
    return listing


def _state(
    local: LocalItem, remote: RemoteItem, synced: Synced | None, base: Callable[[str], bytes | None]
) -> str:
    if remote.data is None:  # proven unchanged there since the sync
        assert synced is not None
        return CHANGED_HERE if digest(local.data) != synced.local else IN_SYNC
    if local.data == remote.data:
        return IN_SYNC
    if synced is None:
        same = same_content(local.data, remote.data, remote.kind, remote.language)
        return IN_SYNC if same else CHANGED_BOTH
    here = digest(local.data) != synced.local
    there = not unchanged_there(remote, synced, base)
    if here and there:
        return CHANGED_BOTH
    if here:
        return CHANGED_HERE
    if there:
        return CHANGED_THERE
    # Unchanged on both sides since the sync, yet different bytes: the workspace rewrote the
    # notebook on export (the real service does). Nothing to do.
    return IN_SYNC


def unchanged_there(
    remote: RemoteItem, synced: Synced, base: Callable[[str], bytes | None]
) -> bool:
    """The exported copy is the base, or differs from it only in what the service rewrites."""
    assert remote.data is not None
    if digest(remote.data) == synced.remote:
        return True
    kept = base(synced.remote)
    return kept is not None and same_content(kept, remote.data, remote.kind, remote.language)


def compare(
    local: dict[str, LocalItem],
    remote: dict[str, RemoteItem],
    record: SyncRecord,
    base: Callable[[str], bytes | None],
) -> list[ItemStatus]:
    """One status per item present on either side, sorted by name. `base` reads a base by its
    digest (None when it is not kept)."""
    statuses = []
    for name in sorted(set(local) | set(remote)):
        here, there, synced = local.get(name), remote.get(name), record.items.get(name)
        if here and there:
            state = _state(here, there, synced, base)
        else:
            state = ONLY_HERE if here else ONLY_THERE
        statuses.append(ItemStatus(name, state, here, there, synced))
    return statuses


def local_path_for(remote: RemoteItem) -> str:
    """Where a notebook created in the workspace goes in the working tree: its name plus the
    extension of its language (files keep their own name)."""
    if not remote.notebook:
        return remote.name
    return remote.name + EXTENSIONS.get(remote.language or "PYTHON", ".py")
