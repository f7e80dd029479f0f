"""`--restore`: put every drifted release file back to its published bytes, after a backup.

Before anything is written, every object about to be replaced or removed is read and saved under
a new local backup folder (its workspace/volume/DBFS path below the folder, notebooks with their
language's extension) with a `manifest.json` naming each one and its digest; the backup is read
back and checked first. Nothing anyone wrote is lost, however wrong it was. Then changed and
missing files get their published bytes, and files nobody published are removed (they are in the
backup). Job and permission drift is left to `pulumi up --refresh`, which owns those settings.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from databricks.sdk import WorkspaceClient

from cicd.driftcheck import objects
from cicd.driftcheck.expected import Store
from cicd.driftcheck.releases import ReleaseDrift

EXTENSIONS = {"PYTHON": ".py", "SQL": ".sql", "SCALA": ".scala", "R": ".r"}


class BackupError(Exception):
    """The backup could not be written or read back; nothing in the workspace was changed."""


@dataclass(frozen=True)
class Saved:
    path: str  # where it was in the workspace / volume / DBFS
    store: str
    kind: str
    action: str  # "replaced" or "removed"
    backup: str  # relative to the backup folder
    sha256: str


def new_backup_folder(root: Path, stack: str) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = root / f"{stack}-{stamp}"
    suffix = 1
    while folder.exists():  # never write into an earlier backup
        suffix += 1
        folder = root / f"{stack}-{stamp}-{suffix}"
    return folder


def _backup_name(path: str, kind: str, language: str | None) -> str:
    relative = PurePosixPath(path.lstrip("/"))
    if kind == "notebook":
        return str(relative) + EXTENSIONS.get(language or "PYTHON", ".py")
    return str(relative)


def _save(folder: Path, name: str, data: bytes) -> str:
    target = folder / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        raise BackupError(f"{target}: already in the backup; nothing was changed")
    target.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    if hashlib.sha256(target.read_bytes()).hexdigest() != digest:
        raise BackupError(f"{target}: reads back differently; nothing was changed")
    return f"sha256:{digest}"


def restore(
    client: WorkspaceClient, drifts: Sequence[ReleaseDrift], backup_folder: Path
) -> list[Saved]:
    """Back up, then restore. Raises BackupError before any write if the backup fails."""
    backup_folder.mkdir(parents=True, exist_ok=False)
    saved: list[Saved] = []
    for drift in drifts:
        for expected in drift.to_write:
            kind = drift.found_kinds.get(expected.path)
            if kind is None:
                continue  # missing: nothing to save
            data = objects.read(client, expected, kind)
            name = _backup_name(expected.path, kind, expected.language)
            digest = _save(backup_folder, name, data)
            saved.append(Saved(expected.path, expected.store.value, kind, "replaced", name, digest))
        for path, (store, kind) in drift.added.items():
            data = objects.read_found(client, store, path)
            name = _backup_name(path, kind, None)
            digest = _save(backup_folder, name, data)
            saved.append(Saved(path, store.value, kind, "removed", name, digest))
    manifest = backup_folder / "manifest.json"
    manifest.write_text(json.dumps([s.__dict__ for s in saved], indent=2) + "\n")
    # Written only once every replaced or removed object is safely on disk.
    for drift in drifts:
        for expected in drift.to_write:
            actual_kind = drift.found_kinds.get(expected.path)
            if actual_kind is not None and actual_kind != expected.kind:
                objects.delete(client, expected.store, expected.path)
            objects.write(client, expected)
        for path, (store, _kind) in drift.added.items():
            objects.delete(client, Store(store), path)
    return saved
