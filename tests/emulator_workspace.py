"""Emulator handlers: SOURCE imports of SQL, Scala and R notebooks; `list` of a non-folder.

minilake answers 501 for any notebook language but PYTHON (../shared/EMULATOR.md). The real
service imports a SOURCE notebook in each of these languages and exports it (format SOURCE) as the
source it was given, header line (`-- Databricks notebook source`, `// ...`) included. This
handler stands for that: it stores the source exactly as minilake stores a Python notebook (its
export is byte-exact). What it does not reproduce: minilake's get-status and list report every
notebook as PYTHON, which the code under test does not read.

`workspace/list` of a path that is a notebook or file: minilake answers 400 "is not a directory";
the real service "lists the contents of a directory, or the object if it is not a directory"
(Workspace API reference), which the drift check relies on to find a release folder without a
get-status first. The handler answers that object, as get-status describes it.
"""

from __future__ import annotations

from typing import Any

from tests.emulator import Emulator


def install(emulator: Emulator) -> None:
    """Once per session (handlers are session-wide). minilake is imported here, after the
    emulator fixture has set its data folder: it reads its settings when first imported."""
    if getattr(emulator, "_sql_import_installed", False):
        return
    from minilake.models.workspace import ImportFormat, ImportWorkspaceRequest, Language
    from minilake.services.workspace import import_object

    other_languages = {Language.SQL, Language.SCALA, Language.R}

    async def import_any_language(req: ImportWorkspaceRequest) -> Any:
        if (req.format or ImportFormat.SOURCE) is ImportFormat.SOURCE and (
            req.language in other_languages
        ):
            req = req.model_copy(update={"language": Language.PYTHON})
        return await import_object(req)

    # Postponed annotations are strings FastAPI resolves in module globals: give it the class.
    import_any_language.__annotations__["req"] = ImportWorkspaceRequest
    emulator.add_handler("POST", "/api/2.0/workspace/import", import_any_language)

    from minilake.services.workspace import get_status, list_objects, resolve_workspace_path

    async def list_or_object(path: str) -> Any:
        found = resolve_workspace_path(path)
        if found.exists() and not found.is_dir():
            return {"objects": [(await get_status(path=path)).model_dump(exclude_none=True)]}
        return await list_objects(path=path)

    emulator.add_handler("GET", "/api/2.0/workspace/list", list_or_object)
    emulator._sql_import_installed = True  # type: ignore[attr-defined]
