"""Push and pull of the personal folder's notebooks and files, never overwriting silently.

Every check runs before the first write. A push writes what changed here and what exists only
here, creating each missing folder once; a pull writes what changed in the workspace and what
exists only there. A pull merges: it applies to the local file only what changed in the workspace
since the last sync (`merge`), so `git diff` shows exactly the workspace's edits, and an item
edited on both sides is merged too when the two edits touch different lines. Edits that clash, or
an item changed on both sides with no base to merge against (never synced), are a conflict: the
command refuses, naming every conflict at once, and keeps both sides as they are; `--force`
overwrites after saving what it replaces in a backup folder it names. Deletions are shown, and
applied by `pull --delete` only.
"""

from __future__ import annotations

import base64
import posixpath
import time
from collections.abc import Callable
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
    in_parallel,
    local_path_for,
)
from cicd.devloop.merge import MergeConflict, merge_item
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


def _refuse(
    conflicts: list[ItemStatus], verb: str, fix: str, why: dict[str, str] | None = None
) -> None:
    if conflicts:
        why = why or {}
        raise DevLoopError(
            f"{verb} would overwrite {len(conflicts)} item(s) edited on the other side since the"
            f" last sync; nothing was changed:\n"
            + _listed(
                [
                    f"{s.local.path if s.local else s.name} ({s.state}"
                    + (f"; {s.note}" if s.note else "")
                    + (f"; {why[s.name]}" if s.name in why else "")
                    + ")"
                    for s in conflicts
                ]
            )
            + f"\n{fix}"
        )


Base = Callable[[str], bytes | None]
Keep = Callable[[str, bytes], None]


def _import(client: WorkspaceClient, folder: str, item: LocalItem) -> None:
    path = f"{folder}/{item.name}"
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


def folders_to_create(folder: str, names: list[str], existing: set[str]) -> list[str]:
    """The folders to create so that every item of `names` has its parent: only missing ones,
    and only the deepest (the Workspace API's mkdirs creates the parents too)."""
    missing = set()
    for name in names:
        parent = posixpath.dirname(f"{folder}/{name}")
        while parent not in existing and parent.startswith(folder):
            missing.add(parent)
            parent = posixpath.dirname(parent)
    return sorted(m for m in missing if not any(o.startswith(m + "/") for o in missing))


def refresh_record(statuses: list[ItemStatus], record: SyncRecord, keep: Keep) -> None:
    """What a listing taught: an item the workspace did not change (in sync or changed here only)
    takes the modified_at it now has, and its export as base, so it is not exported again."""
    for status in statuses:
        local, remote, synced = status.local, status.remote, status.synced
        if remote is None or remote.modified_at is None:
            continue
        if status.state == IN_SYNC and local is not None:
            base = synced.remote if synced and remote.data is None else None
            if remote.data is not None:
                keep(digest(remote.data), remote.data)
                base = digest(remote.data)
            if base is not None:
                record.items[status.name] = Synced(
                    local.path, digest(local.data), base, remote.modified_at
                )
        elif status.state == CHANGED_HERE and synced is not None:
            base = synced.remote
            if remote.data is not None:
                keep(digest(remote.data), remote.data)
                base = digest(remote.data)
            record.items[status.name] = Synced(synced.path, synced.local, base, remote.modified_at)


