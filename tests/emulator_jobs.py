"""Emulator handler: `jobs/get` reports who a job runs as, as the real Jobs API does.

minilake keeps a job's `settings.run_as` as written and never answers `run_as_user_name`. The real
service (Jobs API 2.2 reference, and the SDK's `Job.run_as_user_name` / `JobSettings.run_as`)
answers `run_as_user_name` for every job: the principal of an explicit `run_as`, else the job's
owner (the IS_OWNER entry of its permissions when job access control is on, else its creator);
and `settings.run_as` only when it was set explicitly. This handler adds `run_as_user_name` that
way and keeps minilake's storage, so jobs/create, reset, update and list see the same job.
Registered once per session (`install`).
"""

from __future__ import annotations

from typing import Any

from tests.emulator import Emulator

JOBS = "/api/2.2/jobs"


def _owner(job_id: int) -> str | None:
    from minilake.services import permissions

    for entry in permissions._state["permissions"].get(f"jobs/{job_id}") or []:
        for permission in entry.get("all_permissions") or []:
            if permission.get("permission_level") == "IS_OWNER":
                return str(
                    entry.get("service_principal_name")
                    or entry.get("user_name")
                    or entry.get("group_name")
                )
    return None


def install(emulator: Emulator) -> None:
    if getattr(emulator, "_jobs_get_installed", False):
        return
    import minilake.services.jobs as lake

    async def get_job(job_id: int) -> dict[str, Any]:
        info: dict[str, Any] = (await lake.get_job(job_id)).model_dump(exclude_none=True)
        run_as = (info.get("settings") or {}).get("run_as") or {}
        explicit = (
            run_as.get("service_principal_name")
            or run_as.get("user_name")
            or run_as.get("group_name")
        )
        owner = _owner(job_id) or info.get("creator_user_name")
        if explicit or owner:
            info["run_as_user_name"] = explicit or owner
        return info

    emulator.add_handler("GET", f"{JOBS}/get", get_job)
    emulator._jobs_get_installed = True  # type: ignore[attr-defined]
