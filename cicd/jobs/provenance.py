"""Which content has run green in staging: recorded with every gate run of a stack's job, found
again through the Jobs API, so CI can check it without anyone's laptop.

Record: `cicd.run_job --stack S` passes two notebook parameters with the run, `cicd_release`
(the live version) and `cicd_content_digest` (`cicd.releases.lock.content_digest` of its lock
entry). The run keeps them as its overriding parameters for as long as Databricks keeps the run
(60 days).

Check: among the staging job's completed runs, newest first, one that succeeded and really ran
that version's notebook (its task ran a notebook under `/releases/<version>/`, so a parameter
alone proves nothing), and that nobody started by hand:
- started by the job's own trigger (schedule, file arrival, table update, continuous), with the
  job's own parameters; or
- started by one of `started_by` (the staging deploy identity, which CI's `cicd.run_job` runs
  as), carrying the same version and digest and overriding no other parameter.
A run someone started from the UI or the API with their own identity counts for nothing, whatever
parameters it carries. Which bytes the run read is established separately: the staging release
folder is restricted like prod's, and checked against the lock when promoting
(`cicd.promotion.staging`). Reading runs needs CAN_VIEW on the staging job, nothing more.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from databricks.sdk.service.jobs import BaseJob, BaseRun, Run, RunResultState, TriggerType

from cicd.config import ConfigError, read_stack_file
from cicd.project import stack_file
from cicd.releases.lock import LOCK_FILE, LockError, content_digest, read_lock

RELEASE_PARAM = "cicd_release"
DIGEST_PARAM = "cicd_content_digest"
# How far back to look: about two months of daily runs plus every merge.
MAX_RUNS_SEARCHED = 500
# Runs the job's own trigger starts (Jobs API `trigger`): nobody chose their parameters. Every
# other kind (ONE_TIME: "Run now" in the UI or run-now in the API; RETRY: a re-run asked for;
# RUN_JOB_TASK; CONTINUOUS_RESTART: a user restarting a continuous job) is someone's request.
JOB_TRIGGERS = frozenset(
    {TriggerType.PERIODIC, TriggerType.FILE_ARRIVAL, TriggerType.TABLE, TriggerType.CONTINUOUS}
)


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


def _other_overrides(run: BaseRun) -> list[str]:
    """What a run overrides besides the record (`run_record`): notebook parameters of its own,
    job parameters, or any other kind of task parameters."""
    overriding = run.overriding_parameters
    other = sorted(set(_params(run)) - {RELEASE_PARAM, DIGEST_PARAM})
    if overriding is not None:
        for kind in ("jar_params", "python_params", "spark_submit_params", "sql_params"):
            if getattr(overriding, kind, None):
                other.append(kind)
        other += [
            f"{p.name} (job parameter)"
            for p in run.job_parameters or []
            if p.value is not None and p.value != p.default
        ]
    return other


def _ran_version(run: Run, version: str) -> bool:
    marker = f"/releases/{version}/"
    return any(
        task.notebook_task is not None and marker in task.notebook_task.notebook_path
        for task in run.tasks or []
    )


def _why_not_counted(
    summary: BaseRun, version: str, digest: str, started_by: Collection[str]
) -> str | None:
    """Why a completed run of the job is no provenance for `version`/`digest` (None: it may
    be, once it is seen to have run that version's notebook)."""
    url = summary.run_page_url or f"run {summary.run_id}"
    params = _params(summary)
    result = summary.state.result_state if summary.state is not None else None
    if summary.trigger in JOB_TRIGGERS:
        if _other_overrides(summary) or params:
            return f"run {summary.run_id} overrides the job's parameters ({url})"
    else:
        if params.get(RELEASE_PARAM) != version:
            return ""  # another release's run: not worth listing
        starter = summary.creator_user_name or "an unknown identity"
        if starter not in started_by:
            return (
                f"run {summary.run_id} was started by {starter}, not by the job's trigger or the"
                f" staging deploy identity ({url})"
            )
        if params.get(DIGEST_PARAM) != digest:
            return f"run {summary.run_id} ran {version} with other content ({url})"
        other = _other_overrides(summary)
        if other:
            return f"run {summary.run_id} overrides {', '.join(other)} ({url})"
    if result is not RunResultState.SUCCESS:
        return (
            f"run {summary.run_id} {result.value if result else 'ended without a result'} ({url})"
        )
    return None


def find_green_run(
    jobs: ProvenanceJobs,
    job_id: int,
    version: str,
    digest: str,
    where: str,
    started_by: Collection[str] = (),
) -> GreenRun:
    """The newest successful run of job `job_id` that ran `version` as recorded with `digest`,
    started by the job's trigger or by one of `started_by` (see the module docstring)."""
    seen: list[str] = []
    for count, summary in enumerate(jobs.list_runs(job_id=job_id, completed_only=True)):
        if count >= MAX_RUNS_SEARCHED:
            break
        if summary.run_id is None:
            continue
        why = _why_not_counted(summary, version, digest, started_by)
        if why is not None:
            if why:
                seen.append(why)
            continue
        run = jobs.get_run(summary.run_id)
        if not _ran_version(run, version):
            if summary.trigger not in JOB_TRIGGERS:
                seen.append(f"run {summary.run_id} is labelled {version} but ran another notebook")
            continue
        return GreenRun(
            summary.run_id, summary.run_page_url or f"run {summary.run_id}", summary.start_time
        )
    detail = "; ".join(seen[:5]) + (f"; and {len(seen) - 5} more" if len(seen) > 5 else "")
    raise ProvenanceError(
        f"release {version} (content {digest[:19]}...) has no successful run in {where} started"
        " by its trigger or the staging deploy identity"
        + (f" (seen: {detail})" if seen else "")
        + ": deploy it to staging and let the staging job pass (deploy-staging.yml), or, if it"
        ' must go out anyway, promote it with --allow-unverified "<reason>"'
    )
