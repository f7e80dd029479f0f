"""Asking the staging workspace whether a release's content has run green there.

Credentials are the staging **reader**'s, never a deploy identity's: from
`STAGING_READER_CLIENT_ID` / `STAGING_READER_CLIENT_SECRET` (CI), else a `~/.databrickscfg`
profile (`--staging-profile`), else the SDK's usual resolution for the staging host. The host is
`databricks:host` of the staging stack file; the job is found by its configured name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from databricks.sdk import WorkspaceClient

from cicd.config import ConfigError, read_stack_file
from cicd.jobs.provenance import (
    GreenRun,
    ProvenanceError,
    ProvenanceJobs,
    find_green_run,
    find_job_id,
    release_digest,
)
from cicd.jobs.stack_outputs import stack_host, workspace_client
from cicd.project import stack_file
from cicd.releases.lock import LockError

READER_ID_VARIABLE = "STAGING_READER_CLIENT_ID"
READER_SECRET_VARIABLE = "STAGING_READER_CLIENT_SECRET"


@dataclass(frozen=True)
class StagingSource:
    """Where green staging runs are looked up."""

    stack: str = "staging"
    job_id: int | None = None  # else found by the staging stack's job.name
    profile: str | None = None


def staging_client(project_dir: Path, source: StagingSource) -> WorkspaceClient:
    host = stack_host(source.stack, project_dir)
    if source.profile:
        return workspace_client(profile=source.profile)
    client_id = os.environ.get(READER_ID_VARIABLE)
    if client_id:
        return workspace_client(
            host,
            client_id=client_id,
            client_secret=os.environ.get(READER_SECRET_VARIABLE),
        )
    return workspace_client(host)


def check_staging_provenance(
    jobs: ProvenanceJobs, project_dir: Path, version: str, source: StagingSource
) -> GreenRun:
    """The green staging run of `version`'s content, or ProvenanceError saying what to do."""
    try:
        digest = release_digest(project_dir, version)
        staging = read_stack_file(stack_file(project_dir, source.stack))
    except (LockError, ConfigError) as exc:
        raise ProvenanceError(str(exc)) from None
    staging_jobs = staging.all_jobs()
    if not staging_jobs:
        raise ProvenanceError(
            f"stack {source.stack} has no job to have run {version}: add databricks-cicd:job"
        )
    # The main job (databricks-cicd:job), or the first job by key: its green run vouches for
    # the release's content.
    job_name = next(iter(staging_jobs.values())).name
    where = f"staging job {job_name!r}"
    host = stack_host(source.stack, project_dir) or "the staging workspace"
    job_id = source.job_id or find_job_id(jobs, job_name, host)
    return find_green_run(jobs, job_id, version, digest, f"{where} (job {job_id} on {host})")
