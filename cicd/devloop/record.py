"""The per-user sync record: for every notebook and file, what it was when a push or a pull last
made the two sides equal, and a lock so that two commands of one engineer never run at once.

Per item: the digest of the local file, the digest of the workspace's copy (the base), and the
workspace's `modified_at` for it. The base's bytes are kept too (content-addressed, beside the
record), since `pull` merges the workspace's edits into the local file against them. After a pull
the base is the workspace's own export; after a push it is what was pushed, and `modified_at` is
learnt at the next listing: any `modified_at` up to the push's own watermark (the last import's
`modified_at`, read once per push) is the push's own import.

It is what lets a command tell "changed here" from "changed in the workspace", refuse to
overwrite an edit made since the last sync, and skip exporting what has not moved. It lives in
`.dev-sync/<stack>/<slug>.json` with its bases in `.dev-sync/<stack>/<slug>.bases/` (git-ignored:
it describes one engineer's workspace, not the repository).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cicd.devloop.target import DevLoopError
from cicd.sharedfile import pid_alive

SYNC_DIR = ".dev-sync"
FORMAT = 2
READABLE_FORMATS = (1, 2)


@dataclass(frozen=True)
class Synced:
    """One item as it was at the last sync."""

    path: str  # the local file, relative to pipeline/notebooks/
    local: str  # digest of the local file ("" after a merge that kept local edits: unpushed)
    remote: str  # digest of the base (the workspace's copy)
    modified_at: int | None = None  # the workspace's modified_at for it; None: not seen yet
    pushed_until: int | None = None  # set by a push: its watermark (see the module docstring)


@dataclass
class Library:
    """The dev build last uploaded and installed: the push skips both when it is unchanged."""

    uri: str
    digest: str


@dataclass
class SyncRecord:
    host: str
    folder: str
    items: dict[str, Synced] = field(default_factory=dict)  # workspace name -> state
    library: Library | None = None

    def to_json(self) -> str:
        items = {
            name: {
                "path": s.path,
                "local": s.local,
                "remote": s.remote,
                "modified_at": s.modified_at,
                "pushed_until": s.pushed_until,
            }
            for name, s in sorted(self.items.items())
        }
        document: dict[str, object] = {
            "format": FORMAT,
            "host": self.host,
            "folder": self.folder,
            "items": items,
        }
        if self.library:
            document["library"] = {"uri": self.library.uri, "digest": self.library.digest}
        return json.dumps(document, indent=2, sort_keys=True) + "\n"


def record_path(project_dir: Path, stack: str, slug: str) -> Path:
    return project_dir / SYNC_DIR / stack / f"{slug}.json"


def _optional_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def load_record(path: Path, host: str, folder: str) -> SyncRecord:
    """The record at `path`; an empty one when there is none yet or it describes another
    workspace or folder (then every difference counts as unsynced: nothing is overwritten).
    A format-1 record (no bases, no modified_at) is read as it is: its items are exported once."""
    empty = SyncRecord(host, folder)
    if not path.is_file():
        return empty
    try:
        document = json.loads(path.read_text())
        if document.get("format") not in READABLE_FORMATS:
            return empty
        if document.get("host") != host or document.get("folder") != folder:
            return empty
        items = {
            name: Synced(
                str(entry["path"]),
                str(entry["local"]),
                str(entry["remote"]),
                _optional_int(entry.get("modified_at")),
                _optional_int(entry.get("pushed_until")),
            )
            for name, entry in document.get("items", {}).items()
        }
        library = document.get("library")
        built = Library(str(library["uri"]), str(library["digest"])) if library else None
    except (ValueError, KeyError, TypeError, AttributeError):
        return empty  # unreadable: treated as absent, which only makes commands more careful
    return SyncRecord(host, folder, items, built)


def describes_another(path: Path, host: str, folder: str) -> bool:
    """The record at `path` is readable and describes another workspace or folder (a command
    that only looks, `status`, then leaves it alone)."""
    try:
        document = json.loads(path.read_text())
        return bool(document.get("host") != host or document.get("folder") != folder)
    except (OSError, ValueError, AttributeError):
        return False


def _bases_dir(path: Path) -> Path:
    return path.with_suffix(".bases")


def read_base(path: Path, digest: str) -> bytes | None:
    """The base with this digest kept beside the record at `path`, if it is there."""
    try:
        return (_bases_dir(path) / digest.removeprefix("sha256:")).read_bytes()
    except OSError:
        return None


def keep_base(path: Path, digest: str, data: bytes) -> None:
    """Keep `data` (whose digest is `digest`) as a base beside the record at `path`."""
    target = _bases_dir(path) / digest.removeprefix("sha256:")
    if target.is_file():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    temporary.replace(target)


def save_record(path: Path, record: SyncRecord) -> None:
    """Write the record (atomically) and drop the bases it no longer refers to."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(record.to_json())
    temporary.replace(path)
    referenced = {s.remote.removeprefix("sha256:") for s in record.items.values()}
    bases = _bases_dir(path)
    if bases.is_dir():
        for kept in bases.iterdir():
            if kept.name not in referenced and not kept.name.startswith("."):
                kept.unlink(missing_ok=True)


@contextmanager
def record_lock(path: Path, command: str) -> Iterator[None]:
    """Hold the record's lock for one command: a second command on the same record (another
    terminal, a script) is refused, naming the one running, instead of the two overwriting each
    other's record. A lock left by a process that is gone (on this machine) is taken over."""
    lock = path.with_suffix(".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    me = f"{socket.gethostname()} {os.getpid()} {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {command}"
    for _attempt in range(2):
        try:
            handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = lock.read_text().strip()
            except OSError:
                holder = ""
            parts = holder.split(" ", 3)
            same_host = len(parts) > 1 and parts[0] == socket.gethostname()
            if same_host and parts[1].isdigit() and not pid_alive(int(parts[1])):
                lock.unlink(missing_ok=True)  # its process is gone: stale
                continue
            raise DevLoopError(
                f"another dev command is running on this sync record ({holder or 'unknown'};"
                f" lock {lock}); nothing was changed. Wait for it to finish and run this again;"
                f" if no such command runs any more, delete {lock}"
            ) from None
        with os.fdopen(handle, "w") as written:
            written.write(me + "\n")
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)
        return
    raise DevLoopError(f"cannot take the lock {lock}; nothing was changed. Run this again")
