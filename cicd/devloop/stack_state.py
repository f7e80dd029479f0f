"""The one-off state step for stacks deployed before the stack stopped owning the dev work.

Those stacks' state still holds every engineer's notebooks, workspace files and library
uploads (children of a `DevEnvironment`). The program no longer declares them, so a plain
`pulumi up` would delete them from the workspace: the engineers' notebooks included. Marking
them `retainOnDelete` in the state first makes that `pulumi up` drop them from the state only:
the engine skips the provider's delete for a resource whose old state says so
(pulumi/pulumi pkg/resource/deploy/step.go, DeleteStep.Apply). Nothing else is touched.
"""

from __future__ import annotations

from typing import Any

DEV_ENVIRONMENT = "databricks-cicd:dev_environment:DevEnvironment"
# What the program used to register inside an engineer's environment: their notebooks and files
# (`publish_notebooks`) and their library uploads (`upload_library`).
DEV_WORK_TYPES = frozenset(
    {
        "databricks:index/notebook:Notebook",
        "databricks:index/workspaceFile:WorkspaceFile",
        "databricks:index/file:File",
        "databricks:index/dbfsFile:DbfsFile",
    }
)


def _type_of(urn: str) -> str:
    """A URN's own type: the last of its `$`-separated type chain."""
    return urn.split("::")[2].rsplit("$", 1)[-1]


def dev_work_resources(export: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources of a `pulumi stack export` document that are an engineer's dev work."""
    resources = (export.get("deployment") or {}).get("resources") or []
    return [
        resource
        for resource in resources
        if resource.get("type") in DEV_WORK_TYPES
        and _type_of(str(resource.get("parent") or "::::")) == DEV_ENVIRONMENT
    ]


def mark_dev_work_retained(export: dict[str, Any]) -> list[str]:
    """Set `retainOnDelete` on every dev-work resource not yet marked; returns their URNs."""
    marked = []
    for resource in dev_work_resources(export):
        if not resource.get("retainOnDelete"):
            resource["retainOnDelete"] = True
            marked.append(str(resource["urn"]))
    return sorted(marked)
