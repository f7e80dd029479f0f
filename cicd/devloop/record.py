"""The per-user sync record: for every notebook and file, the digest of the local file and of
the workspace's copy when they were last made equal by a push or a pull.

It is what lets a command tell "changed here" from "changed in the workspace", and so refuse to
overwrite an edit made since the last sync. It lives in `.dev-sync/<stack>/<slug>.json` in the
project (git-ignored: it describes one engineer's workspace, not the repository).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

SYNC_DIR = ".dev-sync"
FORMAT = 1


@dataclass(frozen=True)
class Synced:
    """One item as it was at the last sync: the local file and the workspace copy's digests."""

    path: str  # the local file, relative to pipeline/notebooks/
    local: str
    remote: str


@dataclass
class SyncRecord:
    host: str
    folder: str
    items: dict[str, Synced] = field(default_factory=dict)  # workspace name -> state

    def to_json(self) -> str:
        items = {
            name: {"path": s.path, "local": s.local, "remote": s.remote}
            for name, s in sorted(self.items.items())
        }
        document = {"format": FORMAT, "host": self.host, "folder": self.folder, "items": items}
        return json.dumps(document, indent=2, sort_keys=True) + "\n"


def record_path(project_dir: Path, stack: str, slug: str) -> Path:
    return project_dir / SYNC_DIR / stack / f"{slug}.json"


def load_record(path: Path, host: str, folder: str) -> SyncRecord:
    """The record at `path`; an empty one when there is none yet or it describes another
    workspace or folder (then every difference counts as unsynced: nothing is overwritten)."""
    empty = SyncRecord(host, folder)
    if not path.is_file():
        return empty
    try:
        document = json.loads(path.read_text())
        if document.get("format") != FORMAT:
            return empty
        if document.get("host") != host or document.get("folder") != folder:
            return empty
        items = {
            name: Synced(str(entry["path"]), str(entry["local"]), str(entry["remote"]))
            for name, entry in document.get("items", {}).items()
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        return empty  # unreadable: treated as absent, which only makes commands more careful
    return SyncRecord(host, folder, items)


def save_record(path: Path, record: SyncRecord) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(record.to_json())
    temporary.replace(path)
