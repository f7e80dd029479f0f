"""Edits of files the team shares (`Pulumi.<stack>.yaml`, `releases.lock.yaml`): read once, and
written only if nobody changed them in between, by one writer at a time.

Two people (or two CI jobs) may run `cicd.promote` or `cicd.release` at once on one checkout.
Each command keeps the exact bytes it read (`read_shared`/`read_bytes`) and hands them back
when it writes (`replace_file`): under an exclusive lock file (`.<name>.lock`, created with
O_EXCL beside the file, holding who writes) the file is read again, and if it is no longer those
bytes the write is refused with the lines the other change made, never merged or overwritten.
The new bytes go to a temporary file in the same folder that then replaces the file in one
rename, so a reader sees the old file or the new one, never half of one.

The lock is held only for that re-read and rename (milliseconds); a writer that finds it held
waits a few seconds, then refuses naming the holder. A lock left by a run that was killed
(its process no longer exists on this host) is explained as such, with the command that
removes it: it is never taken over silently.

Stack files keep their bytes: a UTF-8 byte-order mark and CRLF line endings are kept exactly as
found; a file that mixes line endings, or is not UTF-8, is refused naming the cause. A file
without write permission is refused with a message before anything else is done.
"""

from __future__ import annotations

import codecs
import contextlib
import difflib
import json
import os
import socket
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

UTF8_BOM = codecs.BOM_UTF8
OTHER_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)
LOCK_WAIT_SECONDS = 5.0
MAX_DIFF_LINES = 12


class SharedFileError(Exception):
    """The file cannot be read or written safely; the message names the file, why, and the fix.
    Nothing was written."""


class ConcurrentEdit(SharedFileError):
    """Another command changed (or is changing) the file since this one read it."""


@dataclass(frozen=True)
class SharedText:
    """A text file as read: its exact bytes, and its text with "\\n" line endings and no BOM,
    which `encode` turns back into bytes of the same form."""

    path: Path
    raw: bytes
    text: str
    bom: bool
    newline: str  # "\n" or "\r\n": the file's own line ending

    def encode(self, text: str) -> bytes:
        body = text.replace("\n", self.newline) if self.newline != "\n" else text
        return (UTF8_BOM if self.bom else b"") + body.encode("utf-8")


def decode_text(path: Path, raw: bytes) -> SharedText:
    """`raw` as a SharedText, or SharedFileError naming what keeps it from being kept byte for
    byte (another encoding, mixed or bare-CR line endings)."""
    for mark, name in OTHER_BOMS:
        if raw.startswith(mark):
            raise SharedFileError(
                f"{path}: is {name} encoded (it starts with a {name} byte-order mark); save it"
                " as UTF-8 and run the command again"
            )
    bom = raw.startswith(UTF8_BOM)
    body = raw[len(UTF8_BOM) :] if bom else raw
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SharedFileError(
            f"{path}: is not UTF-8 (byte {exc.start + (3 if bom else 0)} cannot be read); save"
            " it as UTF-8 and run the command again"
        ) from None
    crlf = text.count("\r\n")
    lf = text.count("\n") - crlf
    bare_cr = text.count("\r") - crlf
    if bare_cr:
        raise SharedFileError(
            f"{path}: has {bare_cr} line(s) ending in a bare CR (old Mac line endings), which"
            " would not be kept as they are; convert it to LF or CRLF line endings"
        )
    if crlf and lf:
        lines = text.split("\n")
        first_lf = next(i for i, line in enumerate(lines[:-1], 1) if not line.endswith("\r"))
        raise SharedFileError(
            f"{path}: mixes line endings ({crlf} CRLF, {lf} LF; line {first_lf} ends in LF),"
            " so an edit could not keep them; convert it to one (e.g. `dos2unix` or"
            " `unix2dos`), commit that, and run the command again"
        )
    newline = "\r\n" if crlf else "\n"
    return SharedText(path, raw, text.replace("\r\n", "\n") if crlf else text, bom, newline)


def read_bytes(path: Path) -> bytes | None:
    """The file's bytes, None if it does not exist; an unreadable file is a SharedFileError."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SharedFileError(
            f"{path}: cannot be read ({exc.strerror}); check its permissions"
        ) from None


def read_shared(path: Path) -> SharedText:
    """A shared text file for editing; FileNotFoundError if it does not exist."""
    raw = read_bytes(path)
    if raw is None:
        raise FileNotFoundError(path)
    return decode_text(path, raw)


def check_writable(path: Path) -> None:
    """Refuse a file nobody may write (no write bit; checked by mode as well as by access(2),
    since root may write anything) or in a folder this user cannot write."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise SharedFileError(
            f"{path}: cannot be read ({exc.strerror}); check its permissions"
        ) from None
    if mode is not None and (not mode & 0o222 or not os.access(path, os.W_OK)):
        raise SharedFileError(
            f"{path}: is read-only (mode {stat.filemode(mode)}), so nothing was written; make"
            f" it writable (`chmod u+w {path.name}`) if you mean to change it, and run the"
            " command again"
        )
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise SharedFileError(
            f"{path.parent}: this user cannot write in the folder holding {path.name}, so"
            " nothing was written; run the command as the checkout's owner"
        )


def lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


def pid_alive(pid: int) -> bool:
    """Whether process `pid` of this host still runs (a lock's holder, say)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _holder(lock: Path) -> dict[str, object] | None:
    try:
        data = json.loads(lock.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _held_message(path: Path, lock: Path, holder: dict[str, object] | None) -> str:
    if holder is None:
        return (
            f"{path.name}: another command is writing it ({lock} exists but says nothing about"
            f" who); nothing was written. If no other command is running, remove it (`rm"
            f" {lock}`) and run the command again"
        )
    pid, host = holder.get("pid"), holder.get("host")
    who = f"`{holder.get('command')}` (pid {pid} on {host}, since {holder.get('started')})"
    if host == socket.gethostname() and isinstance(pid, int) and not pid_alive(pid):
        return (
            f"{path.name}: a stale lock: {lock} was left by {who}, which is no longer running"
            f" (it was interrupted while writing). Check that {path.name} is what you expect"
            f" (`git diff {path.name}`), remove the lock (`rm {lock}`) and run the command again"
        )
    return (
        f"{path.name}: {who} is writing it now; nothing was written. Wait for it to finish and"
        f" run the command again (if that process is gone, remove {lock})"
    )


@contextmanager
def edit_lock(path: Path, command: str, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold `.<name>.lock` beside `path` (created with O_EXCL) while the file is re-read and
    replaced; wait up to `wait` seconds for another holder, then refuse naming it."""
    lock = lock_path(path)
    record = json.dumps(
        {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": command,
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    deadline = time.monotonic() + wait
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            if time.monotonic() >= deadline:
                raise ConcurrentEdit(_held_message(path, lock, _holder(lock))) from None
            time.sleep(0.02)
        except OSError as exc:
            raise SharedFileError(
                f"{lock}: cannot be created ({exc.strerror}), so {path.name} was not written;"
                " run the command as the checkout's owner"
            ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(record)
        yield
    finally:
        lock.unlink(missing_ok=True)


def _other_change(path: Path, expected: bytes | None, current: bytes | None) -> str:
    if current is None:
        return f"{path.name} was deleted"
    if expected is None:
        return f"{path.name} was created"
    before = expected.decode("utf-8", "replace").splitlines()
    after = current.decode("utf-8", "replace").splitlines()
    lines = [
        line
        for line in difflib.unified_diff(before, after, lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    if not lines:
        return f"{path.name} changed (line endings or encoding only)"
    shown = lines[:MAX_DIFF_LINES]
    more = len(lines) - len(shown)
    return (
        f"{path.name} now differs by:\n"
        + "\n".join(f"    {line}" for line in shown)
        + (f"\n    ... and {more} more line(s)" if more else "")
    )


def replace_file(
    path: Path, expected: bytes | None, new: bytes, command: str, wait: float = LOCK_WAIT_SECONDS
) -> None:
    """Write `new` over `path` if it still holds `expected` (None: if it still does not exist),
    one writer at a time; else ConcurrentEdit naming the other change. The file's permission
    bits and owner are kept, and a symbolic link stays a link (its target is replaced)."""
    if path.is_symlink():
        path = path.resolve()
    check_writable(path)
    with edit_lock(path, command, wait):
        current = read_bytes(path)
        if current != expected:
            raise ConcurrentEdit(
                f"{path}: changed while `{command}` ran (another command or person wrote it),"
                f" so nothing was written: {_other_change(path, expected, current)}\n"
                "Look at that change (`git diff`), then run the command again on the new file"
            )
        if current == new:
            return
        write_atomically(path, new)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` in one step (a reader sees the old bytes or the new, never a
    part), keeping an existing file's permission bits and owner; a new file is 0644. Raises
    SharedFileError, the file unchanged. No lock: `replace_file` is the edit of a shared file."""
    try:
        status: os.stat_result | None = path.stat()
    except FileNotFoundError:
        status = None
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if status is not None:
            os.chmod(temporary, stat.S_IMODE(status.st_mode))
            if (status.st_uid, status.st_gid) != (os.getuid(), os.getgid()):
                # Only root may give a file away; anyone else writes it as their own.
                with contextlib.suppress(PermissionError):
                    os.chown(temporary, status.st_uid, status.st_gid)
        else:
            os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide a new shared file
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise SharedFileError(
            f"{path}: could not be written ({exc.strerror}); it is unchanged. Free space or"
            " fix the folder's permissions and run the command again"
        ) from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