def push_notebooks(
    client: WorkspaceClient,
    folder: str,
    existing: set[str],
    statuses: list[ItemStatus],
    record: SyncRecord,
    project_dir: Path,
    force: bool,
    keep: Keep,
) -> Outcome:
    """Write this side's changes into the personal folder; updates `record` in place."""
    conflicts = [s for s in statuses if s.state == CHANGED_BOTH]
    if not force:
        _refuse(
            conflicts,
            "push",
            "Pull the workspace's edits first (`python -m cicd.dev pull`: it merges them into"
            " your files), then push again; or push with --force, which saves the workspace's"
            " copies to a backup folder first",
        )
    outcome = Outcome()
    if conflicts:
        outcome.backup = backup_folder(project_dir)
        for status in conflicts:
            assert status.remote and status.remote.data is not None and status.local
            saved = outcome.backup / "workspace" / status.local.path
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_bytes(status.remote.data)
    pushed: list[ItemStatus] = []
    for status in statuses:
        local = status.local
        if local is None:
            # Only in the workspace: a push never deletes there; a pull brings it here.
            outcome.lines.append(f"kept in the workspace  {status.name}  ({status.note})")
        elif status.state == CHANGED_THERE:
            outcome.lines.append(
                f"not pushed             {local.path}  (changed in the workspace: pull it)"
            )
        elif status.state != IN_SYNC:
            pushed.append(status)
    if not pushed:
        return outcome
    for path in folders_to_create(folder, [s.name for s in pushed], existing):
        client.workspace.mkdirs(path)

    def send(status: ItemStatus) -> None:
        local = status.local
        assert local is not None
        _import(client, folder, local)
        # Recorded at once: if a later import fails, this one is known pushed (its base is what
        # was sent; its modified_at, unknown, makes the next command export it once).
        keep(digest(local.data), local.data)
        record.items[status.name] = Synced(local.path, digest(local.data), digest(local.data))

    # All but the last a few at a time; the last alone, after them: its modified_at, read back,
    # is then no earlier than any of this push's imports (the record's watermark).
    in_parallel(send, pushed[:-1])
    send(pushed[-1])
    last = pushed[-1]
    assert last.local is not None
    watermark = client.workspace.get_status(f"{folder}/{last.local.name}").modified_at
    for status in pushed:
        local = status.local
        assert local is not None
        record.items[status.name] = Synced(
            local.path, digest(local.data), digest(local.data), None, watermark
        )
        verb = {ONLY_HERE: "created", CHANGED_HERE: "updated"}.get(status.state, "overwrote")
        outcome.lines.append(f"{verb:<22} {folder}/{local.name}  (from {local.path})")
    return outcome


def _write(path: Path, data: bytes, expected: bytes | None) -> bool:
    """Replace `path` with `data` unless it changed since it was read (`expected`: its bytes
    then, None: it did not exist); False when it did (an editor saved it meanwhile)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Hidden: if interrupted, the next scan refuses it by name instead of pushing it.
    temporary = path.with_name(f".{path.name}.dev-pull")
    temporary.write_bytes(data)
    try:
        current = path.read_bytes() if path.exists() else None
    except OSError:
        current = b""
    if current != expected:
        temporary.unlink(missing_ok=True)
        return False
    temporary.replace(path)
    return True


@dataclass
class _Planned:
    """What a pull writes for one item."""

    status: ItemStatus
    relative: str
    data: bytes
    merged: bool  # the workspace's edits merged into local edits: local is ahead (unpushed)
    expected: bytes | None  # the local file's bytes as scanned (None: there was none)


def _plan(
    status: ItemStatus, base: Base, force: bool, why: dict[str, str]
) -> tuple[bytes | None, bool]:
    """What to write for an item changed in the workspace (or on both sides): the local file with
    the workspace's edits merged in, and whether it keeps local edits too (then it is ahead of
    the workspace). (None, False): a conflict, its reason in `why`. With `force`, a conflict
    takes the workspace's copy (the caller backs up the local one)."""
    local, remote, synced = status.local, status.remote, status.synced
    assert local is not None and remote is not None and remote.data is not None
    both = status.state == CHANGED_BOTH
    kept = base(synced.remote) if synced else None
    if kept is None:
        # Never synced, or a record without bases (format 1): nothing to merge against.
        if both and not force:
            if synced:  # (never synced: the status's own note says so)
                why[status.name] = "no base kept to merge against"
            return None, False
        return remote.data, False
    try:
        return merge_item(kept, local.data, remote.data, remote.kind, remote.language), both
    except MergeConflict as exc:
        if not both:
            return remote.data, False  # nothing changed here since the sync: nothing to lose
        if not force:
            why[status.name] = str(exc)
            return None, False
        return remote.data, False


