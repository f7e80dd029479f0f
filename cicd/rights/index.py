"""A stack's evaluation indexed for the rights derivation: the identities it names (by role),
a label for each object ("job etl-pipeline-prod", "folder /Production/etl-pipeline"), what its
Permissions, Grants and Grant resources grant (`program_grants`), and `need()`, which sources a
needed right from those grants, the object's ownership or an admin's one-time grant."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cicd.config import StackConfig
from cicd.evaluation import Evaluation, Registration
from cicd.permission_levels import RANK
from cicd.rights import reasons
from cicd.rights.model import Right, Role, Source

T = "databricks:index/"
DIRECTORY = T + "directory:Directory"
NOTEBOOK = T + "notebook:Notebook"
WORKSPACE_FILE = T + "workspaceFile:WorkspaceFile"
VOLUME_FILE = T + "file:File"
DBFS_FILE = T + "dbfsFile:DbfsFile"
JOB = T + "job:Job"
PIPELINE = T + "pipeline:Pipeline"
CLUSTER = T + "cluster:Cluster"
POLICY = T + "clusterPolicy:ClusterPolicy"
PERMISSIONS = T + "permissions:Permissions"
VOLUME = T + "volume:Volume"
GRANTS = T + "grants:Grants"
GRANT = T + "grant:Grant"
# A Permissions resource's input naming its object, and that object's kind.
PERMISSION_TARGETS = {
    "directoryPath": "folder",
    "jobId": "job",
    "pipelineId": "pipeline",
    "clusterId": "cluster",
    "clusterPolicyId": "cluster policy",
    "notebookPath": "folder",
    "workspaceFilePath": "folder",
}
PRINCIPAL_KEYS = ("servicePrincipalName", "userName", "groupName")
UP = "pulumi up"
REFRESH = "pulumi preview --refresh, cicd.drift"


def rank(level: str) -> int:
    return RANK.get(level, 0)


@dataclass
class StackIndex:
    """One evaluation, indexed the ways the derivation reads it."""

    config: StackConfig
    evaluation: Evaluation
    roles: dict[str, Role] = field(default_factory=dict)  # principal -> its first role
    labels: dict[str, str] = field(default_factory=dict)  # registration name -> target label
    folders: set[str] = field(default_factory=set)  # registered Directory paths
    volumes: set[str] = field(default_factory=set)  # registered volumes, catalog.schema.name
    # (target label, principal) -> (level or privilege set, granting resource)
    granted: dict[tuple[str, str], tuple[set[str], str]] = field(default_factory=dict)

    @property
    def deploy(self) -> str | None:
        return self.config.access.deploy_identity if self.config.access else None

    @property
    def reader(self) -> str | None:
        return self.config.access.read_only_identity if self.config.access else None


def label_of(registration: Registration) -> str | None:
    inputs = registration.inputs
    kind = registration.type
    if kind == JOB:
        return f"job {inputs.get('name')}"
    if kind == PIPELINE:
        return f"pipeline {inputs.get('name')}"
    if kind == CLUSTER:
        return f"cluster {inputs.get('clusterName')}"
    if kind == POLICY:
        return f"cluster policy {inputs.get('name')}"
    if kind == DIRECTORY:
        return f"folder {inputs.get('path')}"
    if kind == VOLUME:
        return f"volume {inputs.get('catalogName')}.{inputs.get('schemaName')}.{inputs.get('name')}"
    return None


def volume_of(path: str) -> str | None:
    parts = path.split("/")
    if len(parts) > 4 and parts[1] == "Volumes":
        return ".".join(parts[2:5])
    return None


def principal_of(control: dict[str, Any]) -> str | None:
    return next((str(control[k]) for k in PRINCIPAL_KEYS if control.get(k)), None)


def run_as_of(registration: Registration) -> str | None:
    run_as = registration.inputs.get("runAs") or {}
    return run_as.get("servicePrincipalName") or run_as.get("userName")


def index_stack(config: StackConfig, evaluation: Evaluation) -> StackIndex:
    stack = StackIndex(config, evaluation)
    access = config.access
    named: list[tuple[str | None, Role]] = []
    if access:
        named += [
            (access.deploy_identity, Role.DEPLOY),
            (access.read_only_identity, Role.READ_ONLY),
        ]
    named += [(run_as_of(r), Role.RUN_AS) for r in evaluation.of_type(JOB)]
    named += [(run_as_of(r), Role.RUN_AS) for r in evaluation.of_type(PIPELINE)]
    if access:
        named += [(access.operators_group, Role.OPERATORS), (access.run_reader, Role.RUN_READER)]
        named.append((access.admin_group, Role.ADMIN_GROUP))
    if config.developers:
        named.append((config.developers.admin_group, Role.ADMIN_GROUP))
        named += [(e.user, Role.ENGINEER) for e in config.developers.by_slug()]
    for principal, role in named:
        if principal:
            stack.roles.setdefault(principal, role)
    for registration in evaluation.resources.values():
        label = label_of(registration)
        if label:
            stack.labels[registration.name] = label
        if registration.type == DIRECTORY:
            stack.folders.add(str(registration.inputs["path"]))
        if registration.type == VOLUME:
            stack.volumes.add(label.removeprefix("volume ") if label else "")
    return stack


def permission_target(stack: StackIndex, registration: Registration) -> tuple[str, str]:
    """The (kind, label) of the object a Permissions resource governs."""
    inputs = registration.inputs
    key = next(k for k in PERMISSION_TARGETS if inputs.get(k) is not None)
    kind = PERMISSION_TARGETS[key]
    if key in ("directoryPath", "notebookPath", "workspaceFilePath"):
        return kind, f"folder {inputs[key]}"
    for dependency in registration.dependencies:
        label = stack.labels.get(dependency)
        if label and label.startswith(kind + " "):
            return kind, label
    return kind, f"{kind} {inputs[key]}"


def program_grants(stack: StackIndex) -> Iterator[Right]:
    """What the program's Permissions, Grants and Grant resources give each named identity."""
    for registration in stack.evaluation.of_type(PERMISSIONS):
        kind, target = permission_target(stack, registration)
        for control in registration.inputs.get("accessControls") or []:
            principal, level = principal_of(control), str(control["permissionLevel"])
            if principal is None:
                continue
            stack.granted[(target, principal)] = ({level}, registration.name)
            role = stack.roles.get(principal)
            if role is not None:
                why = reasons.LEVELS.get(kind, {}).get(level, level)
                yield Right(
                    role,
                    principal,
                    target,
                    level,
                    why,
                    Source.PROGRAM,
                    use_of(role),
                    registration.name,
                )
    for registration in stack.evaluation.of_type(GRANTS) + stack.evaluation.of_type(GRANT):
        inputs = registration.inputs
        target = securable_of(inputs)
        entries = inputs.get("grants") or [inputs]
        for entry in entries:
            principal = str(entry.get("principal"))
            privileges = {str(p) for p in entry.get("privileges") or []}
            held, _ = stack.granted.get((target, principal), (set(), ""))
            stack.granted[(target, principal)] = (held | privileges, registration.name)
            role = stack.roles.get(principal)
            if role is None:
                continue
            for privilege in sorted(privileges):
                yield Right(
                    role,
                    principal,
                    target,
                    privilege,
                    reasons.PRIVILEGES.get(privilege, privilege),
                    Source.PROGRAM,
                    use_of(role),
                    registration.name,
                )


