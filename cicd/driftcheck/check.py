"""One drift check of a stack: every kept release, every job and pipeline, and the permissions
(direct and inherited), in that order; who else can reach the stack's objects is `access`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors.platform import PermissionDenied

from cicd.driftcheck.access import check_inherited_grants, unreadable_grants
from cicd.driftcheck.acl import granted_entries
from cicd.driftcheck.expected import ExpectedStack, id_placeholder
from cicd.driftcheck.findings import Finding
from cicd.driftcheck.job import check_job, find_job
from cicd.driftcheck.permissions import check_permissions
from cicd.driftcheck.pipeline import check_pipeline, find_pipeline
from cicd.driftcheck.releases import Record, ReleaseDrift
from cicd.driftcheck.releases import check_releases as read_releases


class ReleaseFolderMissing(Exception):
    """A kept release's folder is not in the workspace at all: not drift of a file, an error."""


@dataclass
class DriftResult:
    job_id: int | None  # the main job's
    releases: list[ReleaseDrift] = field(default_factory=list)
    job_findings: list[Finding] = field(default_factory=list)  # jobs' and pipelines'
    permission_findings: list[Finding] = field(default_factory=list)
    # Every job and pipeline of the stack as found in the workspace, by key.
    job_ids: dict[str, int] = field(default_factory=dict)
    pipeline_ids: dict[str, str] = field(default_factory=dict)
    # Engineers' other policies and off-policy clusters (cicd.driftcheck.access).
    access_findings: list[Finding] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        found = [f for drift in self.releases for f in drift.findings]
        return found + self.job_findings + self.permission_findings + self.access_findings

    @property
    def records(self) -> dict[str, Record]:
        """What was read of each release object, for the next check's `--since`."""
        return {path: record for drift in self.releases for path, record in drift.records.items()}

    @property
    def release_files_drifted(self) -> bool:
        return any(drift.findings for drift in self.releases)


def check_releases(
    client: WorkspaceClient, expected: ExpectedStack, since: Mapping[str, Record] | None = None
) -> list[ReleaseDrift]:
    drifts, missing = read_releases(client, expected.releases, since)
    if missing:
        versions = {r.folder: r.version for r in expected.releases}
        raise ReleaseFolderMissing(
            "; ".join(f"release {versions[folder]}: {folder} does not exist" for folder in missing)
            + ". A kept release is published whole by `pulumi up`: deploy the stack (pulumi up"
            " --refresh) before checking it, or check that databricks:host is the stack's workspace"
        )
    return drifts


def check_stack(
    client: WorkspaceClient,
    expected: ExpectedStack,
    job_id: int | None = None,
    since: Mapping[str, Record] | None = None,
) -> DriftResult:
    """`job_id`: the main job's id, when it is not to be found by its name."""
    job_ids = {
        key: job_id
        if job_id is not None and key == expected.main_job
        else find_job(client, str(inputs["name"]))
        for key, inputs in expected.jobs.items()
    }
    pipeline_ids = {
        key: find_pipeline(client, str(inputs["name"]))
        for key, inputs in expected.pipelines.items()
    }
    ids = {id_placeholder("job", k): str(v) for k, v in job_ids.items()}
    ids.update({id_placeholder("pipeline", k): v for k, v in pipeline_ids.items()})
    result = DriftResult(
        job_ids.get(expected.main_job) if expected.jobs else None,
        check_releases(client, expected, since),
        job_ids=job_ids,
        pipeline_ids=pipeline_ids,
    )
    for key, inputs in expected.jobs.items():
        result.job_findings += check_job(client, inputs, job_ids[key], ids, key)
    for key, inputs in expected.pipelines.items():
        result.job_findings += check_pipeline(client, key, inputs, pipeline_ids[key])
    for grants in expected.permissions:
        object_id = (
            job_ids.get(grants.object_key or "")
            if grants.object_kind == "job"
            else pipeline_ids.get(grants.object_key or "")
        )
        # One read of the object's permission list serves both judgements: direct grants
        # against the program's, inherited ones against what it lets each principal do.
        try:
            entries = granted_entries(client, grants, object_id)
        except PermissionDenied:
            result.permission_findings.append(unreadable_grants(grants, object_id))
            continue
        result.permission_findings += check_permissions(grants, entries, object_id)
        result.permission_findings += check_inherited_grants(grants, entries, object_id)
    return result