def pull_notebooks(
    notebooks_dir: Path,
    statuses: list[ItemStatus],
    record: SyncRecord,
    project_dir: Path,
    force: bool,
    delete: bool,
    base: Base,
    keep: Keep,
) -> Outcome:
    """Write the workspace's changes into the working tree; updates `record` in place."""
    conflicts: list[ItemStatus] = []
    why: dict[str, str] = {}
    plans: list[_Planned] = []
    for status in statuses:
        local, remote, synced = status.local, status.remote, status.synced
        if status.state == ONLY_THERE and remote is not None and synced is None:
            relative = local_path_for(remote)
            taken = notebooks_dir / relative
            if taken.exists():
                conflicts.append(status)  # a local file the scan does not see as this item
            assert remote.data is not None
            expected = taken.read_bytes() if taken.is_file() else None
            plans.append(_Planned(status, relative, remote.data, False, expected))
        elif status.state in (CHANGED_THERE, CHANGED_BOTH):
            assert local is not None
            data, merged = _plan(status, base, force, why)
            if data is None:
                conflicts.append(status)
                continue
            if status.state == CHANGED_BOTH and not merged:
                conflicts.append(status)  # forced: overwritten, backed up below
            plans.append(_Planned(status, local.path, data, merged, local.data))
        edited_since = bool(local and synced and digest(local.data) != synced.local)
        if status.state == ONLY_HERE and delete and edited_since:
            conflicts.append(status)  # deleted there, but edited here since the sync
    if not force:
        _refuse(
            conflicts,
            "pull",
            "Stash your local edits (`git stash`), pull, then re-apply them (`git stash pop`); or"
            " pull with --force, which saves your local copies to a backup folder first",
            why,
        )
    outcome = Outcome()
    saved = conflicts + [p.status for p in plans if p.merged]
    if saved:
        outcome.backup = backup_folder(project_dir)
        for status in saved:
            plan = next((p for p in plans if p.status is status), None)
            relative = status.local.path if status.local else plan.relative if plan else ""
            source = notebooks_dir / relative
            if relative and source.is_file():
                copy = outcome.backup / "local" / relative
                copy.parent.mkdir(parents=True, exist_ok=True)
                copy.write_bytes(source.read_bytes())
    planned = {p.status.name: p for p in plans}
    for status in statuses:
        if status.name in planned:
            _pull_one(notebooks_dir, planned[status.name], record, outcome, keep)
        else:
            _note_one(notebooks_dir, status, record, delete, outcome)
    return outcome


def _pull_one(
    notebooks_dir: Path, plan: _Planned, record: SyncRecord, outcome: Outcome, keep: Keep
) -> None:
    status, remote, local = plan.status, plan.status.remote, plan.status.local
    assert remote is not None and remote.data is not None
    path = notebooks_dir / plan.relative
    if not _write(path, plan.data, plan.expected):
        outcome.lines.append(
            f"not written            {plan.relative}  (changed here while pull ran: run pull again)"
        )
        return
    keep(digest(remote.data), remote.data)
    # Merged into local edits: the local file is ahead of the workspace, so it counts as
    # changed here (a push sends both edits).
    written = "" if plan.merged else digest(plan.data)
    record.items[status.name] = Synced(
        plan.relative, written, digest(remote.data), remote.modified_at
    )
    verb = "created" if local is None else "merged" if plan.merged else "updated"
    outcome.lines.append(f"{verb:<22} {plan.relative}  (from {remote.workspace_path})")


def _note_one(
    notebooks_dir: Path, status: ItemStatus, record: SyncRecord, delete: bool, outcome: Outcome
) -> None:
    local, synced = status.local, status.synced
    if status.state == CHANGED_HERE:
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
