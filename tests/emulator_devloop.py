"""Handlers for what the dev loop calls and minilake 1.9.0 does not serve (it answers 501, or
reports every notebook as Python). Each stands for the real Workspace / Libraries API behaviour
named in its docstring, and keeps minilake's own storage, so its other endpoints (export, list,
delete, get-status) see the same objects. Registered once per session (`install`).
"""

from __future__ import annotations

import base64
import time
from typing import Any

from fastapi import Query, Request
from fastapi.responses import JSONResponse

from tests.emulator import Emulator

# minilake reads its data folder from the environment when first imported, which `Emulator`
# sets up: its modules are imported inside the handlers, never when this module loads.

# Notebook languages the real service stores and reports (minilake keeps PYTHON only).
LANGUAGES = ("PYTHON", "SQL", "SCALA", "R")
# cluster id -> {whl or jar uri: status}; the Libraries API's own state.
_libraries: dict[str, dict[str, str]] = {}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": message}, status_code=status)


def _workspace() -> Any:
    from minilake.services import workspace

    return workspace


async def workspace_import(request: Request) -> Any:
    """POST /api/2.0/workspace/import. Real service: `format: RAW` stores the bytes as a
    workspace FILE at the given path; `format: SOURCE` with `language` SQL, SCALA or R stores a
    notebook in that language (minilake: 501); `format: JUPYTER` parses the .ipynb into a
    notebook of its own language (minilake: 501; stored here as the source notebook of its cells,
    which `tests.emulator_export` exports in either format). Python and AUTO go to minilake
    unchanged. Like the real service (databricks/cli#5763: "a real workspace returns 404 when the
    parent is missing"), an import into a folder that does not exist is refused."""
    from minilake.models.workspace import ImportWorkspaceRequest

    minilake_workspace = _workspace()
    body = await request.json()
    fmt = body.get("format") or "SOURCE"
    language = body.get("language")
    path = minilake_workspace._normalize(body["path"])
    parent = minilake_workspace._resolve(path).parent
    if not parent.is_dir():
        return _error(
            404,
            "RESOURCE_DOES_NOT_EXIST",
            f"The parent folder ({path.rsplit('/', 1)[0]}) does not exist.",
        )
    if fmt == "JUPYTER":
        from tests.emulator_export import jupyter_to_source

        try:
            stored, language = jupyter_to_source(base64.b64decode(body.get("content") or ""))
        except (ValueError, AttributeError):
            return _error(400, "INVALID_PARAMETER_VALUE", "Unable to parse the .ipynb content")
        fmt = "SOURCE"
        body = {**body, "format": fmt, "language": language}
        body["content"] = base64.b64encode(stored).decode("ascii")
    if fmt == "RAW":
        target = minilake_workspace._resolve(path)
        if target.exists() and not body.get("overwrite"):
            return _error(400, "RESOURCE_ALREADY_EXISTS", f"Path '{path}' already exists")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(body.get("content") or ""))
        existing = minilake_workspace._state["objects"].get(path) or {}
        now = int(time.time() * 1000)
        minilake_workspace._state["objects"][path] = {
            "object_type": "FILE",
            "object_id": existing.get("object_id") or minilake_workspace._next_id(),
            "created_at": existing.get("created_at", now),
            "modified_at": now,
        }
        return {}
    if language in LANGUAGES and fmt == "SOURCE":
        stored = ImportWorkspaceRequest.model_validate({**body, "language": None})
        await minilake_workspace.import_object(stored)
        minilake_workspace._state["objects"][path]["language"] = language
        return {}
    return await minilake_workspace.import_object(ImportWorkspaceRequest.model_validate(body))


def _with_language(info: Any) -> Any:
    from minilake.models.workspace import Language

    meta = _workspace()._state["objects"].get(info.path) or {}
    if info.object_type.value == "NOTEBOOK" and meta.get("language") in LANGUAGES:
        info.language = Language(meta["language"])
    return info


async def workspace_get_status(path: str = Query(...)) -> Any:
    """GET /api/2.0/workspace/get-status: the real service reports a notebook's own language."""
    return _with_language(await _workspace().get_status(path))


async def workspace_list(path: str = Query(...)) -> Any:
    """GET /api/2.0/workspace/list: the real service reports each notebook's own language."""
    listing = await _workspace().list_objects(path)
    listing.objects = [_with_language(info) for info in listing.objects or []]
    return listing


def _cluster_missing(cluster_id: str) -> JSONResponse | None:
    from minilake.services import clusters

    if cluster_id in clusters._state["clusters"]:
        return None
    return _error(400, "INVALID_PARAMETER_VALUE", f"Cluster {cluster_id} does not exist")


def _library_uri(library: dict[str, Any]) -> str:
    return str(library.get("whl") or library.get("jar") or library.get("requirements") or "")


async def libraries_install(request: Request) -> Any:
    """POST /api/2.0/libraries/install: asynchronous; the library is PENDING (installed when the
    cluster runs; on a terminated cluster, at its next start)."""
    body = await request.json()
    missing = _cluster_missing(body["cluster_id"])
    if missing:
        return missing
    installed = _libraries.setdefault(body["cluster_id"], {})
    for library in body.get("libraries", []):
        installed[_library_uri(library)] = "PENDING"
    return {}


async def libraries_uninstall(request: Request) -> Any:
    """POST /api/2.0/libraries/uninstall: marked UNINSTALL_ON_RESTART (removed at the next
    restart); a library that is not installed is ignored."""
    body = await request.json()
    missing = _cluster_missing(body["cluster_id"])
    if missing:
        return missing
    installed = _libraries.setdefault(body["cluster_id"], {})
    for library in body.get("libraries", []):
        uri = _library_uri(library)
        if uri in installed:
            installed[uri] = "UNINSTALL_ON_RESTART"
    return {}


async def libraries_cluster_status(cluster_id: str = Query(...)) -> Any:
    """GET /api/2.0/libraries/cluster-status: every library set on the cluster, with status."""
    missing = _cluster_missing(cluster_id)
    if missing:
        return missing
    statuses = [
        {
            "library": {"jar" if uri.endswith(".jar") else "whl": uri},
            "status": status,
            "is_library_for_all_clusters": False,
        }
        for uri, status in _libraries.get(cluster_id, {}).items()
    ]
    return {"cluster_id": cluster_id, "library_statuses": statuses}


def libraries_on(cluster_id: str) -> dict[str, str]:
    """The Libraries API state of a cluster, for assertions."""
    return dict(_libraries.get(cluster_id, {}))


def install(emulator: Emulator) -> None:
    if getattr(emulator, "devloop_handlers", False):
        # Another module's handler for the same route, added since, would shadow this one (the
        # newest route answers first): put this one back in front. Its import handler is a
        # superset of `tests.emulator_workspace`'s (languages), so those tests lose nothing.
        routes = emulator.app.router.routes
        mine = [r for r in routes if getattr(r, "endpoint", None) is workspace_import]
        for route in mine:
            routes.remove(route)
            routes.insert(0, route)
        return
    emulator.add_handler("POST", "/api/2.0/workspace/import", workspace_import)
    emulator.add_handler("GET", "/api/2.0/workspace/get-status", workspace_get_status)
    emulator.add_handler("GET", "/api/2.0/workspace/list", workspace_list)
    emulator.add_handler("POST", "/api/2.0/libraries/install", libraries_install)
    emulator.add_handler("POST", "/api/2.0/libraries/uninstall", libraries_uninstall)
    emulator.add_handler("GET", "/api/2.0/libraries/cluster-status", libraries_cluster_status)
    emulator.devloop_handlers = True  # type: ignore[attr-defined]
