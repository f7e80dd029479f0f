"""Stack-wide rules: every job and pipeline runs one and the same release, their names are
unique, and no all-purpose cluster in production.

One switch for all: `live` repoints every job and pipeline at once, so a promotion or a rollback
is one edit. A job or pipeline pointing at another release (a copy made for a backfill, a path
typed by hand) keeps running that release whatever `live` says: refused, naming both releases.
A job's name is how people, alerts and the provenance check (`jobs list --name`) find it; two jobs
(or two pipelines) of one stack with the same name are one too many. Production runs on job
clusters only: an all-purpose cluster there is a place to run ad hoc code with production rights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from .common import (
    CLUSTER,
    JOB,
    LIBRARY_ROOT,
    NOTEBOOK_ROOT,
    PIPELINE,
    PRODUCTION,
    config_schema,
    get_or_computed,
    resource_label,
    setting,
    show,
)
from .redact import redact_text
from .references import (
    LIBRARY,
    WORKSPACE,
    Reference,
    job_references,
    pipeline_references,
    release_of,
    workspace_roots,
)

# The most resource names a message lists; the rest are counted.
MAX_NAMES = 5

REFERENCES: dict[str, Callable[[Mapping[str, Any]], Iterator[Reference]]] = {
    JOB: job_references,
    PIPELINE: pipeline_references,
}


def _names(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:MAX_NAMES])
    return shown + (f" and {len(names) - MAX_NAMES} more" if len(names) > MAX_NAMES else "")


def _runs(version: str, names: list[str], own: Reference | None) -> str:
    """e.g. "'pipeline-job' runs release '1.1.0'", and where the resource itself does too."""
    if not names:
        return f"its own {own.field if own else 'path'} is in release {version!r}"
    text = f"{_names(names)} {'runs' if len(names) == 1 else 'run'} release {version!r}"
    return text + (f", as does its own {own.field}" if own else "")


def _releases_used(resource: PolicyResource, config: Mapping[str, Any]) -> dict[str, Reference]:
    """Release -> the first field of `resource` pointing into it (paths outside the release
    folders are the released-code rules' concern)."""
    roots = {
        WORKSPACE: workspace_roots(setting(config, NOTEBOOK_ROOT)),
        LIBRARY: (setting(config, LIBRARY_ROOT),),
    }
    found: dict[str, Reference] = {}
    for ref in REFERENCES[resource.resource_type](resource.props):
        version = release_of(ref.value, roots[ref.kind]) if ref.kind in roots else None
        if version is not None:
            found.setdefault(version, ref)
    return found


def _one_release(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    config = args.get_config()
    runners = sorted(
        (r for r in args.resources if r.resource_type in REFERENCES), key=lambda r: r.name
    )
    used = [(r, _releases_used(r, config)) for r in runners]
    users: dict[str, list[str]] = {}
    for resource, releases in used:
        for version in releases:
            users.setdefault(version, []).append(resource.name)
    if len(users) <= 1:
        return
    # The release most of them run is the one the others were meant to follow; with a tie,
    # every one of them is reported.
    most = max(len(names) for names in users.values())
    leaders = [v for v, names in users.items() if len(names) == most]
    reference = leaders[0] if len(leaders) == 1 else None
    for resource, releases in used:
        for version, ref in sorted(releases.items()):
            if version == reference:
                continue
            others = " and ".join(
                _runs(other, [n for n in names if n != resource.name], releases.get(other))
                for other, names in sorted(users.items())
                if other != version
            )
            seen = redact_text(
                f"{resource_label(resource.resource_type, resource.name)}: {ref.field} is"
                f" {show(ref.value)}"
            )
            report_violation(
                f"{seen}, in release {version!r}, but {others}; every job and"
                " pipeline of a stack runs one release, the live one, so that one edit of"
                " `live` repoints them all (a copy pointing at another release keeps running"
                " it after a promotion or a rollback)",
                resource.urn,
            )


def _unique_names(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for type_, what, why in (
        (
            JOB,
            "job",
            "people, alerts and the provenance check (`jobs list --name`) find a job by it",
        ),
        (
            PIPELINE,
            "pipeline",
            "Databricks refuses a second pipeline of the same name at deploy, half-way through"
            " the update (unless allowDuplicateNames), and people tell pipelines apart by it",
        ),
    ):
        by_name: dict[str, list[PolicyResource]] = {}
        for resource in args.resources:
            if resource.resource_type != type_:
                continue
            name = get_or_computed(resource.props, "name")
            if isinstance(name, str):  # COMPUTED in a preview: not known yet
                by_name.setdefault(name, []).append(resource)
        for name, resources in sorted(by_name.items()):
            if len(resources) < 2:
                continue
            for resource in sorted(resources, key=lambda r: r.name):
                others = sorted(r.name for r in resources if r is not resource)
                report_violation(
                    f"{resource_label(resource.resource_type, resource.name)}: name is"
                    f" {name!r}, as is {what} {_names(others)}; {what} names are unique within"
                    f" a stack: {why} (give the copy its own name)",
                    resource.urn,
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
        name="jobs-and-pipelines-run-one-release",
        description="Every job and pipeline of a stack runs one and the same release: all their"
        " release paths lie in one releases/<version> folder.",
        validate=_one_release,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=config_schema(NOTEBOOK_ROOT, LIBRARY_ROOT),
    ),
    StackValidationPolicy(
        name="job-and-pipeline-names-unique",
        description="No two jobs, and no two pipelines, of a stack have the same name.",
        validate=_unique_names,
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
