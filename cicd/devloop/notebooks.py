"""Push and pull of the personal folder's notebooks and files, never overwriting silently.

Every check runs before the first write. A push writes what changed here and what exists only
here; a pull writes what changed in the workspace and what exists only there. An item changed on
both sides since the last sync (or never synced and different) is a conflict: the command
refuses, naming every conflict at once; `--force` overwrites after saving what it replaces in a
backup folder it names. Deletions are shown, and applied by `pull --delete` only.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from pathlib import Path

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.workspace import ImportFormat, Language

from cicd.devloop.items import (
    CHANGED_BOTH,
    CHANGED_HERE,
    CHANGED_THERE,
    IN_SYNC,
    ONLY_HERE,
    ONLY_THERE,
    ItemStatus,
    LocalItem,
    digest,
    export_bytes,
    local_path_for,
)
from cicd.devloop.record import SYNC_DIR, Synced, SyncRecord
from cicd.devloop.target import DevLoopError

MAX_LISTED = 20


@dataclass
class Outcome:
    """What a push or pull did, line by line, and where it saved what it replaced."""

    lines: list[str] = field(default_factory=list)
    backup: Path | None = None


def _listed(paths: list[str]) -> str:
    shown = paths[:MAX_LISTED]
    more = f"\n  and {len(paths) - MAX_LISTED} more" if len(paths) > MAX_LISTED else ""
    return "\n".join(f"  - {p}" for p in shown) + more


def backup_folder(project_dir: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder = project_dir / SYNC_DIR / "backups" / stamp
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = project_dir / SYNC_DIR / "backups" / f"{stamp}-{suffix}"
    return folder


def _refuse(conflicts: list[ItemStatus], verb: str, fix: str) -> None:
    if conflicts:
        raise DevLoopError(
            f"{verb} would overwrite {len(conflicts)} item(s) edited on the other side since the"
            f" last sync; nothing was changed:\n"
            + _listed(
                [
                    f"{s.local.path if s.local else s.name} ({s.state}"
                    + (f"; {s.note}" if s.note else "")
                    + ")"
                    for s in conflicts
                ]
            )
            + f"\n{fix}"
        )


def _import(client: WorkspaceClient, folder: str, item: LocalItem) -> None:
    path = f"{folder}/{item.name}"
    parent = path.rsplit("/", 1)[0]
    client.workspace.mkdirs(parent)
    content = base64.b64encode(item.data).decode("ascii")
    if item.notebook:
        # SOURCE (or JUPYTER) with an explicit language, as the real service wants: the path
        # has no extension, so it cannot infer either.
        client.workspace.import_(
            path,
            content=content,
            format=ImportFormat(item.format),
            language=Language(item.language) if item.format == "SOURCE" else None,
            overwrite=True,
        )
    else:
        client.workspace.import_(path, content=content, format=ImportFormat.RAW, overwrite=True)


def push_notebooks(
    client: WorkspaceClient,
    folder: str,
    statuses: list[ItemStatus],
    record: SyncRecord,
    project_dir: Path,
    force: bool,
) -> Outcome:
    """Write this side's changes into the personal folder; updates `record` in place."""
    conflicts = [s for s in statuses if s.state == CHANGED_BOTH]
    if not force:
        _refuse(
            conflicts,
            "push",
            "Pull the workspace's edits first (`python -m cicd.dev pull`), merge them with yours"
            " and push again; or push with --force, which saves the workspace's copies to a"
            " backup folder first",
        )
    outcome = Outcome()
    if conflicts:
        outcome.backup = backup_folder(project_dir)
        for status in conflicts:
            assert status.remote and status.local
            saved = outcome.backup / "workspace" / status.local.path
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_bytes(status.remote.data)
    for status in statuses:
        local, remote = status.local, status.remote
        if local is None:
            # Only in the workspace: a push never deletes there; a pull brings it here.
            outcome.lines.append(f"kept in the workspace  {status.name}  ({status.note})")
            continue
        if status.state == IN_SYNC:
            assert remote is not None
            record.items[status.name] = Synced(local.path, digest(local.data), digest(remote.data))
            continue
        if status.state == CHANGED_THERE:
            outcome.lines.append(
                f"not pushed             {local.path}  (changed in the workspace: pull it)"
            )
            continue
        _import(client, folder, local)
        # The copy the workspace keeps (the real service may normalise a source notebook).
        stored = export_bytes(
            client, f"{folder}/{local.name}", local.notebook, local.format == "JUPYTER"
        )
        record.items[status.name] = Synced(local.path, digest(local.data), digest(stored))
        verb = {ONLY_HERE: "created", CHANGED_HERE: "updated"}.get(status.state, "overwrote")
        outcome.lines.append(f"{verb:<22} {folder}/{local.name}  (from {local.path})")
    return outcome


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Hidden: if interrupted, the next scan refuses it by name instead of pushing it.
    temporary = path.with_name(f".{path.name}.dev-pull")
    temporary.write_bytes(data)
    temporary.replace(path)


