"""A release's built content on disk: which files are notebooks, workspace files and libraries.

A release folder holds `notebooks/` (the notebooks tree, any depth) and `libraries/` (built
`.whl`/`.jar` files, flat). Import rules, the same for releases and dev folders:

- a `.py`, `.sql`, `.scala` or `.r` file whose first line is Databricks' source-format header
  (`# Databricks notebook source`, `-- ...` for SQL, `// ...` for Scala) is a notebook in that
  language, published without its extension; `.ipynb` is a Jupyter notebook;
- every other file is published as a workspace file at its own path, extension kept (a helper
  module or a JSON file next to the notebooks is never dropped);
- hidden files and `__pycache__` are refused, not skipped, so what is published is exactly what
  is locked; two files that would land on the same workspace path are refused.

Limits of the workspace are checked here too, so that they fail at publish and at every preview
instead of halfway through `pulumi up`: a notebook over the import limit, a notebook and a folder
that would share one workspace path, a byte-order mark before a notebook header (refused, not
stripped: the bytes published are the bytes locked), and names the workspace cannot hold. Every
problem of a tree is reported at once, grouped by kind (`cicd.releases.problems`).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# ReleaseContentError is re-exported: callers catch it from here.
from cicd.releases.problems import (
    BAD_JUPYTER,
    BAD_NAME,
    BOM,
    HIDDEN,
    LAYOUT,
    LIBRARY,
    NOTEBOOK_FOLDER,
    SAME_PATH,
    SYMLINK,
    TOO_LARGE,
    Problems,
)
from cicd.releases.problems import ReleaseContentError as ReleaseContentError

NOTEBOOK_HEADERS = {
    ".py": ("PYTHON", "# Databricks notebook source"),
    ".sql": ("SQL", "-- Databricks notebook source"),
    ".scala": ("SCALA", "// Databricks notebook source"),
    ".r": ("R", "# Databricks notebook source"),
}
LIBRARY_SUFFIXES = (".whl", ".jar")
JUPYTER_LANGUAGES = {"python": "PYTHON", "r": "R", "scala": "SCALA", "sql": "SQL"}
# The Workspace API's import takes a notebook's content base64-encoded in a request of at most
# 10 MB (10485760 bytes; larger ones fail with MAX_NOTEBOOK_SIZE_EXCEEDED).
NOTEBOOK_IMPORT_LIMIT = 10 * 1024 * 1024
UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Notebook:
    relative_path: str  # under notebooks/, with extension: "transforms/clean.sql"
    workspace_name: str  # without extension: "transforms/clean"
    language: str
    format: str  # SOURCE or JUPYTER
    source: Path


@dataclass(frozen=True)
class WorkspaceFile:
    relative_path: str  # under notebooks/, extension kept
    source: Path


@dataclass(frozen=True)
class Library:
    file_name: str
    source: Path


@dataclass(frozen=True)
class ReleaseContent:
    """Everything one release publishes, in a stable (sorted) order, plus per-file digests."""

    root: Path
    notebooks: tuple[Notebook, ...]
    workspace_files: tuple[WorkspaceFile, ...]
    libraries: tuple[Library, ...]
    digests: dict[str, str]  # "notebooks/main.py" -> "sha256:..."

    def notebook_names(self) -> list[str]:
        return [n.workspace_name for n in self.notebooks]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def _jupyter_language(data: bytes) -> str | None:
    """The notebook's language, or None when it is not a valid .ipynb (JSON) file."""
    try:
        metadata = json.loads(data.decode("utf-8")).get("metadata", {})
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None
    name = (
        metadata.get("kernelspec", {}).get("language")
        or metadata.get("language_info", {}).get("name")
        or "python"
    )
    return JUPYTER_LANGUAGES.get(str(name).lower(), "PYTHON")


def _first_line(data: bytes) -> str:
    return data[:200].split(b"\n", 1)[0].decode("utf-8", errors="replace").strip()


