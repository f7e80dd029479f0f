"""A one-off run of a candidate release with the live production job's own settings.

The settings are read back from the deployed job (`jobs.get`): its tasks and their DAG, cluster
specs, serverless environments, parameters, retries, timeouts, run-as identity, and who may see its
runs, exactly what the program registered (and anything changed by hand since, which the run then
also meets). Only the fields that come from a release are swapped for the candidate's: the
program exports them per job and task for the live release (`liveFields`) and the candidate
(`candidateFields`): notebook paths, Python and SQL files, libraries, environment dependencies.
No second copy of the job's definition exists to drift from the first. The run is submitted with
`jobs.submit` (a one-time run, no job changed).

A pipeline task or a run-job task would run this stack's pipeline or another job, which still
run the live release until the switch: they are left out of the candidate's run, and the tasks
that depended on them depend on what they depended on. Pipelines are vouched for by staging's
green run and switch with `live` like every job.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol

from databricks.sdk.service.compute import Library
from databricks.sdk.service.jobs import (
    Job,
    JobAccessControlRequest,
    JobPermissionLevel,
    JobPermissions,
    JobRunAs,
    SubmitTask,
    Task,
    TaskDependency,
)

from cicd.config.base import SERVICE_PRINCIPAL_ID
from cicd.jobs.runs import RunWatcher


class CandidateError(Exception):
    """The live job cannot be turned into a candidate run; the message says why."""


class CandidateJobs(Protocol):
    def get(self, job_id: int) -> Job: ...

    def get_permissions(self, job_id: str) -> JobPermissions: ...


def _library(path: str) -> Library:
    return Library(jar=path) if path.endswith(".jar") else Library(whl=path)


def _run_as(job: Job) -> JobRunAs | None:
    # `settings.run_as` is write-only: jobs/get answers with `run_as_user_name` instead (a user's
    # e-mail or a service principal's application id).
    name = job.run_as_user_name
    if not name:
        return None
    if SERVICE_PRINCIPAL_ID.match(name):
        return JobRunAs(service_principal_name=name)
    return JobRunAs(user_name=name)


def _viewers(permissions: JobPermissions) -> list[JobAccessControlRequest]:
    """The job's own grants, for the run (its owner is whoever submits it)."""
    grants = []
    for entry in permissions.access_control_list or []:
        for permission in entry.all_permissions or []:
            level = permission.permission_level
            if permission.inherited or level is None or level is JobPermissionLevel.IS_OWNER:
                continue
            grants.append(
                JobAccessControlRequest(
                    group_name=entry.group_name,
                    user_name=entry.user_name,
                    service_principal_name=entry.service_principal_name,
                    permission_level=level,
                )
            )
    return grants


# Per task key (or `environment:<key>`): field name -> value, as `release_fields` exports them.
Fields = Mapping[str, Mapping[str, Any]]
_SUBMIT_FIELDS = [f.name for f in dataclasses.fields(SubmitTask)]


def _swap(job_id: int, task: Task, live: Fields, candidate: Fields) -> Task:
    """`task` with the candidate's release fields, after checking it has the live ones."""
    want = live.get(task.task_key, {})
    new = candidate.get(task.task_key, {})
    have: dict[str, Any] = {}
    changes: dict[str, Any] = {}
    if task.notebook_task is not None and "notebook_path" in new:
        have["notebook_path"] = task.notebook_task.notebook_path
        changes["notebook_task"] = dataclasses.replace(
            task.notebook_task, notebook_path=new["notebook_path"]
        )
    if task.spark_python_task is not None and "python_file" in new:
        have["python_file"] = task.spark_python_task.python_file
        changes["spark_python_task"] = dataclasses.replace(
            task.spark_python_task, python_file=new["python_file"]
        )
    if task.sql_task is not None and task.sql_task.file is not None and "sql_file" in new:
        have["sql_file"] = task.sql_task.file.path
        changes["sql_task"] = dataclasses.replace(
            task.sql_task, file=dataclasses.replace(task.sql_task.file, path=new["sql_file"])
        )
    if "libraries" in new:
        have["libraries"] = sorted(lib.whl or lib.jar or "" for lib in task.libraries or [])
        changes["libraries"] = [_library(p) for p in new["libraries"]]
    stale = {k: (have[k], want.get(k)) for k in have if have[k] != want.get(k)}
    if stale:
        field, (deployed, expected) = next(iter(sorted(stale.items())))
        raise CandidateError(
            f"job {job_id}: task {task.task_key!r} has {field} {deployed!r}, the program's live"
            f" release has {expected!r}: the deployed job is not what the program registered;"
            " redeploy it (`pulumi up`) or restore it (`cicd.drift --restore`) before the gate"
        )
    if task.for_each_task is not None:
        changes["for_each_task"] = dataclasses.replace(
            task.for_each_task, task=_swap(job_id, task.for_each_task.task, live, candidate)
        )
    return dataclasses.replace(task, **changes)


