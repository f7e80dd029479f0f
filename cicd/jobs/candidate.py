"""A one-off run of a candidate release with the live production job's own settings.

The settings are read back from the deployed job (`jobs.get`): its cluster spec, parameters,
retries, timeout, run-as identity, and who may see its runs, exactly what the program registered
(and anything changed by hand since, which the run then also meets). Only the entry notebook and
the libraries are swapped for the candidate's, whose paths the program itself exports
(`candidateNotebookPath`, `candidateLibraryPaths`). No second copy of the job's definition exists
to drift from the first. The run is submitted with `jobs.submit` (a one-time run, no job changed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from databricks.sdk.service.compute import Library
from databricks.sdk.service.jobs import (
    Job,
    JobAccessControlRequest,
    JobPermissionLevel,
    JobPermissions,
    JobRunAs,
    NotebookTask,
    SubmitTask,
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


def candidate_submission(
    jobs: CandidateJobs,
    job_id: int,
    version: str,
    notebook_path: str,
    library_paths: Sequence[str],
) -> dict[str, Any]:
    """The `jobs.submit` arguments that run `version` as the live job `job_id` would."""
    job = jobs.get(job_id)
    settings = job.settings
    tasks = (settings.tasks or []) if settings is not None else []
    notebook_tasks = [t for t in tasks if t.notebook_task is not None]
    if settings is None or len(tasks) != 1 or len(notebook_tasks) != 1:
        raise CandidateError(
            f"job {job_id} has {len(tasks)} task(s), {len(notebook_tasks)} of them notebook"
            " tasks; the program registers exactly one notebook task: redeploy the job"
            " (`pulumi up`) before promoting"
        )
    task = notebook_tasks[0]
    live_notebook = task.notebook_task
    assert live_notebook is not None
    clusters = {c.job_cluster_key: c.new_cluster for c in settings.job_clusters or []}
    new_cluster = task.new_cluster or clusters.get(task.job_cluster_key or "")
    if new_cluster is None and task.existing_cluster_id is None:
        raise CandidateError(
            f"job {job_id}: task {task.task_key!r} names job cluster {task.job_cluster_key!r},"
            " which the job does not define; redeploy the job (`pulumi up`)"
        )
    submit_task = SubmitTask(
        task_key=task.task_key,
        notebook_task=NotebookTask(
            notebook_path=notebook_path,
            base_parameters=live_notebook.base_parameters,
            source=live_notebook.source,
        ),
        new_cluster=new_cluster,
        existing_cluster_id=task.existing_cluster_id if new_cluster is None else None,
        libraries=[_library(p) for p in sorted(library_paths)],
        max_retries=task.max_retries,
        min_retry_interval_millis=task.min_retry_interval_millis,
        retry_on_timeout=task.retry_on_timeout,
        timeout_seconds=task.timeout_seconds,
    )
    return {
        "run_name": f"{settings.name} candidate {version}",
        "tasks": [submit_task],
        "run_as": _run_as(job),
        "timeout_seconds": settings.timeout_seconds,
        "access_control_list": _viewers(jobs.get_permissions(str(job_id))) or None,
    }


def run_candidate(
    jobs: Any,
    job_id: int,
    version: str,
    notebook_path: str,
    library_paths: Sequence[str],
    watcher: RunWatcher,
) -> int:
    """Submit the candidate's one-off run and follow it to its end: `watcher`'s exit code
    (0 only when it succeeded). `jobs` is ``WorkspaceClient.jobs``."""
    submission = candidate_submission(jobs, job_id, version, notebook_path, library_paths)
    waiter = jobs.submit(**submission)
    return watcher.watch(RunWatcher.run_id_of(waiter))
