"""Emulator handler: `workspace/export` rewrites a notebook the way the real service does.

minilake exports the bytes it stored; the real service parses an imported source notebook into
cells and writes it back on export:

- format SOURCE: one blank line on each side of every cell separator (`# COMMAND ----------`,
  `-- ...` in SQL, `// ...` in Scala) whatever the imported file had, blank lines at the edges of a
  cell dropped, and no newline at the end of the file (inspera/blackbricks#36: "foobar\\n" came
  back as "foobar"; the service has kept line endings since 2025-12-16, databricks/cli#4256);
- format JUPYTER: a new .ipynb the service writes itself, whatever was imported: each cell with
  its `application/vnd.databricks.v1+cell` metadata (a `nuid` per cell), code cells with
  `execution_count: 0` and no outputs, `%md` cells as markdown cells, the notebook's
  `application/vnd.databricks.v1+notebook` metadata (name, language, ...), `nbformat_minor: 0`,
  written with one-space indentation and sorted keys, no final newline (as in .ipynb files
  exported from workspaces and committed as they came).

Workspace files are exported as stored. The SOURCE rewrite applies only below the folders a test
names (`normalise_below`), so that other tests keep minilake's exact export; JUPYTER export always
converts (minilake would return the stored source, which no client could read as an .ipynb).
The dev-loop and drift tests share this handler.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from fastapi import Query
from fastapi.responses import Response

from tests.emulator import Emulator

HEADERS = {b"# Databricks notebook source": "#", b"-- Databricks notebook source": "--"}
HEADERS[b"// Databricks notebook source"] = "//"
COMMENTS = {"PYTHON": "#", "SQL": "--", "SCALA": "//", "R": "#"}
_folders: set[str] = set()


def service_export(stored: bytes) -> bytes:
    """A SOURCE notebook as the service exports it (see the module docstring)."""
    comment = HEADERS.get(stored.split(b"\n", 1)[0].rstrip(b"\r"), "#")
    separator = f"{comment} COMMAND ----------".encode()
    cells: list[list[bytes]] = [[]]
    for line in stored.split(b"\n"):
        if line.rstrip(b"\r") == separator:
            cells.append([])
        else:
            cells[-1].append(line)
    edges = b"\r\n"
    return (b"\n\n" + separator + b"\n\n").join(b"\n".join(cell).strip(edges) for cell in cells)


def source_cells(stored: bytes, language: str) -> list[str]:
    """The cells of a stored source notebook (header line dropped), as the service keeps them."""
    comment = COMMENTS.get(language, "#")
    text = service_export(stored).decode("utf-8")
    header = f"{comment} Databricks notebook source"
    if text.startswith(header):
        text = text[len(header) :].lstrip("\r\n")
    return text.split(f"\n\n{comment} COMMAND ----------\n\n")


def _unmagic(cell: str, comment: str) -> tuple[str, str]:
    """(cell type, source) of one stored cell: `# MAGIC %md` cells are markdown, other magic
    cells are code cells starting with their magic (`%sql`, `%run`, ...)."""
    lines = cell.split("\n")
    prefix = f"{comment} MAGIC"
    if not all(line.startswith(prefix) for line in lines):
        return "code", cell
    plain = "\n".join(line[len(prefix) :].removeprefix(" ") for line in lines)
    if plain.startswith("%md"):
        return "markdown", plain[3:].lstrip(" ").removeprefix("\n")
    return "code", plain


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def service_jupyter(stored: bytes, path: str, language: str) -> bytes:
    """A notebook exported in format JUPYTER, as the service writes it (module docstring)."""
    comment = COMMENTS.get(language, "#")
    cells = []
    for index, cell in enumerate(source_cells(stored, language)):
        kind, source = _unmagic(cell, comment)
        entry: dict[str, Any] = {
            "cell_type": kind,
            "metadata": {
                "application/vnd.databricks.v1+cell": {
                    "cellMetadata": {},
                    "inputWidgets": {},
                    "nuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{path}#{index}")),
                    "showTitle": False,
                    "title": "",
                }
            },
            "source": _lines(source),
        }
        if kind == "code":
            entry.update({"execution_count": 0, "outputs": []})
        cells.append(entry)
    document = {
        "cells": cells,
        "metadata": {
            "application/vnd.databricks.v1+notebook": {
                "computePreferences": None,
                "dashboards": [],
                "environmentMetadata": None,
                "inputWidgetPreferences": None,
                "language": language.lower(),
                "notebookMetadata": {"pythonIndentUnit": 4},
                "notebookName": path.rsplit("/", 1)[-1],
                "widgets": {},
            },
            "language_info": {"name": language.lower()},
        },
        "nbformat": 4,
        "nbformat_minor": 0,
    }
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False).encode("utf-8")


def jupyter_to_source(data: bytes) -> tuple[bytes, str]:
    """What the service stores for an imported .ipynb: its cells as a source notebook (markdown
    cells as `%md` magic), and its language (the Databricks metadata's, else the kernel's)."""
    document = json.loads(data.decode("utf-8"))
    metadata = document.get("metadata") or {}
    language = str(
        (metadata.get("application/vnd.databricks.v1+notebook") or {}).get("language")
        or (metadata.get("kernelspec") or {}).get("language")
        or (metadata.get("language_info") or {}).get("name")
        or "python"
    ).upper()
    language = language if language in COMMENTS else "PYTHON"
    comment = COMMENTS[language]
    cells = []
    for cell in document.get("cells") or []:
        source = cell.get("source") or ""
        text = "".join(source) if isinstance(source, list) else str(source)
        if cell.get("cell_type") == "markdown":
            text = "%md\n" + text
        if text.startswith("%"):
            text = "\n".join(f"{comment} MAGIC {line}".rstrip() for line in text.split("\n"))
        cells.append(text.strip("\n"))
    separator = f"\n\n{comment} COMMAND ----------\n\n"
    stored = f"{comment} Databricks notebook source\n" + separator.join(cells)
    return stored.encode("utf-8"), language


def normalise_below(emulator: Emulator, folder: str) -> None:
    """From now on, notebooks below `folder` are exported as the service would."""
    install(emulator)
    _folders.add(folder.rstrip("/") + "/")


def install(emulator: Emulator) -> None:
    if getattr(emulator, "_export_installed", False):
        return
    from minilake.services import workspace

    async def export(
        path: str = Query(...),
        format: str | None = Query(None),  # noqa: A002 (the API's parameter name)
        direct_download: bool | None = Query(None),
    ) -> Any:
        normalized = workspace._normalize(path)
        meta = workspace._state["objects"].get(normalized) or {}
        notebook = meta.get("object_type") == "NOTEBOOK"
        jupyter = notebook and format == "JUPYTER"
        rewrite = notebook and (format or "SOURCE") == "SOURCE"
        below = any(normalized.startswith(f) for f in _folders)
        if not jupyter and not (rewrite and below):
            return await workspace.export_object(path, format, direct_download)
        stored = workspace._resolve(normalized).read_bytes()
        if jupyter:
            data = service_jupyter(stored, normalized, str(meta.get("language") or "PYTHON"))
        else:
            data = service_export(stored)
        if direct_download:
            return Response(content=data, media_type="application/octet-stream")
        file_type = "ipynb" if jupyter else "py"
        return {"content": base64.b64encode(data).decode("ascii"), "file_type": file_type}

    emulator.add_handler("GET", "/api/2.0/workspace/export", export)
    emulator._export_installed = True  # type: ignore[attr-defined]
