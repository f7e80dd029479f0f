"""Stack-wide rules: exactly one job per stack, and no all-purpose cluster in production.

One job per stack is what the release flow promotes and rolls back; a second (a copy for another
pipeline) would run whichever release nobody repoints. Production runs on job clusters only: an
all-purpose cluster there is a place to run ad hoc code with production rights.
"""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from .common import CLUSTER, JOB, PRODUCTION, config_schema, resource_label, setting


def _one_job(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    jobs = [r for r in args.resources if r.resource_type == JOB]
    if len(jobs) == 1:
        return
    if not jobs:
        report_violation(
            f"the stack registers 0 resources of type {JOB}; exactly one job per stack", None
        )
        return
    names = ", ".join(repr(j.name) for j in jobs)
    for job in jobs:
        report_violation(
            f"{resource_label(job.resource_type, job.name)}: the stack registers {len(jobs)}"
            f" jobs ({names}); exactly one job per stack (the one the release flow repoints)",
            job.urn,
        )


def _no_cluster_in_production(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    if not setting(args.get_config(), PRODUCTION):
        return
    for resource in args.resources:
        if resource.resource_type == CLUSTER:
            report_violation(
                f"{resource_label(resource.resource_type, resource.name)}: type is"
                f" {resource.resource_type!r} (an all-purpose cluster) in a production stack;"
                " production runs on job clusters only",
                resource.urn,
            )


POLICIES = [
    StackValidationPolicy(
        name="one-job-per-stack",
        description="Each stack registers exactly one job.",
        validate=_one_job,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="no-all-purpose-cluster-in-production",
        description="A production stack registers no all-purpose cluster.",
        validate=_no_cluster_in_production,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=config_schema(PRODUCTION),
    ),
]