def securable_of(inputs: dict[str, Any]) -> str:
    for key in ("volume", "schema", "catalog"):
        if inputs.get(key):
            return f"{key} {inputs[key]}"
    return "unknown securable"


def use_of(role: Role) -> str:
    return {
        Role.DEPLOY: UP,
        Role.READ_ONLY: REFRESH,
        Role.RUN_AS: "job and pipeline runs",
        Role.OPERATORS: "people on call: run and cancel",
        Role.RUN_READER: "cicd.promote and cicd.gate provenance",
        Role.ADMIN_GROUP: "people: administration",
        Role.ENGINEER: "cicd.dev, their cluster",
    }[role]


def granting(stack: StackIndex, target: str, principal: str, right: str) -> str | None:
    """The resource granting `principal` at least `right` on `target` (a folder's grant reaches
    every folder below it), or None."""
    candidates = [target]
    if target.startswith("folder "):
        path = target.removeprefix("folder ")
        while path not in ("/", ""):
            path = posixpath.dirname(path)
            candidates.append(f"folder {path}")
    for candidate in candidates:
        held, via = stack.granted.get((candidate, principal), (set(), ""))
        if right in held or any(rank(h) >= rank(right) > 0 for h in held):
            return via
    return None


def folder_of(stack: StackIndex, path: str) -> str:
    """The folder whose grants reach `path`: the nearest registered folder, else the workspace
    root for a path under it, else the path's own folder."""
    current = path
    while current not in ("/", ""):
        current = posixpath.dirname(current)
        if current in stack.folders:
            return current
    root = stack.config.workspace_root
    return root if path.startswith(root + "/") else posixpath.dirname(path)