def _classify(
    path: Path, relative: PurePosixPath, data: bytes, problems: Problems, prefix: str
) -> Notebook | WorkspaceFile:
    suffix = relative.suffix.lower()
    # Only the last suffix is an extension: "01.5-Delta-pipeline.py" is notebook "01.5-Delta-pipeline".
    name = str(relative.with_suffix(""))
    if suffix == ".ipynb":
        language = _jupyter_language(data)
        if language is None:
            problems.add(BAD_JUPYTER, f"{prefix}{relative}")
        return Notebook(str(relative), name, language or "PYTHON", "JUPYTER", path)
    if suffix in NOTEBOOK_HEADERS:
        language, header = NOTEBOOK_HEADERS[suffix]
        if _first_line(data) == header:
            return Notebook(str(relative), name, language, "SOURCE", path)
        if data.startswith(UTF8_BOM) and _first_line(data[len(UTF8_BOM) :]) == header:
            problems.add(BOM, f"{prefix}{relative}")
            return Notebook(str(relative), name, language, "SOURCE", path)
    return WorkspaceFile(str(relative), path)


def _bad_name(name: str) -> bool:
    # os.walk hands back bytes that are not UTF-8 as lone surrogates (U+DC80..U+DCFF).
    return any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in name)


def _tree_files(notebooks_dir: Path, problems: Problems, prefix: str) -> list[tuple[str, Path]]:
    """(relative posix path, path) of every file below `notebooks_dir` that can be published;
    hidden entries, __pycache__, symbolic links and unusable names are reported instead."""
    # Plain strings while walking: this runs for every file of every kept release at every preview.
    root = os.fspath(notebooks_dir)
    found: list[tuple[str, Path]] = []
    for directory, subdirectories, names in os.walk(root):
        refused = set()
        for name in (*subdirectories, *names):
            full = os.path.join(directory, name)
            shown = prefix + os.path.relpath(full, root).replace(os.sep, "/")
            if name.startswith(".") or name == "__pycache__":
                problems.add(HIDDEN, shown.encode("utf-8", "backslashreplace").decode())
            elif os.path.islink(full):
                problems.add(SYMLINK, shown)
            elif _bad_name(name):
                problems.add(BAD_NAME, ascii(shown))
            else:
                continue
            refused.add(name)
        subdirectories[:] = sorted(d for d in subdirectories if d not in refused)
        for name in names:
            if name not in refused:
                full = os.path.join(directory, name)
                found.append((os.path.relpath(full, root).replace(os.sep, "/"), Path(full)))
    return sorted(found)


def _check_paths(published: dict[str, str], problems: Problems, prefix: str) -> None:
    """A notebook whose workspace path is also a folder's (`a/utils.py` beside `a/utils/`)."""
    folders: dict[str, str] = {}
    for target, relative in published.items():
        parts = target.split("/")
        for depth in range(1, len(parts)):
            folders.setdefault("/".join(parts[:depth]), relative)
    for target in sorted(set(published) & set(folders)):
        problems.add(
            NOTEBOOK_FOLDER,
            f"{prefix}{published[target]} (published as {target!r}, the path of the folder"
            f" holding {prefix}{folders[target]})",
        )


