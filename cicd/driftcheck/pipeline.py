"""The Lakeflow pipelines in the workspace against the pipelines the program registers.

A pipeline is found by its name (as a job is) and its spec (`pipelines.get`) compared with the
Pipeline's inputs in the Pipelines API's names, with the same rules as a job's settings
(`cicd.driftcheck.job.compare`): maps the program owns whole key by key, other lists as sets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from databricks.sdk import WorkspaceClient

from cicd.driftcheck.findings import Finding
from cicd.driftcheck.job import JobNotFound, api_settings, compare


def find_pipeline(client: WorkspaceClient, name: str) -> str:
    """The id of the one pipeline named `name`, or JobNotFound saying what to do."""
    quoted = name.replace("'", "''")
    matches = [
        p.pipeline_id
        for p in client.pipelines.list_pipelines(filter=f"name LIKE '{quoted}'")
        if p.name == name and p.pipeline_id
    ]
    if len(matches) != 1:
        found = "no pipeline" if not matches else f"{len(matches)} pipelines ({', '.join(matches)})"
        raise JobNotFound(
            f"{found} named {name!r} in this workspace: the pipeline was renamed, deleted or"
            " duplicated by hand, or the identity lacks CAN_VIEW on it; `pulumi up --refresh`"
            " puts back what the program declares"
        )
    return str(matches[0])


def check_pipeline(
    client: WorkspaceClient, key: str, inputs: Mapping[str, Any], pipeline_id: str
) -> list[Finding]:
    """Compare pipeline `key`'s spec with what the program registers."""
    expected = api_settings(dict(inputs))
    pipeline = client.pipelines.get(pipeline_id)
    actual = pipeline.spec.as_dict() if pipeline.spec else {}
    if (
        "run_as" not in actual
        and pipeline.run_as_user_name
        and isinstance(expected.get("run_as"), dict)
    ):
        # As for jobs: the service reports who a pipeline runs as beside its spec.
        principal_key = next(iter(expected["run_as"]), "user_name")
        actual["run_as"] = {principal_key: pipeline.run_as_user_name}
    findings: list[Finding] = []
    compare(
        expected, actual, "", f"pipeline {key} {expected.get('name')} (id {pipeline_id})", findings
    )
    return findings