def pull_notebooks(
    notebooks_dir: Path,
    statuses: list[ItemStatus],
    record: SyncRecord,
    project_dir: Path,
    force: bool,
    delete: bool,
) -> Outcome:
    """Write the workspace's changes into the working tree; updates `record` in place."""
    conflicts = [s for s in statuses if s.state == CHANGED_BOTH]
    targets: dict[str, str] = {}
    for status in statuses:
        remote, synced = status.remote, status.synced
        if status.state == ONLY_THERE and remote is not None and synced is None:
            targets[status.name] = local_path_for(remote)
            if (notebooks_dir / targets[status.name]).exists():
                conflicts.append(status)  # a local file the scan does not see as this item
        edited_since = bool(status.local and synced and digest(status.local.data) != synced.local)
        if status.state == ONLY_HERE and delete and edited_since:
            conflicts.append(status)  # deleted there, but edited here since the sync
    if not force:
        _refuse(
            conflicts,
            "pull",
            "Commit or stash your local edits (`git stash`), pull, then re-apply them; or pull"
            " with --force, which saves your local copies to a backup folder first",
        )
    outcome = Outcome()
    if conflicts:
        outcome.backup = backup_folder(project_dir)
        for status in conflicts:
            relative = status.local.path if status.local else targets[status.name]
            source = notebooks_dir / relative
            if source.is_file():
                saved = outcome.backup / "local" / relative
                saved.parent.mkdir(parents=True, exist_ok=True)
                saved.write_bytes(source.read_bytes())
    for status in statuses:
        _pull_one(notebooks_dir, status, targets, record, delete, outcome)
    return outcome


def _pull_one(
    notebooks_dir: Path,
    status: ItemStatus,
    targets: dict[str, str],
    record: SyncRecord,
    delete: bool,
    outcome: Outcome,
) -> None:
    local, remote, synced = status.local, status.remote, status.synced
    if status.state == IN_SYNC:
        assert local and remote
        record.items[status.name] = Synced(local.path, digest(local.data), digest(remote.data))
    elif status.state == CHANGED_HERE:
        outcome.lines.append(f"kept here              {local.path if local else status.name}")
    elif status.state == ONLY_HERE:
        assert local is not None
        if synced is None:
            return  # new here: a push creates it there
        if not delete:
            outcome.lines.append(
                f"deleted in the workspace {local.path}  (kept here; --delete removes it)"
            )
            return
        (notebooks_dir / local.path).unlink()
        record.items.pop(status.name, None)
        outcome.lines.append(f"deleted                {local.path}  (deleted in the workspace)")
    elif status.state == ONLY_THERE and synced is not None:
        outcome.lines.append(
            f"deleted here           {status.name}  (still in the workspace; delete it there,"
            " or restore it with `git checkout`)"
        )
    else:  # changed in the workspace, changed on both sides (forced), or new in the workspace
        assert remote is not None
        relative = local.path if local else targets[status.name]
        _write(notebooks_dir / relative, remote.data)
        record.items[status.name] = Synced(relative, digest(remote.data), digest(remote.data))
        verb = "created" if local is None else "updated"
        outcome.lines.append(f"{verb:<22} {relative}  (from {remote.workspace_path})")
