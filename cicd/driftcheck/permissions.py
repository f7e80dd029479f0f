"""The direct grants on the production folder and on the job against what the program grants.

Each object has one authoritative Permissions resource in the program, so any direct grant it
does not declare was made by hand, and any it declares that is gone or at another level drifted.
Inherited entries (from a parent folder or the workspace root) and the built-in `admins` group
(which the service always lists and nobody can remove) are not the program's to set.
"""

from __future__ import annotations

from databricks.sdk import WorkspaceClient

from cicd.driftcheck.expected import ExpectedGrants
from cicd.driftcheck.findings import Finding

BUILT_IN_GROUPS = {"admins"}
SDK_KEYS = {
    "groupName": "group_name",
    "servicePrincipalName": "service_principal_name",
    "userName": "user_name",
}


def _direct_grants(
    client: WorkspaceClient, object_type: str, object_id: str
) -> dict[tuple[str, str], str]:
    acl = client.permissions.get(object_type, object_id).access_control_list or []
    grants: dict[tuple[str, str], str] = {}
    for entry in acl:
        principals = [(w, getattr(entry, a, None)) for w, a in SDK_KEYS.items()]
        named = [(wire, str(who)) for wire, who in principals if who]
        if not named:
            continue
        wire, principal = named[0]
        if wire == "groupName" and principal in BUILT_IN_GROUPS:
            continue
        for permission in entry.all_permissions or []:
            if not permission.inherited and permission.permission_level is not None:
                grants[(wire, str(principal))] = permission.permission_level.value
    return grants


def check_permissions(
    client: WorkspaceClient, expected: ExpectedGrants, object_id: str | int | None
) -> list[Finding]:
    """`object_id`: the job's or pipeline's id in the workspace (unused for a folder)."""
    if expected.object_kind == "directory":
        assert expected.directory_path is not None
        status = client.workspace.get_status(expected.directory_path)
        where = f"folder {expected.directory_path}"
        actual = _direct_grants(client, "directories", str(status.object_id))
    else:
        kind = expected.object_kind
        where = f"{kind} {expected.object_key} ({object_id})"
        actual = _direct_grants(client, f"{kind}s", str(object_id))
    findings = []
    for key in sorted(set(expected.grants) | set(actual)):
        kind, principal = key
        label = f"{where}: {kind} {principal}"
        wanted, have = expected.grants.get(key), actual.get(key)
        if wanted == have:
            continue
        if wanted is None:
            findings.append(
                Finding("permissions", "granted-by-hand", label, None, have, have or "")
            )
        elif have is None:
            findings.append(
                Finding("permissions", "not-granted", label, wanted, None, f"{wanted} is gone")
            )
        else:
            findings.append(Finding("permissions", "differs", label, wanted, have))
    return findings
