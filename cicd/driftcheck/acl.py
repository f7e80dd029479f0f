"""One object's permission list as the service returns it: every entry, direct and inherited.

The drift check reads the list of each object the program grants on (the production folder, a
job, a pipeline) once, and both judgements are made from that one read: `permissions` compares
the direct entries with the program's grants, `access` the inherited ones with what the program
lets each principal do. Reading a list needs `CAN_MANAGE` on the object: a `PermissionDenied`
is the caller's to report (an `unchecked` finding, never a silent pass).
"""

from __future__ import annotations

from dataclasses import dataclass

from databricks.sdk import WorkspaceClient

from cicd.driftcheck.expected import ExpectedGrants

# The built-in group the service lists on every object, holding everything; nobody can remove it,
# so no judgement of grants counts it.
BUILT_IN_ADMINS = "admins"
PRINCIPAL_ATTRIBUTES = {
    "groupName": "group_name",
    "servicePrincipalName": "service_principal_name",
    "userName": "user_name",
}


@dataclass(frozen=True)
class Entry:
    """One principal's permission on an object, as the service lists it."""

    kind: str  # groupName | servicePrincipalName | userName
    principal: str
    level: str
    inherited_from: tuple[str, ...] = ()  # empty: a direct grant

    @property
    def inherited(self) -> bool:
        return bool(self.inherited_from)

    @property
    def built_in_admins(self) -> bool:
        return (self.kind, self.principal) == ("groupName", BUILT_IN_ADMINS)


def acl_entries(client: WorkspaceClient, object_type: str, object_id: str) -> list[Entry]:
    """Every entry of an object's permission list, direct and inherited (one request)."""
    entries = []
    for control in client.permissions.get(object_type, object_id).access_control_list or []:
        named = [
            (kind, str(who))
            for kind, attribute in PRINCIPAL_ATTRIBUTES.items()
            if (who := getattr(control, attribute, None))
        ]
        if not named:
            continue
        kind, principal = named[0]
        for permission in control.all_permissions or []:
            if permission.permission_level is None:
                continue
            sources = tuple(permission.inherited_from_object or ()) if permission.inherited else ()
            if permission.inherited and not sources:
                sources = ("a parent object",)
            entries.append(Entry(kind, principal, permission.permission_level.value, sources))
    return entries


def granted_entries(
    client: WorkspaceClient, expected: ExpectedGrants, object_id: str | int | None
) -> list[Entry]:
    """The permission list of the object of one program Permissions resource: a folder (found by
    its path: the Permissions API takes its object id) or the job or pipeline `object_id`."""
    if expected.object_kind == "directory":
        assert expected.directory_path is not None
        status = client.workspace.get_status(expected.directory_path)
        return acl_entries(client, "directories", str(status.object_id))
    return acl_entries(client, f"{expected.object_kind}s", str(object_id))


def object_label(expected: ExpectedGrants, object_id: str | int | None) -> str:
    """The object as the permission findings name it."""
    if expected.object_kind == "directory":
        return f"folder {expected.directory_path}"
    return f"{expected.object_kind} {expected.object_key} ({object_id})"
