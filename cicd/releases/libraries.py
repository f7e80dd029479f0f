"""Whether a library file given to `publish` can be installed: a wheel read as pip reads it, a
jar as the JVM opens it (a zip archive).

Once published, a version's files never change, so a wheel that cannot install (a 0-byte file
from an interrupted download, a file renamed to another version) would stay in the lock for good.
What is checked, for a `.whl` (PEP 427 file name, PEP 503 name normalisation, as pip does):
the file is a readable zip archive whose members' checksums hold; it has exactly one top-level
`<name>-<version>.dist-info/` folder with a `METADATA` whose `Name` and `Version` are the file
name's (names compared normalised, `Other.Lib` = `other_lib`; versions compared as versions,
`1.0` = `1.0.0`), and a `WHEEL` with its `Wheel-Version`. For a `.jar`: a readable zip archive.
"""

from __future__ import annotations

import zipfile
from email.parser import HeaderParser
from pathlib import Path

from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

FIX = (
    "rebuild it (or fetch it again) and publish the file exactly as its build named and wrote"
    " it: pip refuses a wheel whose file name and metadata disagree"
)


def _archive_problem(path: Path) -> str | None:
    size = path.stat().st_size
    if size == 0:
        return f"{path}: is empty (0 bytes), not a built library"
    if not zipfile.is_zipfile(path):
        return f"{path}: is not a zip archive ({size} bytes), so it cannot be installed"
    try:
        with zipfile.ZipFile(path) as archive:
            broken = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return f"{path}: is a damaged zip archive ({exc})"
    if broken is not None:
        return f"{path}: member {broken!r} is damaged (checksum mismatch)"
    return None


def _wheel_problem(path: Path) -> str | None:
    try:
        name, version, _, _ = parse_wheel_filename(path.name)
    except (InvalidWheelFilename, InvalidVersion) as exc:
        return (
            f"{path}: is not a wheel file name ({exc}); a wheel is named"
            " <name>-<version>-<python tag>-<abi tag>-<platform tag>.whl (PEP 427)"
        )
    with zipfile.ZipFile(path) as archive:
        members = archive.namelist()
        folders = sorted(
            {m.split("/", 1)[0] for m in members if m.split("/", 1)[0].endswith(".dist-info")}
        )
        if len(folders) != 1:
            found = ", ".join(folders) or "none"
            return (
                f"{path}: needs exactly one top-level <name>-<version>.dist-info folder, as pip"
                f" does (found: {found})"
            )
        folder = folders[0]
        try:
            metadata = archive.read(f"{folder}/METADATA").decode("utf-8")
            wheel = archive.read(f"{folder}/WHEEL").decode("utf-8")
        except KeyError as exc:
            return f"{path}: {folder} has no {str(exc).strip(repr(''))}"
        except UnicodeDecodeError:
            return f"{path}: {folder}/METADATA or WHEEL is not UTF-8 text"
    headers = HeaderParser().parsestr(metadata)
    meta_name, meta_version = headers.get("Name"), headers.get("Version")
    if not meta_name or not meta_version:
        return f"{path}: {folder}/METADATA has no Name or no Version"
    if "Wheel-Version" not in HeaderParser().parsestr(wheel):
        return f"{path}: {folder}/WHEEL has no Wheel-Version"
    try:
        same_version = Version(meta_version) == version
    except InvalidVersion:
        same_version = False
    stem = folder.removesuffix(".dist-info")
    dir_name, _, dir_version = stem.rpartition("-")
    if canonicalize_name(meta_name) != name or not same_version:
        return (
            f"{path}: the file name says {name} {version}, its METADATA says {meta_name}"
            f" {meta_version}"
        )
    try:
        folder_matches = canonicalize_name(dir_name) == name and Version(dir_version) == version
    except InvalidVersion:
        folder_matches = False
    if not folder_matches:
        return (
            f"{path}: its metadata folder {folder} is not {name} {version}'s: pip refuses such a"
            " wheel"
        )
    return None


def library_problem(path: Path) -> str | None:
    """None if `path` (a .whl or .jar) can be installed, else one line naming the file and what
    is wrong (the fix is FIX)."""
    problem = _archive_problem(path)
    if problem is None and path.suffix == ".whl":
        problem = _wheel_problem(path)
    return problem
