"""Bundle paths: relative to the file that names them, kept in the release at their place
relative to the bundle root (the release's notebooks tree is the bundle folder, trimmed to what
the jobs and pipelines use)."""

from __future__ import annotations

import posixpath
from pathlib import Path, PurePosixPath

from cicd.bundles.interpolation import BUNDLE_ROOT
from cicd.bundles.load import Sourced
from cicd.releases.content import NOTEBOOK_HEADERS

NOTEBOOK_SUFFIXES = (".py", ".ipynb", ".sql", ".scala", ".r")


def bundle_relative(
    value: str, file: PurePosixPath, *, allow_root: bool = False
) -> tuple[str | None, str]:
    """(path relative to the bundle root, or None, why not); "." is the root itself, allowed
    only with `allow_root`."""
    if value.startswith(BUNDLE_ROOT):
        base, rest = PurePosixPath("."), value[len(BUNDLE_ROOT) :].lstrip("/")
    elif value.startswith(("/", "dbfs:")) or "://" in value:
        return None, (
            f"{value!r} is outside the bundle: the release holds the bundle's own files only;"
            " put the file in the bundle and name it relative to this file"
        )
    else:
        origin = value.origin if isinstance(value, Sourced) else file
        base, rest = origin.parent, value
    joined = posixpath.normpath((base / rest).as_posix()) if rest else "."
    if joined == "." and allow_root:
        return joined, ""
    if joined == "." or joined.startswith("../") or joined == "..":
        return None, f"{value!r} leaves the bundle folder (resolved against {file})"
    return joined, ""


def is_notebook(path: Path) -> bool:
    """Whether the release will publish this file as a notebook (cicd.releases.content's rule)."""
    suffix = path.suffix.lower()
    if suffix == ".ipynb":
        return True
    if suffix not in NOTEBOOK_HEADERS:
        return False
    with path.open("rb") as handle:
        first = handle.read(200).split(b"\n", 1)[0].decode("utf-8", errors="replace").strip()
    return first == NOTEBOOK_HEADERS[suffix][1]


def notebook_file(root: Path, relative: str) -> str | None:
    """The file of a notebook named with or without its extension, relative to the root."""
    if (root / relative).is_file():
        return relative
    for suffix in NOTEBOOK_SUFFIXES:
        if (root / (relative + suffix)).is_file():
            return relative + suffix
    return None


def without_suffix(relative: str) -> str:
    """A notebook's name in the release: its file without the notebook extension."""
    path = PurePosixPath(relative)
    return str(path.with_suffix("")) if path.suffix.lower() in NOTEBOOK_SUFFIXES else relative
