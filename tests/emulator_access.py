"""Emulator handlers: permission lists as the service returns them, and a second identity.

minilake returns exactly the ACL that was set on an object (../shared/EMULATOR.md): no inherited
entries, no `admins`, and any token may read anything. The real service differs in three ways
these handlers stand for:
- a folder's permission list also holds every grant of its parent folders, each marked
  `inherited` with `inherited_from_object` naming the parent (`/directories/<id>`), and the
  built-in `admins` group's CAN_MANAGE inherited from the workspace root; a job's (a
  pipeline's) list holds `admins` inherited from the jobs (pipelines) root (`/jobs/`);
- `GET /api/2.0/permissions/...` needs CAN_MANAGE on the object: without it the service answers
  403 PERMISSION_DENIED "... does not have Manage permissions on ..." (the shape Databricks' own
  CLI test server, libs/testserver, mirrors for a job);
- `scim/v2/Me` lists the caller's groups; minilake's single user can do everything, so it is
  the workspace admin here (`admins` among its groups).
A request with `READ_ONLY_TOKEN` stands for a principal that holds only read permissions: it is
not in `admins`, and reading any permission list is refused. Everything else is minilake's own.
"""

from __future__ import annotations

import posixpath
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from tests.emulator import Emulator

READ_ONLY_TOKEN = "read-only-principal-token"
READ_ONLY_NAME = "6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"


def _read_only(request: Request) -> bool:
    return request.headers.get("authorization", "") == f"Bearer {READ_ONLY_TOKEN}"


def _inherited(entries: list[dict[str, Any]], source: str) -> list[dict[str, Any]]:
    return [
        {
            **{k: v for k, v in entry.items() if k != "all_permissions"},
            "all_permissions": [
                {
                    "permission_level": p["permission_level"],
                    "inherited": True,
                    "inherited_from_object": [source],
                }
                for p in entry.get("all_permissions", [])
            ],
        }
        for entry in entries
    ]


def _admins(source: str) -> dict[str, Any]:
    return {
        "group_name": "admins",
        "all_permissions": [
            {
                "permission_level": "CAN_MANAGE",
                "inherited": True,
                "inherited_from_object": [source],
            }
        ],
    }


def install(emulator: Emulator) -> None:
    """Once per session (handlers are session-wide); minilake is imported after the emulator
    fixture has set its data folder."""
    if getattr(emulator, "_access_installed", False):
        return
    from minilake.services import identity
    from minilake.services import permissions as lake_permissions
    from minilake.services import workspace as lake_workspace

    def stored(object_type: str, object_id: str) -> list[dict[str, Any]]:
        acl = lake_permissions._state["permissions"].get(f"{object_type}/{object_id}")
        return list(acl or [])

    def folder_of(object_id: str) -> str | None:
        for path, meta in lake_workspace._state["objects"].items():
            if str(meta.get("object_id")) == object_id:
                return str(path)
        return None

    async def get_permissions(request: Request, object_type: str, object_id: str) -> Any:
        if _read_only(request):
            return JSONResponse(
                status_code=403,
                content={
                    "error_code": "PERMISSION_DENIED",
                    "message": f"{READ_ONLY_NAME} does not have Manage permissions on"
                    f" {object_type} {object_id}. Please contact the owner or an administrator"
                    " for access.",
                },
            )
        answer = lake_permissions._get_acl(object_type, object_id).model_dump()
        acl: list[dict[str, Any]] = answer["access_control_list"]
        if object_type == "directories":
            path = folder_of(object_id)
            parent = posixpath.dirname(path) if path else "/"
            while parent not in ("/", ""):
                parent_id = lake_workspace._directory_object_id(parent)
                acl += _inherited(
                    stored("directories", str(parent_id)), f"/directories/{parent_id}"
                )
                parent = posixpath.dirname(parent)
            acl.append(_admins("/directories/0"))
        elif object_type in ("jobs", "pipelines"):
            acl.append(_admins(f"/{object_type}/"))
        return answer

    async def me(request: Request) -> Any:
        groups = [] if _read_only(request) else [{"display": "admins", "value": "admins-id"}]
        return {
            "id": identity.USER_ID,
            "userName": READ_ONLY_NAME if _read_only(request) else identity.USER_NAME,
            "displayName": identity.DISPLAY_NAME,
            "active": True,
            "groups": groups,
        }

    emulator.add_handler("GET", "/api/2.0/permissions/{object_type}/{object_id}", get_permissions)
    emulator.add_handler("GET", "/api/2.0/preview/scim/v2/Me", me)
    emulator._access_installed = True  # type: ignore[attr-defined]