def inspect_notebooks(
    notebooks_dir: Path, problems: Problems
) -> tuple[tuple[Notebook, ...], tuple[WorkspaceFile, ...], dict[str, str]]:
    """Classify every file of a notebooks tree, adding every problem found to `problems`.

    Returns the notebooks, the other files, and each file's digest by relative path; every file
    is read once.
    """
    # Files are named relative to what the problems are reported for (a release folder, or the tree).
    prefix = (
        ""
        if notebooks_dir == problems.root
        else notebooks_dir.relative_to(problems.root).as_posix() + "/"
    )
    notebooks: list[Notebook] = []
    files: list[WorkspaceFile] = []
    digests: dict[str, str] = {}
    published: dict[str, str] = {}
    for relative, path in _tree_files(notebooks_dir, problems, prefix):
        data = path.read_bytes()
        digests[relative] = f"sha256:{hashlib.sha256(data).hexdigest()}"
        entry = _classify(path, PurePosixPath(relative), data, problems, prefix)
        if isinstance(entry, Notebook):
            notebooks.append(entry)
            target = entry.workspace_name
            encoded = 4 * ((len(data) + 2) // 3)
            if encoded > NOTEBOOK_IMPORT_LIMIT:
                problems.add(
                    TOO_LARGE,
                    f"{prefix}{relative} ({len(data)} bytes, {encoded} as base64; at most"
                    f" {NOTEBOOK_IMPORT_LIMIT})",
                )
        else:
            files.append(entry)
            target = entry.relative_path
        if target in published:
            problems.add(
                SAME_PATH,
                f"{prefix}{published[target]} and {prefix}{relative} (both {target!r})",
            )
            continue
        published[target] = relative
    _check_paths(published, problems, prefix)
    return tuple(notebooks), tuple(files), digests


def scan_notebooks(
    notebooks_dir: Path,
) -> tuple[tuple[Notebook, ...], tuple[WorkspaceFile, ...], dict[str, str]]:
    """Classify every file of a notebooks tree (shared by releases and dev folders); raise with
    every problem found."""
    if not notebooks_dir.is_dir():
        raise ReleaseContentError(
            f"{notebooks_dir}: no notebooks folder; a release needs notebooks/ with at least the"
            " entry notebook (build it with `python -m cicd.release build <version>`)"
        )
    problems = Problems(notebooks_dir)
    found = inspect_notebooks(notebooks_dir, problems)
    problems.raise_if_any()
    return found


def inspect_libraries(paths: Sequence[Path], problems: Problems) -> tuple[Library, ...]:
    """Built library files (.whl, .jar), each published under its own file name."""
    libraries: list[Library] = []
    names: dict[str, Path] = {}
    for path in paths:
        if not path.is_file():
            problems.add(LIBRARY, f"{path} (not a file)")
        elif path.suffix not in LIBRARY_SUFFIXES:
            problems.add(LIBRARY, f"{path} (neither .whl nor .jar)")
        elif path.name.startswith(".") or _bad_name(path.name):
            problems.add(LIBRARY, f"{ascii(str(path))} (a hidden or unusable name)")
        elif path.name in names:
            problems.add(LIBRARY, f"{names[path.name]} and {path} (one file name, one upload path)")
        else:
            names[path.name] = path
            libraries.append(Library(path.name, path))
    return tuple(sorted(libraries, key=lambda library: library.file_name))


def scan_release(root: Path) -> ReleaseContent:
    """Read a release folder (notebooks/ and libraries/) into what it publishes; raise with every
    problem found."""
    if not root.is_dir():
        raise ReleaseContentError(
            f"{root}: release folder not found; build it with `python -m cicd.release build"
            " <version>` or bring a kept release back with `python -m cicd.release ensure"
            " --stack <stack>`"
        )
    problems = Problems(root)
    for entry in sorted(root.iterdir()):
        if entry.name not in ("notebooks", "libraries"):
            problems.add(LAYOUT, entry.name)
    if not (root / "notebooks").is_dir():
        raise ReleaseContentError(
            f"{root / 'notebooks'}: no notebooks folder; a release needs notebooks/ with at least"
            " its entry notebook"
        )
    notebooks, workspace_files, tree_digests = inspect_notebooks(root / "notebooks", problems)
    libraries_dir = root / "libraries"
    found = sorted(libraries_dir.iterdir()) if libraries_dir.is_dir() else []
    # No library is fine: a notebooks-only release (published without --library).
    libraries = inspect_libraries(found, problems)
    problems.raise_if_any("nothing was published or registered")
    digests = {f"notebooks/{relative}": digest for relative, digest in tree_digests.items()}
    digests.update({f"libraries/{lib.file_name}": sha256_of(lib.source) for lib in libraries})
    return ReleaseContent(
        root, notebooks, workspace_files, libraries, dict(sorted(digests.items()))
    )


def entry_problem(content: ReleaseContent | Sequence[Notebook], entry: str) -> str | None:
    """None if `entry` is a notebook of the release, else "has no notebook '<entry>' (...)" with
    a bounded hint: a tree may hold thousands of notebooks, so the message gives their count and
    the closest names, never the whole list."""
    notebooks = content.notebooks if isinstance(content, ReleaseContent) else content
    names = [n.workspace_name for n in notebooks]
    if entry in names:
        return None
    by_file = {n.relative_path: n.workspace_name for n in notebooks}
    if entry in by_file:
        hint = f"that is the file: name the notebook without its extension, {by_file[entry]!r}"
    else:
        close = difflib.get_close_matches(entry, names, n=3, cutoff=0.5)
        hint = f"{len(names)} notebook(s)" + (
            f"; closest: {', '.join(repr(c) for c in close)}" if close else ""
        )
    return f"has no notebook {entry!r} ({hint})"
