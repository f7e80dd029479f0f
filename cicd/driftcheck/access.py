"""Who can reach what the stack owns beyond what the program grants.

Two checks of the workspace as it is:
- **effective grants** (`check_inherited_grants`, on the permission list the check reads once
  per object, `cicd.driftcheck.acl`, for `cicd.driftcheck.permissions` too): the program's Permissions resource on an
  object is authoritative for its *direct* grants only (`cicd.driftcheck.permissions`); the
  service adds every grant of the parent folders (a `CAN_MANAGE` for `users` on `/Production`
  reaches every release below it) and lists them as `inherited`, naming where they come from.
  Any inherited grant above what the program grants that principal is reported; the built-in
  `admins` group (which holds everything, and which nobody can remove) is not.
- **engineers' escape routes** (`check_engineers`): a dev cluster's caps hold only while the
  cluster runs under its engineer's own policy, and an engineer with `CAN_MANAGE` on it may move
  it to any other policy they can use (Personal Compute is granted to all users by default).
  Reported: every other cluster policy an engineer can use (granted to them, to `users`, or to a
  group they are a member of), and every cluster of theirs (created by them, single-user for
  them, tagged `Owner` = them, or named as their dev cluster) that is not under their policy.

Rights: reading an object's permission list needs `CAN_MANAGE` on it (Databricks' own CLI test
server answers a job's without it with 403 "does not have Manage permissions on Job"); policies
and clusters an identity holds no permission on are invisible to it (`cluster-policies/list`
returns the policies accessible by the caller). An identity that cannot see everything gets an
`unchecked` finding saying what it could not read, never a silent pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors.platform import PermissionDenied

from cicd.config import (
    ConfigError,
    Developers,
    DevEngineer,
    dev_cluster_name,
    namespace_values,
    parse_stack_config,
)
from cicd.driftcheck.acl import BUILT_IN_ADMINS, Entry, acl_entries, object_label
from cicd.driftcheck.expected import DriftSetupError, ExpectedGrants
from cicd.driftcheck.findings import Finding
from cicd.permission_levels import RANK

# Every workspace user is a member of `users`; its member list is never read.
ALL_USERS = "users"
ENGINEERS = "engineers"
# Clusters the service starts for a job run, a pipeline or a SQL warehouse are not the engineer's
# all-purpose compute, which is what the dev policy holds (its `cluster_type` is all-purpose).
NOT_ALL_PURPOSE = {"JOB", "PIPELINE", "PIPELINE_MAINTENANCE", "SQL", "MODELS"}


def check_inherited_grants(
    expected: ExpectedGrants, entries: Sequence[Entry], object_id: str | int | None
) -> list[Finding]:
    """Inherited grants on the object of one program Permissions resource (a folder, a job or a
    pipeline: `object_id` is the job's or pipeline's id; `entries` its permission list,
    `cicd.driftcheck.acl`) that reach further than the program lets that principal go."""
    where = object_label(expected, object_id)
    findings = []
    for entry in entries:
        if not entry.inherited or entry.built_in_admins:
            continue
        granted = expected.grants.get((entry.kind, entry.principal))
        if granted is not None and RANK.get(entry.level, 4) <= RANK.get(granted, 0):
            continue
        source = ", ".join(entry.inherited_from)
        findings.append(
            Finding(
                "permissions",
                "inherited",
                f"{where}: {entry.kind} {entry.principal}",
                granted,
                entry.level,
                f"{entry.level} inherited from {source}; the program grants"
                f" {granted or 'nothing'}: remove the grant there, or move the folder out from"
                " under it",
            )
        )
    return findings


def unreadable_grants(expected: ExpectedGrants, object_id: str | int | None) -> Finding:
    """The finding for grants the checking identity may not read: never a silent pass."""
    return Finding(
        "permissions",
        "unchecked",
        object_label(expected, object_id),
        detail="the checking identity may not read its grants: reading an object's permissions"
        " needs CAN_MANAGE on it, which a read-only identity does not hold (docs/identities.md)",
    )


@dataclass(frozen=True)
class EngineerScope:
    """The engineers of a stack and the names their dev clusters and policies carry."""

    developers: Developers
    pipeline_name: str

    def own_policy_name(self, engineer: DevEngineer) -> str:
        return dev_cluster_name(self.pipeline_name, engineer.slug)


def engineer_scope(config_map: Mapping[str, str]) -> EngineerScope | None:
    """The stack's engineers from its whole config (the drift check's expected state leaves the
    developers key out); None when the stack has none."""
    try:
        config = parse_stack_config(namespace_values(config_map))
    except ConfigError as exc:  # the developers key, which the expected state leaves out
        raise DriftSetupError(str(exc)) from None
    if config.developers is None or not config.developers.engineers:
        return None
    return EngineerScope(config.developers, config.pipeline_name)


@dataclass
class _Directory:
    """Who is a member of which group, read once per group (SCIM), and who is who."""

    client: WorkspaceClient
    members: dict[str, set[str]] = field(default_factory=dict)  # group -> member ids
    ids: dict[str, str | None] = field(default_factory=dict)  # engineer -> SCIM id

    def principal_id(self, engineer: DevEngineer) -> str | None:
        if engineer.user not in self.ids:
            if engineer.is_service_principal:
                ids = [
                    p.id
                    for p in self.client.service_principals.list(
                        filter=f'applicationId eq "{engineer.user}"'
                    )
                ]
            else:
                ids = [
                    u.id for u in self.client.users.list(filter=f'userName eq "{engineer.user}"')
                ]
            self.ids[engineer.user] = next((i for i in ids if i), None)
        return self.ids[engineer.user]

    def is_member(self, engineer: DevEngineer, group: str) -> bool:
        if group == ALL_USERS:
            return True
        if group not in self.members:
            groups = self.client.groups.list(filter=f'displayName eq "{group}"')
            self.members[group] = {
                str(member.value)
                for found in groups
                for member in found.members or []
                if member.value is not None
            }
        principal = self.principal_id(engineer)
        return principal is not None and principal in self.members[group]


def _can_use(directory: _Directory, engineer: DevEngineer, entries: Iterable[Entry]) -> str | None:
    """How `engineer` may use a policy with these grants (None: they may not)."""
    own_kind = "servicePrincipalName" if engineer.is_service_principal else "userName"
    for entry in entries:
        if entry.kind == own_kind and entry.principal.lower() == engineer.user.lower():
            return "granted to them"
        group = entry.kind == "groupName" and not entry.built_in_admins
        if group and directory.is_member(engineer, entry.principal):
            return f"granted to group {entry.principal}"
    return None


def _sees_everything(client: WorkspaceClient) -> bool:
    """Whether the checking identity is a workspace admin: only then do the policy and cluster
    lists hold every policy and cluster."""
    me = client.current_user.me()
    return any(group.display == BUILT_IN_ADMINS for group in me.groups or [])


def check_engineers(client: WorkspaceClient, scope: EngineerScope) -> list[Finding]:
    """Other policies each engineer can use, and their clusters not under their own policy."""
    engineers = scope.developers.by_slug()
    findings = []
    if not _sees_everything(client):
        findings.append(
            Finding(
                ENGINEERS,
                "unchecked",
                "cluster policies and clusters",
                detail="the checking identity is not a workspace admin, so it sees only the"
                " policies and clusters it holds a permission on: run this part with an admin"
                " identity (README, 'Identities')",
            )
        )
    policies = {p.policy_id: p for p in client.cluster_policies.list() if p.policy_id}
    own = {p.name: policy_id for policy_id, p in policies.items()}
    own_names = {scope.own_policy_name(e) for e in engineers}
    directory = _Directory(client)
    for policy_id, policy in sorted(policies.items(), key=lambda item: str(item[1].name)):
        if policy.name in own_names:
            continue
        label = f"cluster policy {policy.name} ({policy_id})"
        try:
            entries = acl_entries(client, "cluster-policies", policy_id)
        except PermissionDenied:
            findings.append(
                Finding(
                    ENGINEERS,
                    "unchecked",
                    label,
                    detail="its permissions cannot be read by the checking identity (reading"
                    " them needs CAN_MANAGE, i.e. workspace admin for a policy)",
                )
            )
            continue
        for engineer in engineers:
            how = _can_use(directory, engineer, entries)
            if how is None:
                continue
            findings.append(
                Finding(
                    ENGINEERS,
                    "other-policy",
                    f"{label}: {engineer.user}",
                    scope.own_policy_name(engineer),
                    policy.name,
                    f"usable by {engineer.user} ({how}); with CAN_MANAGE on their dev cluster"
                    " they can move it there and lift its caps: remove the grant, or keep"
                    " the engineer out of that group",
                )
            )
    for cluster in sorted(client.clusters.list(), key=lambda c: str(c.cluster_name)):
        source = cluster.cluster_source.value if cluster.cluster_source else None
        if source in NOT_ALL_PURPOSE:
            continue
        tags = cluster.custom_tags or {}
        for engineer in engineers:
            own_name = scope.own_policy_name(engineer)
            theirs = engineer.user.lower() in {
                str(cluster.creator_user_name or "").lower(),
                str(cluster.single_user_name or "").lower(),
                str(tags.get("Owner", "")).lower(),
            } or (cluster.cluster_name == own_name)
            if not theirs or (cluster.policy_id and cluster.policy_id == own.get(own_name)):
                continue
            under = policies.get(cluster.policy_id or "")
            now = under.name if under else (cluster.policy_id or "no policy")
            findings.append(
                Finding(
                    ENGINEERS,
                    "off-policy",
                    f"cluster {cluster.cluster_name} ({cluster.cluster_id}): {engineer.user}",
                    own_name,
                    now,
                    f"a cluster of {engineer.user} under {now}, not their own policy {own_name}:"
                    " the caps do not hold on it; `pulumi up --refresh` puts their dev cluster"
                    " back under its policy, any other cluster of theirs must be deleted",
                )
            )
    return findings
