"""Emulator handler: `workspace/export` rewrites a notebook the way the real service does.

minilake exports the bytes it stored; the real service parses an imported source notebook into
cells and writes it back on export (format SOURCE): one blank line on each side of every cell
separator (`# COMMAND ----------`, `-- ...` in SQL, `// ...` in Scala) whatever the imported file
had, blank lines at the edges of a cell dropped, and no newline at the end of the file (inspera/
blackbricks#36: "foobar\\n" came back as "foobar"). Workspace files are exported as stored.

This is the drift tests' minimal stand-in, applied only below the folders a test names
(`normalise_below`), so that other tests keep minilake's exact export. The dev-loop tests carry
their own handler for the same behaviour: the two are to be unified (one handler, every test).
"""

from __future__ import annotations

import base64
from typing import Any

from fastapi import Query
from fastapi.responses import Response

from tests.emulator import Emulator

HEADERS = {b"# Databricks notebook source": "#", b"-- Databricks notebook source": "--"}
HEADERS[b"// Databricks notebook source"] = "//"
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
        rewrite = meta.get("object_type") == "NOTEBOOK" and (format or "SOURCE") == "SOURCE"
        if not rewrite or not any(normalized.startswith(f) for f in _folders):
            return await workspace.export_object(path, format, direct_download)
        data = service_export(workspace._resolve(normalized).read_bytes())
        if direct_download:
            return Response(content=data, media_type="application/octet-stream")
        return {"content": base64.b64encode(data).decode("ascii"), "file_type": "py"}

    emulator.add_handler("GET", "/api/2.0/workspace/export", export)
    emulator._export_installed = True  # type: ignore[attr-defined]
