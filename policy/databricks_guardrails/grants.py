"""Grants (`databricks.Permissions`): the all-users group may only look; in production, no person
manages anything.

A `Permissions` resource is authoritative for its object, so one wrong entry is the whole truth:
`users` with CAN_MANAGE on the production folder lets every workspace user edit what the job runs;
a person with CAN_MANAGE on a production job can change it outside code review.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy.proxy import UnknownValueError

from .common import PERMISSIONS, PRODUCTION, get, items, resource_policy, setting, violation

ALL_USERS = "users"
# The view levels: CAN_READ on folders, notebooks and files; CAN_VIEW on jobs and others.
VIEW_LEVELS = {"CAN_READ", "CAN_VIEW"}
MANAGE_LEVELS = {"CAN_MANAGE", "IS_OWNER"}
# The input naming the object a Permissions resource governs.
OBJECT_KEYS = (
    "directoryPath",
    "directoryId",
    "notebookPath",
    "notebookId",
    "workspaceFilePath",
    "workspaceFileId",
    "jobId",
    "clusterId",
    "clusterPolicyId",
    "pipelineId",
    "sqlEndpointId",
    "registeredModelId",
    "servingEndpointId",
)


def governed_object(props: Mapping[str, Any]) -> str:
    """e.g. "directoryPath '/Production/etl-pipeline'", or "jobId (known after deploy)"."""
    for key in OBJECT_KEYS:
        if key in set(iter(props)):
            try:
                return f"{key} {get(props, key)!r}"
            except UnknownValueError:
                return f"{key} (known after deploy)"
    return "an object"


def _all_users_view_only(
    type_: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> Iterator[str]:
    for i, grant in items(get(props, "accessControls")):
        level = get(grant, "permissionLevel")
        if get(grant, "groupName") == ALL_USERS and level not in VIEW_LEVELS:
            yield violation(
                type_,
                name,
                f"accessControls[{i}].permissionLevel (groupName 'users', {governed_object(props)})",
                level,
                "the all-users group may be granted view (CAN_READ or CAN_VIEW) at most: every"
                " workspace user would otherwise run, attach to or edit the object",
            )


def _no_person_manages_production(
    type_: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> Iterator[str]:
    if not setting(config, PRODUCTION):
        return
    for i, grant in items(get(props, "accessControls")):
        level = get(grant, "permissionLevel")
        user = get(grant, "userName")
        if user and level in MANAGE_LEVELS:
            yield violation(
                type_,
                name,
                f"accessControls[{i}].permissionLevel (userName {user!r}, {governed_object(props)})",
                level,
                "in production no individual person holds CAN_MANAGE (or IS_OWNER): grant it to"
                " the admin group or the deploy identity, so changes go through code review",
            )


POLICIES = [
    resource_policy(
        "all-users-view-only",
        "The all-users group is granted nothing above view.",
        [PERMISSIONS],
        _all_users_view_only,
    ),
    resource_policy(
        "no-person-manages-production",
        "No individual person holds CAN_MANAGE on a production object.",
        [PERMISSIONS],
        _no_person_manages_production,
        settings=[PRODUCTION],
    ),
]
