"""One drift check of a stack: every kept release, the job and the permissions, in that order,
then who can reach the stack's objects beyond the program's grants (`access`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors.platform import PermissionDenied

from cicd.driftcheck.access import check_inherited_grants, unreadable_grants
from cicd.driftcheck.expected import ExpectedStack
from cicd.driftcheck.findings import Finding
from cicd.driftcheck.job import check_job, find_job
from cicd.driftcheck.objects import FolderMissing
from cicd.driftcheck.permissions import check_permissions
from cicd.driftcheck.releases import ReleaseDrift, check_release


class ReleaseFolderMissing(Exception):
    """A kept release's folder is not in the workspace at all: not drift of a file, an error."""


@dataclass
class DriftResult:
    job_id: int
    releases: list[ReleaseDrift] = field(default_factory=list)
    job_findings: list[Finding] = field(default_factory=list)
    permission_findings: list[Finding] = field(default_factory=list)
    # Engineers' other policies and off-policy clusters (cicd.driftcheck.access).
    access_findings: list[Finding] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        found = [f for drift in self.releases for f in drift.findings]
        return found + self.job_findings + self.permission_findings + self.access_findings

    @property
    def release_files_drifted(self) -> bool:
        return any(drift.findings for drift in self.releases)


def check_releases(client: WorkspaceClient, expected: ExpectedStack) -> list[ReleaseDrift]:
    drifts = []
    missing = []
    for release in expected.releases:
        try:
            drifts.append(check_release(client, release))
        except FolderMissing as exc:
            missing.append(f"release {release.version}: {exc} does not exist")
    if missing:
        raise ReleaseFolderMissing(
            "; ".join(missing)
            + ". A kept release is published whole by `pulumi up`: deploy the stack (pulumi up"
            " --refresh) before checking it, or check that databricks:host is the stack's workspace"
        )
    return drifts


def check_stack(
    client: WorkspaceClient, expected: ExpectedStack, job_id: int | None = None
) -> DriftResult:
    resolved_job = job_id if job_id is not None else find_job(client, expected.job_name)
    result = DriftResult(resolved_job, check_releases(client, expected))
    result.job_findings = check_job(client, expected.job_inputs, resolved_job)
    for grants in expected.permissions:
        try:
            result.permission_findings += check_permissions(client, grants, resolved_job)
            result.permission_findings += check_inherited_grants(client, grants, resolved_job)
        except PermissionDenied:
            result.permission_findings.append(unreadable_grants(grants, resolved_job))
    return result
