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
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

NOTEBOOK_HEADERS = {
    ".py": ("PYTHON", "# Databricks notebook source"),
    ".sql": ("SQL", "-- Databricks notebook source"),
    ".scala": ("SCALA", "// Databricks notebook source"),
    ".r": ("R", "# Databricks notebook source"),
}
LIBRARY_SUFFIXES = (".whl", ".jar")
JUPYTER_LANGUAGES = {"python": "PYTHON", "r": "R", "scala": "SCALA", "sql": "SQL"}


class ReleaseContentError(Exception):
    """A release folder that cannot be published as it is; the message names the file."""


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


def _jupyter_language(path: Path, data: bytes) -> str:
    try:
        metadata = json.loads(data.decode("utf-8")).get("metadata", {})
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReleaseContentError(f"{path}: is not a valid .ipynb (JSON) file: {exc}") from None
    name = (
        metadata.get("kernelspec", {}).get("language")
        or metadata.get("language_info", {}).get("name")
        or "python"
    )
    return JUPYTER_LANGUAGES.get(str(name).lower(), "PYTHON")


def _classify(path: Path, relative: PurePosixPath, data: bytes) -> Notebook | WorkspaceFile:
    suffix = relative.suffix.lower()
    if suffix == ".ipynb":
        return Notebook(
            str(relative),
            str(relative.with_suffix("")),
            _jupyter_language(path, data),
            "JUPYTER",
            path,
        )
    if suffix in NOTEBOOK_HEADERS:
        language, header = NOTEBOOK_HEADERS[suffix]
        first_line = data[:200].split(b"\n", 1)[0].decode("utf-8", errors="replace").strip()
        if first_line == header:
            return Notebook(str(relative), str(relative.with_suffix("")), language, "SOURCE", path)
    return WorkspaceFile(str(relative), path)


def _tree_files(notebooks_dir: Path) -> list[tuple[str, Path]]:
    """(relative posix path, path) of every file below `notebooks_dir`, refusing what is not
    published: hidden entries, __pycache__ and symbolic links."""
    # Plain strings while walking: this runs for every file of every kept release at every preview.
    root = os.fspath(notebooks_dir)
    found: list[tuple[str, Path]] = []
    for directory, subdirectories, names in os.walk(root):
        for name in (*subdirectories, *names):
            full = os.path.join(directory, name)
            if name.startswith(".") or name == "__pycache__":
                raise ReleaseContentError(
                    f"{full}: hidden files and __pycache__ are not published; remove it from the"
                    " notebooks tree (the release build never copies them)"
                )
            if os.path.islink(full):
                raise ReleaseContentError(f"{full}: is a symbolic link; copy the file in instead")
        for name in names:
            full = os.path.join(directory, name)
            found.append((os.path.relpath(full, root).replace(os.sep, "/"), Path(full)))
    return sorted(found)


def scan_notebooks(
    notebooks_dir: Path,
) -> tuple[tuple[Notebook, ...], tuple[WorkspaceFile, ...], dict[str, str]]:
    """Classify every file of a notebooks tree; shared by releases and dev folders.

    Returns the notebooks, the other files, and each file's digest by relative path; every file
    is read once.
    """
    if not notebooks_dir.is_dir():
        raise ReleaseContentError(
            f"{notebooks_dir}: no notebooks folder; a release needs notebooks/ with at least the"
            " entry notebook (build it with `python -m cicd.release build <version>`)"
        )
    notebooks: list[Notebook] = []
    files: list[WorkspaceFile] = []
    digests: dict[str, str] = {}
    claimed: dict[str, str] = {}
    for relative, path in _tree_files(notebooks_dir):
        data = path.read_bytes()
        digests[relative] = f"sha256:{hashlib.sha256(data).hexdigest()}"
        entry = _classify(path, PurePosixPath(relative), data)
        if isinstance(entry, Notebook):
            notebooks.append(entry)
            target = entry.workspace_name
        else:
            files.append(entry)
            target = entry.relative_path
        if target in claimed:
            raise ReleaseContentError(
                f"{notebooks_dir}: {claimed[target]!r} and {relative!r} would both be"
                f" published as {target!r}; rename one of them"
            )
        claimed[target] = relative
    return tuple(notebooks), tuple(files), digests


def scan_release(root: Path) -> ReleaseContent:
    """Read a release folder (notebooks/ and libraries/) into what it publishes."""
    if not root.is_dir():
        raise ReleaseContentError(
            f"{root}: release folder not found; build it with `python -m cicd.release build"
            " <version>` or bring a kept release back with `python -m cicd.release ensure"
            " --stack <stack>`"
        )
    unexpected = sorted(p.name for p in root.iterdir() if p.name not in ("notebooks", "libraries"))
    if unexpected:
        raise ReleaseContentError(
            f"{root}: unexpected {unexpected[0]!r}; a release folder holds only notebooks/ and"
            " libraries/"
        )
    notebooks, workspace_files, tree_digests = scan_notebooks(root / "notebooks")
    libraries_dir = root / "libraries"
    libraries: list[Library] = []
    if libraries_dir.is_dir():
        for path in sorted(libraries_dir.iterdir()):
            if path.is_dir() or path.suffix not in LIBRARY_SUFFIXES:
                raise ReleaseContentError(
                    f"{path}: libraries/ holds only built .whl or .jar files, flat; remove it"
                )
            libraries.append(Library(path.name, path))
    if not libraries:
        raise ReleaseContentError(
            f"{libraries_dir}: no built library; a release ships the pipeline library"
            " (build it with `python -m cicd.release build <version>`)"
        )
    digests = {f"notebooks/{relative}": digest for relative, digest in tree_digests.items()}
    digests.update({f"libraries/{lib.file_name}": sha256_of(lib.source) for lib in libraries})
    return ReleaseContent(
        root, notebooks, workspace_files, tuple(libraries), dict(sorted(digests.items()))
    )
