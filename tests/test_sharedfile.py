"""`cicd.sharedfile`: a shared file is replaced only over the bytes read, one writer at a time;
its form (BOM, CRLF) survives; every refusal names the file, the cause and the fix."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cicd.sharedfile import (
    ConcurrentEdit,
    SharedFileError,
    decode_text,
    edit_lock,
    lock_path,
    read_shared,
    replace_file,
)


def test_bom_and_crlf_survive_a_decode_and_encode(tmp_path: Path) -> None:
    raw = b"\xef\xbb\xbfa: 1\r\nb: 2\r\n"
    shared = decode_text(tmp_path / "f.yaml", raw)
    assert (shared.text, shared.bom, shared.newline) == ("a: 1\nb: 2\n", True, "\r\n"), shared
    assert shared.encode(shared.text) == raw
    assert shared.encode("a: 1\nb: 3\n") == b"\xef\xbb\xbfa: 1\r\nb: 3\r\n"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\xff\xfea\x00", "is UTF-16 encoded"),
        (b"a: \xe9\n", "is not UTF-8 (byte 3"),
        (b"a: 1\rb: 2\r", "bare CR"),
        (b"a: 1\r\nb: 2\nc: 3\r\n", "line 2 ends in LF"),
    ],
    ids=["utf16", "latin1", "bare-cr", "mixed"],
)
def test_a_form_that_cannot_be_kept_is_refused_naming_it(
    tmp_path: Path, raw: bytes, expected: str
) -> None:
    with pytest.raises(SharedFileError, match="f.yaml: ") as caught:
        decode_text(tmp_path / "f.yaml", raw)
    assert expected in str(caught.value), str(caught.value)


def test_replace_writes_over_the_bytes_read_and_keeps_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(b"a: 1\n")
    path.chmod(0o640)
    shared = read_shared(path)
    replace_file(path, shared.raw, b"a: 2\n", "test")
    assert path.read_bytes() == b"a: 2\n"
    assert path.stat().st_mode & 0o777 == 0o640, oct(path.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.yaml"], "a temp or lock file was left"


def test_a_change_made_meanwhile_is_refused_and_shown(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(b"live: 1\nkept: [1]\n")
    shared = read_shared(path)
    path.write_bytes(b"live: 2\nkept: [1]\n")  # someone else's edit
    with pytest.raises(ConcurrentEdit) as caught:
        replace_file(path, shared.raw, b"live: 3\nkept: [1]\n", "python -m cicd.promote 3")
    message = str(caught.value)
    assert "changed while `python -m cicd.promote 3` ran" in message, message
    assert "-live: 1" in message and "+live: 2" in message, message
    assert path.read_bytes() == b"live: 2\nkept: [1]\n"
    # A file created meanwhile by another command is not overwritten either.
    new = tmp_path / "new.yaml"
    new.write_bytes(b"theirs\n")
    with pytest.raises(ConcurrentEdit, match="new.yaml was created"):
        replace_file(new, None, b"mine\n", "test")
    assert new.read_bytes() == b"theirs\n"


def test_a_held_lock_names_its_holder(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(b"a: 1\n")
    with (
        edit_lock(path, "python -m cicd.release publish 2.0.0"),
        pytest.raises(ConcurrentEdit) as caught,
    ):
        replace_file(path, b"a: 1\n", b"a: 2\n", "test", wait=0.05)
    message = str(caught.value)
    assert "`python -m cicd.release publish 2.0.0` (pid" in message, message
    assert "is writing it now" in message, message
    assert path.read_bytes() == b"a: 1\n"
    assert not lock_path(path).exists()


def test_a_stale_lock_is_explained_with_the_command_that_clears_it(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(b"a: 1\n")
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead_pid = int(finished.stdout)
    lock_path(path).write_text(
        json.dumps(
            {
                "pid": dead_pid,
                "host": socket.gethostname(),
                "command": "python -m cicd.promote 1.2.0",
                "started": "2026-01-01T03:00:00+00:00",
            }
        )
    )
    with pytest.raises(ConcurrentEdit) as caught, edit_lock(path, "test", wait=0.05):
        pass
    message = str(caught.value)
    assert "a stale lock" in message and "no longer running" in message, message
    assert f"rm {lock_path(path)}" in message and "python -m cicd.promote 1.2.0" in message
    assert lock_path(path).exists(), "a stale lock must be explained, never removed silently"


def test_a_read_only_file_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(b"a: 1\n")
    path.chmod(0o444)
    with pytest.raises(SharedFileError, match=r"is read-only \(mode -r--r--r--\)"):
        replace_file(path, b"a: 1\n", b"a: 2\n", "test")
    assert path.read_bytes() == b"a: 1\n"
    assert not lock_path(path).exists()


def test_a_symbolic_link_stays_a_link_and_its_target_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / "real.yaml"
    target.write_bytes(b"a: 1\n")
    link = tmp_path / "f.yaml"
    link.symlink_to(target)
    replace_file(link, b"a: 1\n", b"a: 2\n", "test")
    assert link.is_symlink() and target.read_bytes() == b"a: 2\n"