def owned(stack: StackIndex, target: str) -> bool:
    """Whether the program registers the object itself (so only it can grant on it)."""
    kind, _, name = target.partition(" ")
    if kind == "folder":
        return any(name == f or name.startswith(f + "/") for f in stack.folders)
    if kind == "volume":
        return name in stack.volumes
    return target in stack.labels.values()


def need(
    stack: StackIndex,
    role: Role,
    principal: str,
    target: str,
    right: str,
    why: str,
    used_by: str,
    otherwise: Source,
    note: str = "",
) -> Right:
    """A needed right, sourced from the program when one of its resources grants it."""
    via = granting(stack, target, principal, right)
    if via is not None:
        return Right(role, principal, target, right, why, Source.PROGRAM, used_by, via)
    if target.startswith("folder /Shared") and otherwise is not Source.NOT_READ_ONLY:
        return Right(role, principal, target, right, reasons.SHARED, Source.BUILT_IN, used_by)
    if otherwise is Source.ADMIN_ONCE and owned(stack, target):
        # The deploy identity creates what the program registers, and owns it; anyone else
        # holds a right on it only if the program grants it.
        if role is Role.DEPLOY:
            return Right(role, principal, target, right, reasons.CREATOR, Source.CREATOR, used_by)
        otherwise = Source.MISSING
    return Right(role, principal, target, right, why, otherwise, used_by, note)


def volume_rights(
    stack: StackIndex, role: Role, who: str, volume: str, privileges: tuple[str, ...], used_by: str
) -> Iterator[Right]:
    catalog, schema, _ = volume.split(".")
    owner = role is Role.DEPLOY and volume in stack.volumes
    for privilege in privileges:
        why = reasons.PRIVILEGES[privilege]
        if owner:
            yield Right(
                role,
                who,
                f"volume {volume}",
                privilege,
                reasons.CREATOR.replace("CAN_MANAGE (IS_OWNER for a job)", "every privilege"),
                Source.CREATOR,
                used_by,
            )
        else:
            yield need(
                stack, role, who, f"volume {volume}", privilege, why, used_by, Source.ADMIN_ONCE
            )
    yield from parents(stack, role, who, catalog, schema, used_by)


def parents(
    stack: StackIndex, role: Role, who: str, catalog: str, schema: str, used_by: str
) -> Iterator[Right]:
    """USE CATALOG and USE SCHEMA: without them Unity Catalog lets nobody reach an object."""
    for target, privilege in (
        (f"catalog {catalog}", "USE_CATALOG"),
        (f"schema {catalog}.{schema}", "USE_SCHEMA"),
    ):
        why = reasons.PRIVILEGES[privilege]
        yield need(stack, role, who, target, privilege, why, used_by, Source.ADMIN_ONCE)
