"""Every Lakeflow Declarative Pipeline of the stack (`databricks.Pipeline`): running only what a
release published, as a service principal.

A pipeline runs its source (notebooks, files, folder globs) from the workspace at every update:
pointed into a home folder it runs whatever is there today, pointed at a glob over every release
it runs them all. A pipeline without `runAs` runs as its owner, with `runAs.userName` as a person.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .common import LIBRARY_ROOT, NOTEBOOK_ROOT, PIPELINE, resource_policy
from .jobs import released_code_problems, run_as_problems
from .references import pipeline_references


def _released_code(
    type_: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> Iterator[str]:
    yield from released_code_problems(type_, name, pipeline_references(props), config, "a pipeline")


def _runs_as_service_principal(
    type_: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> Iterator[str]:
    yield from run_as_problems(type_, name, props, "a pipeline")


POLICIES = [
    resource_policy(
        "pipeline-runs-as-service-principal",
        "Pipelines run as a service principal.",
        [PIPELINE],
        _runs_as_service_principal,
    ),
    resource_policy(
        "pipeline-runs-released-code",
        "Pipelines run notebooks and files (and install libraries) from the stack's release"
        " folders only: libraries, globs and root path inside one release folder.",
        [PIPELINE],
        _released_code,
        settings=[NOTEBOOK_ROOT, LIBRARY_ROOT],
    ),
]
