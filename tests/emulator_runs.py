"""Job runs as the real Jobs API reports them, where minilake cannot (see EMULATOR.md).

minilake creates, stores and lists jobs and runs itself (`jobs/create`, `run-now`,
`runs/submit`, `runs/list`, `runs/get`), and each handler here calls its own endpoint first.
What they add stands for real behaviour minilake lacks:
- a run ends only in Docker there (without it at once FAILED); a test scripts the states a run
  goes through (`RunScripts.script`), as a real cluster would report them, keyed by the
  notebook path it runs. Cancelling a scripted run ends it CANCELED, as the real service does;
- `runs/get` and `runs/list` answer with the run's `overriding_parameters` (the run-now notebook
  parameters) and each task's settings (notebook_task, libraries, cluster), which the real
  service returns and minilake drops; `runs/list` is newest first, as on the real service;
- `runs/get` keeps each task run's `run_id`, which the real service reports and callers ask
  `runs/get-output` for;
- `runs/get-output` of a scripted run (or of one of its task runs) gives the script's error, as
  the real one gives a failed notebook's, and its exit value as `notebook_output.result`, as the
  real one gives the value a notebook passed to `dbutils.notebook.exit()`;
- `run-now` of a job that does not exist answers 400 INVALID_PARAMETER_VALUE "Job N does not
  exist." as the real service does (minilake: 404 "Job N not found");
- `run-now` with the token `REJECTED_TOKEN` answers 401 as the real service answers a credential
  it does not accept (status, `WWW-Authenticate` header and body as recorded in
  databricks-sdk-go#1158); minilake accepts any token, and only this value is refused so no other
  test is affected;
- `jobs/get` answers with `run_as_user_name` (tests/emulator_jobs.py, shared with the drift
  tests);
- `runs/get` and `runs/list` report who started a run (`creator_user_name`: the identity whose
  token called run-now or runs/submit; `RunScripts.identities` names the identity behind a test's
  token, the real service knows it from the credential) and what started it (`trigger`:
  ONE_TIME for run-now and submit, as the real service reports a run started on demand from the
  UI or the API). minilake has no scheduler: `RunScripts.fired_by_schedule(run_id)` makes a run
  report `trigger: PERIODIC` and no overriding parameters, as a run the job's schedule started.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import minilake.services.jobs as lake
from fastapi import Request
from fastapi.responses import JSONResponse
from minilake.models.jobs import RunNowRequest, SubmitRunRequest

from tests import emulator_jobs
from tests.emulator import Emulator

JOBS = "/api/2.2/jobs"
# Who the emulator says started a run when a test's token names nobody in particular.
DEFAULT_IDENTITY = "someone@example.com"
# A token the workspace does not accept: `run-now` with it answers 401 (see the module docstring).
REJECTED_TOKEN = "rejected-token"
# A personal access token that is malformed, expired or revoked: the real service answers 403
# "Invalid access token." for it (a credential problem, though the SDK raises PermissionDenied).
INVALID_PAT = "invalid-pat"


@dataclass
class Script:
    marker: str  # a run whose task runs a notebook path containing this follows the script
    states: list[dict[str, Any]]
    error: str | None = None
    exit_value: str | None = None


@dataclass
class RunScripts:
    scripts: list[Script] = field(default_factory=list)
    requests: dict[int, dict[str, Any]] = field(default_factory=dict)
    gets: dict[int, int] = field(default_factory=dict)
    identities: dict[str, str] = field(default_factory=dict)  # token -> user or application id
    starters: dict[int, str] = field(default_factory=dict)  # run id -> who started it
    triggers: dict[int, str] = field(default_factory=dict)  # run id -> trigger other than ONE_TIME

    def fired_by_schedule(self, run_id: int) -> None:
        """Report run `run_id` as one the job's schedule started (see the module docstring)."""
        self.triggers[run_id] = "PERIODIC"
        self.requests.pop(run_id, None)

    def _started(self, request: Request, run_id: int) -> None:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        self.starters[run_id] = self.identities.get(token, DEFAULT_IDENTITY)

    def script(
        self,
        marker: str,
        *states: tuple[str, str | None, str | None],
        error: str | None = None,
        exit_value: str | None = None,
    ) -> None:
        """States `(life_cycle, result, message)` reported by successive runs/get calls; the
        last one repeats. `error` and `exit_value` are what runs/get-output gives."""
        self.scripts.append(
            Script(
                marker,
                [
                    {"life_cycle_state": life, "result_state": result, "state_message": message}
                    for life, result, message in states
                ],
                error,
                exit_value,
            )
        )

    def _task_settings(self, run: dict[str, Any]) -> list[dict[str, Any]]:
        if run.get("_tasks") is not None:
            return list(run["_tasks"])
        job = lake._state["jobs"].get(run["job_id"])
        return list(job["settings"].get("tasks") or []) if job else []

    def _script_of(self, run: dict[str, Any]) -> Script | None:
        for task in self._task_settings(run):
            path = (task.get("notebook_task") or {}).get("notebook_path", "")
            for script in self.scripts:
                if script.marker in path:
                    return script
        return None

    @staticmethod
    def _run_of_task(task_run_id: int) -> dict[str, Any] | None:
        for run in lake._state["runs"].values():
            if any(task.get("run_id") == task_run_id for task in run.get("tasks") or []):
                return run
        return None

    def view(self, run_id: int, info: dict[str, Any], advance: bool) -> dict[str, Any]:
        run = lake._state["runs"][run_id]
        request = self.requests.get(run_id, {})
        info["trigger"] = self.triggers.get(run_id, "ONE_TIME")
        if run_id in self.starters and run_id not in self.triggers:
            info["creator_user_name"] = self.starters[run_id]
        if request.get("notebook_params"):
            info["overriding_parameters"] = {"notebook_params": request["notebook_params"]}
        reported = {t["task_key"]: t for t in info.get("tasks") or []}
        info["tasks"] = []
        for settings in self._task_settings(run):
            task = reported.get(settings["task_key"], {})
            view = {**settings, "state": task.get("state")}
            if task.get("run_id") is not None:
                view["run_id"] = task["run_id"]
            info["tasks"].append(view)
        script = self._script_of(run)
        if script is not None:
            served = self.gets.get(run_id, 0)
            if advance:
                self.gets[run_id] = served + 1
            state = dict(script.states[min(served, len(script.states) - 1)])
            if run.get("_cancel_requested"):
                state = {
                    "life_cycle_state": "TERMINATED",
                    "result_state": "CANCELED",
                    "state_message": "Run cancelled by the caller",
                }
            info["state"] = {k: v for k, v in state.items() if v is not None}
            for task in info["tasks"]:
                task["state"] = info["state"]
        return info

    def install(self, emulator: Emulator) -> RunScripts:
        async def run_now(request: Request) -> Any:
            if request.headers.get("authorization") == f"Bearer {REJECTED_TOKEN}":
                # The real service's answer to a credential it does not accept, status, header
                # and body as it sends them.
                return JSONResponse(
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="DatabricksRealm"'},
                    content={
                        "error_code": 401,
                        "message": "Credential was not sent or was of an unsupported type for "
                        "this API.",
                    },
                )
            if request.headers.get("authorization") == f"Bearer {INVALID_PAT}":
                return JSONResponse(
                    status_code=403,
                    content={"error_code": "403", "message": "Invalid access token."},
                )
            body = await request.json()
            if body.get("job_id") not in lake._state["jobs"]:
                return JSONResponse(
                    status_code=400,
                    content={
                        "error_code": "INVALID_PARAMETER_VALUE",
                        "message": f"Job {body.get('job_id')} does not exist.",
                    },
                )
            response = await lake.run_now(RunNowRequest(**body))
            self.requests[response.run_id] = body
            self._started(request, response.run_id)
            return response.model_dump()

        async def submit(request: Request) -> dict[str, Any]:
            body = await request.json()
            response = await lake.submit_run(SubmitRunRequest(**body))
            self.requests[response.run_id] = body
            self._started(request, response.run_id)
            return response.model_dump()

        async def get_run(request: Request, run_id: int) -> dict[str, Any]:
            info = (await lake.get_run(request, run_id)).model_dump(exclude_none=True)
            # minilake gives a run's tasks their run ids in a step of its own, after run-now
            # answers, when its scheduler has gone through the whole run (it sets `end_time`
            # then); the real service reports them with the run. On a loaded machine runs/get
            # could come first: wait (briefly) for that step, as a real read would see its
            # result. Not for every task's id: a task minilake skips has none.
            for _ in range(250):
                if lake._state["runs"][run_id].get("end_time") is not None:
                    break
                await asyncio.sleep(0.02)
            info = (await lake.get_run(request, run_id)).model_dump(exclude_none=True)
            return self.view(run_id, info, advance=True)

        async def list_runs(
            request: Request,
            job_id: int | None = None,
            completed_only: bool | None = None,
        ) -> dict[str, Any]:
            listed = await lake.list_runs(request, job_id, None, None)
            runs = []
            for run in sorted(listed.runs, key=lambda r: r.run_id, reverse=True):
                info = self.view(run.run_id, run.model_dump(exclude_none=True), advance=False)
                if completed_only and info["state"]["life_cycle_state"] != "TERMINATED":
                    continue
                runs.append(info)
            return {"runs": runs, "has_more": False}

        async def get_output(run_id: int) -> dict[str, Any]:
            run = lake._state["runs"].get(run_id) or self._run_of_task(run_id)
            script = self._script_of(run) if run is not None else None
            if script is not None:
                output: dict[str, Any] = {}
                if script.error:
                    output["error"] = script.error
                if script.exit_value is not None:
                    output["notebook_output"] = {"result": script.exit_value, "truncated": False}
                return output
            return (await lake.get_run_output(run_id)).model_dump(exclude_none=True)

        emulator.add_handler("POST", f"{JOBS}/run-now", run_now)
        emulator.add_handler("POST", f"{JOBS}/runs/submit", submit)
        emulator.add_handler("GET", f"{JOBS}/runs/get", get_run)
        emulator.add_handler("GET", f"{JOBS}/runs/list", list_runs)
        emulator.add_handler("GET", f"{JOBS}/runs/get-output", get_output)
        emulator_jobs.install(emulator)
        return self