def _without_orchestration(tasks: list[Task]) -> tuple[list[Task], list[str]]:
    """Tasks minus pipeline and run-job tasks, their dependents rewired to what they depended on."""
    left_out = {t.task_key: t for t in tasks if t.pipeline_task or t.run_job_task}

    def upstream(dependencies: list[TaskDependency]) -> list[TaskDependency]:
        found: dict[str, TaskDependency] = {}
        for dependency in dependencies:
            skipped = left_out.get(dependency.task_key)
            if skipped is None:
                found.setdefault(dependency.task_key, dependency)
            else:
                for inherited in upstream(skipped.depends_on or []):
                    found.setdefault(inherited.task_key, inherited)
        return [found[key] for key in sorted(found)]

    kept = [
        dataclasses.replace(t, depends_on=upstream(t.depends_on or []) or None)
        for t in tasks
        if t.task_key not in left_out
    ]
    return kept, sorted(left_out)


def submission_for(
    jobs: CandidateJobs, job_id: int, version: str, live: Fields, candidate: Fields
) -> tuple[dict[str, Any], list[str]]:
    """The `jobs.submit` arguments that run `version` as the live job `job_id` would, and the
    keys of the tasks left out (pipeline and run-job tasks)."""
    job = jobs.get(job_id)
    settings = job.settings
    if settings is None or not settings.tasks:
        raise CandidateError(
            f"job {job_id} has no tasks; the program registers at least one: redeploy the job"
            " (`pulumi up`) before promoting"
        )
    clusters = {c.job_cluster_key: c.new_cluster for c in settings.job_clusters or []}
    tasks, left_out = _without_orchestration(list(settings.tasks))
    submitted: list[SubmitTask] = []
    for task in sorted(tasks, key=lambda t: t.task_key):
        swapped = _swap(job_id, task, live, candidate)
        new_cluster = swapped.new_cluster
        if swapped.job_cluster_key:
            new_cluster = clusters.get(swapped.job_cluster_key)
            if new_cluster is None:
                raise CandidateError(
                    f"job {job_id}: task {task.task_key!r} names job cluster"
                    f" {task.job_cluster_key!r}, which the job does not define; redeploy the job"
                    " (`pulumi up`)"
                )
        # A one-time run has no job clusters: each task gets its cluster's spec inline.
        values: dict[str, Any] = {name: getattr(swapped, name, None) for name in _SUBMIT_FIELDS}
        values["new_cluster"] = new_cluster
        submitted.append(SubmitTask(**values))
    environments = [
        dataclasses.replace(
            environment,
            spec=dataclasses.replace(
                environment.spec,
                dependencies=list(
                    candidate[f"environment:{environment.environment_key}"]["dependencies"]
                ),
            ),
        )
        if environment.spec is not None
        and f"environment:{environment.environment_key}" in candidate
        else environment
        for environment in settings.environments or []
    ]
    return {
        "run_name": f"{settings.name} candidate {version}",
        "tasks": submitted,
        "environments": environments or None,
        "run_as": _run_as(job),
        "timeout_seconds": settings.timeout_seconds,
        "access_control_list": _viewers(jobs.get_permissions(str(job_id))) or None,
    }, left_out


def run_job_candidate(
    jobs: Any, job_id: int, version: str, live: Fields, candidate: Fields, watcher: RunWatcher
) -> tuple[int, list[str]]:
    """Submit the candidate's one-off run of job `job_id` (any tasks) and follow it to its end:
    (`watcher`'s exit code, the tasks left out)."""
    submission, left_out = submission_for(jobs, job_id, version, live, candidate)
    waiter = jobs.submit(**submission)
    return watcher.watch(RunWatcher.run_id_of(waiter)), left_out
