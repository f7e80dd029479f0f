"""The Pipelines API (Lakeflow Declarative Pipelines) for the emulator, which answers 501 for it.

The smallest faithful stand-in for what the tools call (Pipelines API 2.0 reference): create
(`POST /api/2.0/pipelines`, answers `pipeline_id`), get (`GET /api/2.0/pipelines/{id}`: the spec
as set, with `id`, beside `name`, `state` and `run_as_user_name`), list (`GET /api/2.0/pipelines`
with a `name LIKE '...'` filter, answers `statuses`) and edit (`PUT /api/2.0/pipelines/{id}`, the
whole spec). As on the real service, `run_as` is write-only: a read reports the identity as
`run_as_user_name` and leaves `run_as` out of the spec. Pipeline permissions are the emulator's own
(`/api/2.0/permissions/pipelines/{id}`). Nothing runs: no update, no state change.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi import HTTPException, Request

from tests.emulator import Emulator

API = "/api/2.0/pipelines"


class Pipelines:
    def __init__(self) -> None:
        self.specs: dict[str, dict[str, Any]] = {}
        self.run_as: dict[str, str] = {}

    def _store(self, pipeline_id: str, body: dict[str, Any]) -> None:
        spec = {k: v for k, v in body.items() if k not in ("run_as", "pipeline_id")}
        run_as = body.get("run_as") or {}
        self.run_as[pipeline_id] = str(
            run_as.get("service_principal_name") or run_as.get("user_name") or "creator"
        )
        self.specs[pipeline_id] = {**spec, "id": pipeline_id}

    def _get(self, pipeline_id: str) -> dict[str, Any]:
        spec = self.specs.get(pipeline_id)
        if spec is None:
            raise HTTPException(
                404,
                {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"{pipeline_id} not found"},
            )
        return spec

    def install(self, emulator: Emulator) -> Pipelines:
        async def create(request: Request) -> dict[str, Any]:
            pipeline_id = str(uuid.uuid4())
            self._store(pipeline_id, await request.json())
            return {"pipeline_id": pipeline_id}

        async def edit(pipeline_id: str, request: Request) -> dict[str, Any]:
            self._get(pipeline_id)
            self._store(pipeline_id, await request.json())
            return {}

        def get(pipeline_id: str) -> dict[str, Any]:
            spec = self._get(pipeline_id)
            return {
                "pipeline_id": pipeline_id,
                "name": spec.get("name"),
                "spec": spec,
                "state": "IDLE",
                "run_as_user_name": self.run_as[pipeline_id],
            }

        def list_pipelines(filter: str | None = None) -> dict[str, Any]:  # noqa: A002 (API name)
            wanted = None
            if filter:
                match = re.fullmatch(r"name LIKE '(.*)'", filter)
                wanted = match.group(1).replace("''", "'") if match else None
            statuses = [
                {"pipeline_id": pid, "name": spec.get("name"), "state": "IDLE"}
                for pid, spec in self.specs.items()
                if wanted is None or spec.get("name") == wanted
            ]
            return {"statuses": statuses}

        emulator.add_handler("POST", API, create)
        emulator.add_handler("GET", API, list_pipelines)
        emulator.add_handler("GET", API + "/{pipeline_id}", get)
        emulator.add_handler("PUT", API + "/{pipeline_id}", edit)
        return self
