"""Asking the staging workspace whether a release's content has run green there.

Two questions, both asked with the staging **reader**'s credentials, never a deploy identity's:
- did the release run green there, started by the job's trigger or the staging deploy identity
  (`cicd.jobs.provenance`)?
- is the release in staging's workspace exactly what the lock records (its notebooks and files
  under `<staging workspaceRoot>/releases/<version>/`, its libraries in the artifact store)? A
  green run of content that differs from the lock proves nothing about the lock's content. The
  comparison is the drift check's (`cicd.driftcheck`), on the objects the program registers for
  that release in staging.

Credentials: `STAGING_READER_CLIENT_ID` / `STAGING_READER_CLIENT_SECRET` (CI), else a
`~/.databrickscfg` profile (`--staging-profile`), else the SDK's usual resolution for the staging
host. The reader needs CAN_VIEW on the staging job, CAN_READ on the staging release folder, and
READ VOLUME (with USE CATALOG/USE SCHEMA) on the artifact store. The host is `databricks:host` of
the staging stack file; the job is found by its configured name.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors.base import DatabricksError

from cicd.config import ConfigError, pulumi_config_map, read_stack_file
from cicd.driftcheck.expected import DriftSetupError, expected_state
from cicd.driftcheck.releases import check_releases
from cicd.jobs.cli import EXIT_REFUSED, EXIT_UNREACHABLE, one_line
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
from cicd.releases.lock import LOCK_FILE, LockError

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


def check_staging_release(
    client: WorkspaceClient, project_dir: Path, version: str, source: StagingSource
) -> None:
    """Refuse unless staging's copy of `version` is exactly what the lock records (every
    finding named, redacted); the expected objects are what the program registers for that
    release in the staging stack, so the release must be on disk (`cicd.release ensure`)."""
    path = stack_file(project_dir, source.stack)
    try:
        config_map = pulumi_config_map(path)
        kept = json.loads(config_map.get("databricks-cicd:releases", "{}")).get("kept") or []
        entry = next((k for k in kept if k.get("version") == version), {"version": version})
        # Staging as if it kept only this release: the same paths and objects it registers then.
        only = {"kept": [entry], "live": version}
        config_map["databricks-cicd:releases"] = json.dumps(only)
        releases = expected_state(config_map, source.stack, project_dir).releases
    except (ConfigError, DriftSetupError, ValueError) as exc:
        raise ProvenanceError(f"cannot check release {version} in staging: {exc}") from None
    release = next(r for r in releases if r.version == version)
    drifts, missing = check_releases(client, [release])
    if missing:
        raise ProvenanceError(
            f"release {version} is not in staging's workspace ({', '.join(missing)} does not"
            " exist): deploy it to staging"
        )
    drift = drifts[0]
    if drift.findings:
        lines = [f.line() for f in drift.findings[:10]]
        more = len(drift.findings) - len(lines)
        raise ProvenanceError(
            f"release {version} in staging is not what {LOCK_FILE} records, so its runs there"
            " prove nothing:\n"
            + "\n".join(lines)
            + (f"\n  and {more} more" if more > 0 else "")
            + f"\nPut it back (`python -m cicd.drift --stack {source.stack} --restore`), run"
            " staging again, then promote"
        )


def ran_green_in_staging(
    project_dir: Path,
    version: str,
    source: StagingSource,
    staging_reader: Callable[[StagingSource], WorkspaceClient] | None = None,
) -> int | None:
    """`check_staging_provenance` as `cicd.promote` and `cicd.gate` answer it: None when there
    is a green run (its page printed), else the exit code, the reason printed on stderr."""
    try:
        green = check_staging_provenance(project_dir, version, source, staging_reader)
    except (ProvenanceError, LockError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except (DatabricksError, OSError, ValueError) as exc:
        print(
            f"error: cannot ask the staging workspace ({one_line(str(exc), 300)}): set"
            f" {READER_ID_VARIABLE}/{READER_SECRET_VARIABLE} or --staging-profile, or"
            ' pass --allow-unverified "<reason>"',
            file=sys.stderr,
        )
        return EXIT_UNREACHABLE
    print(f"release {version} ran green in staging: {green.run_page_url}")
    return None


def check_staging_provenance(
    project_dir: Path,
    version: str,
    source: StagingSource,
    staging_reader: Callable[[StagingSource], WorkspaceClient] | None = None,
) -> GreenRun:
    """The green staging run of `version`'s content, started by the job's trigger or the staging
    deploy identity, of a staging release identical to the lock; or ProvenanceError saying what
    to do. The staging workspace is read with `staging_reader(source)`, by default
    `staging_client` (the staging stack's host, the reader's credentials)."""
    workspace = (
        staging_reader(source)
        if staging_reader is not None
        else staging_client(project_dir, source)
    )
    jobs: ProvenanceJobs = workspace.jobs
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
    started_by = [staging.access.deploy_identity] if staging.access else []
    green = find_green_run(
        jobs, job_id, version, digest, f"{where} (job {job_id} on {host})", started_by
    )
    check_staging_release(workspace, project_dir, version, source)
    return green
