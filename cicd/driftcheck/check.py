"""One drift check of a stack: every kept release, the job and the permissions, in that order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from databricks.sdk import WorkspaceClient

from cicd.driftcheck.expected import ExpectedStack
from cicd.driftcheck.findings import Finding
from cicd.driftcheck.job import check_job, find_job
from cicd.driftcheck.permissions import check_permissions
from cicd.driftcheck.releases import Record, ReleaseDrift
from cicd.driftcheck.releases import check_releases as read_releases


class ReleaseFolderMissing(Exception):
    """A kept release's folder is not in the workspace at all: not drift of a file, an error."""


@dataclass
class DriftResult:
    job_id: int
    releases: list[ReleaseDrift] = field(default_factory=list)
    job_findings: list[Finding] = field(default_factory=list)
    permission_findings: list[Finding] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        found = [f for drift in self.releases for f in drift.findings]
        return found + self.job_findings + self.permission_findings

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
    resolved_job = job_id if job_id is not None else find_job(client, expected.job_name)
    result = DriftResult(resolved_job, check_releases(client, expected, since))
    result.job_findings = check_job(client, expected.job_inputs, resolved_job)
    for grants in expected.permissions:
        result.permission_findings += check_permissions(client, grants, resolved_job)
    return result
