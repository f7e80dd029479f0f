"""Which content has run green in staging: recorded with every gate run of a stack's job, found
again through the Jobs API, so CI can check it without anyone's laptop.

Record: `cicd.run_job --stack S` passes two notebook parameters with the run, `cicd_release`
(the live version) and `cicd_content_digest` (`cicd.releases.lock.content_digest` of its lock
entry). The run keeps them as its overriding parameters for as long as Databricks keeps the run
(60 days).

Check: among the staging job's completed runs, newest first, one that succeeded, carries the
same version and digest, and really ran that version's notebook (its task ran a notebook under
`/releases/<version>/`, so a parameter alone proves nothing). Reading needs CAN_VIEW on the
staging job, nothing more.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from databricks.sdk.service.jobs import BaseJob, BaseRun, Run, RunResultState

from cicd.config import ConfigError, read_stack_file
from cicd.project import stack_file
from cicd.releases.lock import LOCK_FILE, LockError, content_digest, read_lock

RELEASE_PARAM = "cicd_release"
DIGEST_PARAM = "cicd_content_digest"
# How far back to look: about two months of daily runs plus every merge.
MAX_RUNS_SEARCHED = 500


class ProvenanceJobs(Protocol):
    """The part of ``WorkspaceClient.jobs`` the check reads (read-only calls)."""

    def list(self, *, name: str | None = None) -> Iterator[BaseJob]: ...

    def list_runs(
        self, *, job_id: int | None = None, completed_only: bool | None = None
    ) -> Iterator[BaseRun]: ...

    def get_run(self, run_id: int) -> Run: ...


class ProvenanceError(Exception):
    """No green staging run of this content; the message says what was seen and the fix."""


@dataclass(frozen=True)
class GreenRun:
    run_id: int
    run_page_url: str
    start_time: int | None


def run_record(version: str, digest: str) -> dict[str, str]:
    """The notebook parameters that record which release and content a run ran."""
    return {RELEASE_PARAM: version, DIGEST_PARAM: digest}


def release_digest(project_dir: Path, version: str) -> str:
    """The content digest of `version` as `releases.lock.yaml` records it."""
    lock = read_lock(project_dir / LOCK_FILE)
    if version not in lock:
        raise LockError(
            f"release {version} is not in {LOCK_FILE}: publish it with"
            f" `python -m cicd.release build {version}`"
        )
    return content_digest(lock[version])


def stack_run_record(project_dir: Path, stack: str) -> dict[str, str]:
    """What a run of `stack`'s job runs: its live release and that release's content digest."""
    try:
        config = read_stack_file(stack_file(project_dir, stack))
    except ConfigError as exc:
        raise ProvenanceError(str(exc)) from None
    version = config.releases.live
    try:
        return run_record(version, release_digest(project_dir, version))
    except LockError as exc:
        raise ProvenanceError(str(exc)) from None


def find_job_id(jobs: ProvenanceJobs, name: str, host: str) -> int:
    """The id of the one job named `name` (the stack's `job.name`)."""
    found = sorted(
        job.job_id
        for job in jobs.list(name=name)
        if job.job_id is not None and job.settings is not None and job.settings.name == name
    )
    if not found:
        raise ProvenanceError(
            f"no job named {name!r} on {host}: check that staging has been deployed and that the"
            " reading identity has CAN_VIEW on its job"
        )
    if len(found) > 1:
        raise ProvenanceError(
            f"{len(found)} jobs named {name!r} on {host} ({', '.join(map(str, found))}):"
            " pass the staging job's id with --staging-job-id"
        )
    return found[0]


def _params(run: BaseRun) -> dict[str, str]:
    overriding = run.overriding_parameters
    return dict(overriding.notebook_params or {}) if overriding is not None else {}


def _ran_version(run: Run, version: str) -> bool:
    marker = f"/releases/{version}/"
    return any(
        task.notebook_task is not None and marker in task.notebook_task.notebook_path
        for task in run.tasks or []
    )


def find_green_run(
    jobs: ProvenanceJobs, job_id: int, version: str, digest: str, where: str
) -> GreenRun:
    """The newest successful run of job `job_id` recorded as `version` with `digest`."""
    seen: list[str] = []
    for count, summary in enumerate(jobs.list_runs(job_id=job_id, completed_only=True)):
        if count >= MAX_RUNS_SEARCHED:
            break
        params = _params(summary)
        if params.get(RELEASE_PARAM) != version or summary.run_id is None:
            continue
        result = summary.state.result_state if summary.state is not None else None
        url = summary.run_page_url or f"run {summary.run_id}"
        if params.get(DIGEST_PARAM) != digest:
            seen.append(f"run {summary.run_id} ran {version} with other content ({url})")
            continue
        if result is not RunResultState.SUCCESS:
            seen.append(
                f"run {summary.run_id} {result.value if result else 'ended without a result'}"
                f" ({url})"
            )
            continue
        run = jobs.get_run(summary.run_id)
        if not _ran_version(run, version):
            seen.append(f"run {summary.run_id} is labelled {version} but ran another notebook")
            continue
        return GreenRun(summary.run_id, url, summary.start_time)
    detail = "; ".join(seen[:5]) + (f"; and {len(seen) - 5} more" if len(seen) > 5 else "")
    raise ProvenanceError(
        f"release {version} (content {digest[:19]}...) has no successful run in {where}"
        + (f" (seen: {detail})" if seen else "")
        + ": deploy it to staging and let the staging job pass (deploy-staging.yml), or, if it"
        ' must go out anyway, promote it with --allow-unverified "<reason>"'
    )
