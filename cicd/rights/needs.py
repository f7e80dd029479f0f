"""What each identity needs, per registered resource and per tool (`cicd.rights.derive`):
the deploy identity for `pulumi up`, the read-only identity for a refresh and `cicd.drift`, each
job's run identity for its runs, and the tools' own calls."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import Any

from cicd.evaluation import Registration
from cicd.rights import reasons
from cicd.rights.index import (
    CLUSTER,
    DBFS_FILE,
    DIRECTORY,
    GRANT,
    GRANTS,
    JOB,
    NOTEBOOK,
    PERMISSIONS,
    PIPELINE,
    POLICY,
    REFRESH,
    UP,
    VOLUME,
    VOLUME_FILE,
    WORKSPACE_FILE,
    StackIndex,
    folder_of,
    need,
    owned,
    parents,
    permission_target,
    run_as_of,
    securable_of,
    volume_of,
    volume_rights,
)
from cicd.rights.model import Right, Role, Source


def _no_acl(role: Role, who: str, registration: Registration, used_by: str) -> Right:
    folder = posixpath.dirname(str(registration.inputs["path"]))
    return Right(role, who, f"DBFS {folder}", "—", reasons.DBFS, Source.BUILT_IN, used_by)


def _unknown(role: Role, who: str, registration: Registration, used_by: str) -> Right:
    """A resource type nothing here describes: MISSING, so that a test fails until it is."""
    why = "no rights are described for this resource type in cicd/rights"
    target = f"{registration.type} {registration.name}"
    return Right(role, who, target, "UNKNOWN", why, Source.MISSING, used_by)


def deploy_needs(stack: StackIndex) -> Iterator[Right]:
    """What `pulumi up` does with the deploy identity, per registered resource."""
    who = stack.deploy
    if who is None:
        return
    role = Role.DEPLOY

    def needed(target: str, right: str, why: str, otherwise: Source, note: str = "") -> Right:
        return need(stack, role, who, target, right, why, UP, otherwise, note)

    for registration in stack.evaluation.resources.values():
        kind, inputs = registration.type, registration.inputs
        if not registration.custom:
            continue
        if kind == DIRECTORY:
            path = str(inputs["path"])
            parts = path.split("/")
            if len(parts) > 3 and parts[1] == "Users":
                home = "/".join(parts[:3])
                yield needed(
                    f"folder {home}",
                    "CAN_MANAGE",
                    reasons.USERS_HOME,
                    Source.ADMIN_ONCE,
                    "workspace admins hold it on every home folder",
                )
            elif posixpath.dirname(path) not in stack.folders:
                yield needed(
                    f"folder {posixpath.dirname(path)}",
                    "CAN_MANAGE",
                    reasons.LEVELS["folder"]["CAN_MANAGE"],
                    Source.ADMIN_ONCE,
                    "grant it on the parent folder once",
                )
        elif kind in (NOTEBOOK, WORKSPACE_FILE):
            folder = folder_of(stack, str(inputs["path"]))
            source = Source.CREATOR if folder in stack.folders else Source.ADMIN_ONCE
            yield needed(
                f"folder {folder}", "CAN_MANAGE", reasons.LEVELS["folder"]["CAN_MANAGE"], source
            )
        elif kind == VOLUME_FILE:
            volume = volume_of(str(inputs["path"]))
            if volume:
                yield from volume_rights(
                    stack, role, who, volume, ("READ_VOLUME", "WRITE_VOLUME"), UP
                )
        elif kind == VOLUME:
            catalog, schema = inputs["catalogName"], inputs["schemaName"]
            yield needed(
                f"schema {catalog}.{schema}",
                "CREATE_VOLUME",
                reasons.PRIVILEGES["CREATE_VOLUME"],
                Source.ADMIN_ONCE,
            )
            yield from parents(stack, role, who, catalog, schema, UP)
        elif kind in (GRANTS, GRANT):
            target = securable_of(inputs)
            volume = target.removeprefix("volume ")
            if not (target.startswith("volume ") and volume in stack.volumes):
                yield needed(target, "MANAGE", reasons.PRIVILEGES["MANAGE"], Source.ADMIN_ONCE)
        elif kind == DBFS_FILE:
            yield _no_acl(role, who, registration, UP)
        elif kind in (JOB, PIPELINE):
            label = stack.labels[registration.name]
            yield Right(role, who, label, "IS_OWNER", reasons.CREATOR, Source.CREATOR, UP)
            run_as = run_as_of(registration)
            if run_as and run_as != who:
                yield Right(
                    role,
                    who,
                    f"service principal {run_as}",
                    "Service Principal User",
                    reasons.SP_USER,
                    Source.ACCOUNT_ADMIN_ONCE,
                    UP,
                )
            if kind == PIPELINE:
                yield from _pipeline_target(stack, registration, run_as or who)
        elif kind in (CLUSTER, POLICY):
            why = reasons.POLICY_ADMIN if kind == POLICY else reasons.PIN_ADMIN
            yield Right(role, who, "workspace", "workspace admin", why, Source.ADMIN_ONCE, UP)
        elif kind == PERMISSIONS:
            object_kind, target = permission_target(stack, registration)
            if object_kind == "cluster policy":
                continue  # workspace admin, above
            level = "IS_OWNER" if object_kind in ("job", "pipeline") else "CAN_MANAGE"
            source = Source.CREATOR if owned(stack, target) else Source.ADMIN_ONCE
            yield needed(target, level, reasons.LEVELS[object_kind].get(level, level), source)
        else:
            yield _unknown(role, who, registration, UP)


def _pipeline_target(stack: StackIndex, registration: Registration, runner: str) -> Iterator[Right]:
    """A Unity Catalog pipeline writes its tables into its catalog and schema as its owner (or
    run-as identity)."""
    inputs = registration.inputs
    catalog, schema = inputs.get("catalog"), inputs.get("schema") or inputs.get("target")
    if not (catalog and schema):
        return
    role = stack.roles.get(runner, Role.DEPLOY)
    use = f"updates of {stack.labels[registration.name]}"
    yield need(
        stack,
        role,
        runner,
        f"catalog {catalog}",
        "USE_CATALOG",
        reasons.PRIVILEGES["USE_CATALOG"],
        use,
        Source.ADMIN_ONCE,
    )
    for privilege in ("USE_SCHEMA", "CREATE_TABLE", "CREATE_MATERIALIZED_VIEW"):
        yield need(
            stack,
            role,
            runner,
            f"schema {catalog}.{schema}",
            privilege,
            reasons.PRIVILEGES[privilege],
            use,
            Source.ADMIN_ONCE,
        )


def reader_needs(stack: StackIndex) -> Iterator[Right]:
    """What a refresh of every registered resource reads, for the read-only identity."""
    who = stack.reader
    if who is None:
        return
    role = Role.READ_ONLY

    def needed(target: str, right: str, why: str, otherwise: Source) -> Right:
        return need(stack, role, who, target, right, why, REFRESH, otherwise)

    for registration in stack.evaluation.resources.values():
        kind, inputs = registration.type, registration.inputs
        if not registration.custom:
            continue
        if kind == DIRECTORY:
            yield needed(
                f"folder {inputs['path']}",
                "CAN_READ",
                reasons.LEVELS["folder"]["CAN_READ"],
                Source.ADMIN_ONCE,
            )
        elif kind in (NOTEBOOK, WORKSPACE_FILE):
            folder = folder_of(stack, str(inputs["path"]))
            yield needed(
                f"folder {folder}",
                "CAN_READ",
                reasons.LEVELS["folder"]["CAN_READ"],
                Source.ADMIN_ONCE,
            )
        elif kind in (VOLUME_FILE, VOLUME):
            volume = (
                volume_of(str(inputs["path"]))
                if kind == VOLUME_FILE
                else (stack.labels[registration.name].removeprefix("volume "))
            )
            if volume:
                yield from volume_rights(stack, role, who, volume, ("READ_VOLUME",), REFRESH)
        elif kind in (JOB, PIPELINE, CLUSTER):
            object_kind = {JOB: "job", PIPELINE: "pipeline", CLUSTER: "cluster"}[kind]
            level = "CAN_ATTACH_TO" if kind == CLUSTER else "CAN_VIEW"
            yield needed(
                stack.labels[registration.name],
                level,
                reasons.LEVELS[object_kind][level],
                Source.ADMIN_ONCE,
            )
        elif kind == POLICY:
            yield Right(
                role,
                who,
                stack.labels[registration.name],
                "CAN_USE",
                reasons.READ_POLICY,
                Source.NOT_READ_ONLY,
                REFRESH,
                "preview without refreshing it",
            )
        elif kind == PERMISSIONS:
            _, target = permission_target(stack, registration)
            yield Right(
                role,
                who,
                f"permissions of {target}",
                "CAN_MANAGE",
                reasons.READ_PERMISSIONS,
                Source.NOT_READ_ONLY,
                REFRESH,
                "preview without refreshing it",
            )
        elif kind in (GRANTS, GRANT):
            yield Right(
                role,
                who,
                f"grants on {securable_of(inputs)}",
                "MANAGE",
                reasons.READ_UC_GRANTS,
                Source.NOT_READ_ONLY,
                REFRESH,
                "preview without refreshing it",
            )
        elif kind == DBFS_FILE:
            yield _no_acl(role, who, registration, REFRESH)
        else:
            yield _unknown(role, who, registration, REFRESH)


def _tasks(job: Registration) -> Iterator[dict[str, Any]]:
    """Every task of a job, the inner task of each for-each included."""
    for task in job.inputs.get("tasks") or []:
        yield task
        inner = (task.get("forEachTask") or {}).get("task")
        if inner:
            yield inner


def _task_paths(job: Registration) -> Iterator[tuple[str, str]]:
    """(kind, path) of every notebook, file and library a job's tasks use, and (kind, "") for a
    task that starts a pipeline update or another job's run."""
    for task in _tasks(job):
        for key, field in (
            ("notebookTask", "notebookPath"),
            ("sparkPythonTask", "pythonFile"),
            ("sqlTask", "file"),
        ):
            path = (task.get(key) or {}).get(field)
            if isinstance(path, dict):  # sqlTask.file is {"path": ...}
                path = path.get("path")
            if path:
                # Files are addressed as /Workspace/<path>; their folder's grants are the same.
                yield "notebook", str(path).removeprefix("/Workspace")
        for library in task.get("libraries") or []:
            for key in ("whl", "jar", "requirements"):
                if library.get(key):
                    yield "library", str(library[key])
        warehouse = (task.get("sqlTask") or {}).get("warehouseId")
        if warehouse:
            yield "warehouse", str(warehouse)
        if task.get("pipelineTask"):
            yield "pipeline", ""
        if task.get("runJobTask"):
            yield "job", ""
    for environment in job.inputs.get("environments") or []:
        for dependency in (environment.get("spec") or {}).get("dependencies") or []:
            yield "library", str(dependency)


def run_identity_needs(stack: StackIndex) -> Iterator[Right]:
    """Each job's run identity reads its notebooks and libraries, starts the pipeline updates
    and runs the jobs its tasks start; each pipeline's reads its source."""
    for job in stack.evaluation.of_type(JOB):
        runner = run_as_of(job) or stack.deploy
        if runner is None:
            continue
        role = stack.roles.get(runner, Role.RUN_AS)
        use = f"runs of {stack.labels[job.name]}"
        for kind, path in sorted(set(_task_paths(job))):
            if kind == "notebook" and path.startswith("/"):
                why = reasons.LEVELS["folder"]["CAN_RUN"]
                target = f"folder {folder_of(stack, path)}"
                yield need(stack, role, runner, target, "CAN_RUN", why, use, Source.ADMIN_ONCE)
            volume = volume_of(path)
            if kind == "library" and volume:
                yield from volume_rights(stack, role, runner, volume, ("READ_VOLUME",), use)
            if kind == "warehouse":
                why = "run the task's queries on the SQL warehouse (SQL warehouse ACL: CAN USE)"
                target = f"SQL warehouse {path}"
                yield need(stack, role, runner, target, "CAN_USE", why, use, Source.ADMIN_ONCE)
            if kind in ("pipeline", "job"):
                # The task's target is among the job's dependencies (its id is an output).
                level = "CAN_RUN" if kind == "pipeline" else "CAN_MANAGE_RUN"
                for dependency in job.dependencies:
                    target = stack.labels.get(dependency, "")
                    if target.startswith(kind + " ") and target != stack.labels[job.name]:
                        why = reasons.LEVELS[kind][level] + ": a task of this job starts it"
                        yield need(stack, role, runner, target, level, why, use, Source.ADMIN_ONCE)
    for pipeline in stack.evaluation.of_type(PIPELINE):
        runner = run_as_of(pipeline) or stack.deploy
        if runner is None:
            continue
        role = stack.roles.get(runner, Role.RUN_AS)
        use = f"updates of {stack.labels[pipeline.name]}"
        for path in _pipeline_sources(pipeline):
            why = reasons.LEVELS["folder"]["CAN_READ"] + ": the pipeline reads its source"
            target = f"folder {folder_of(stack, path)}"
            yield need(stack, role, runner, target, "CAN_READ", why, use, Source.ADMIN_ONCE)
        for dependency in (pipeline.inputs.get("environment") or {}).get("dependencies") or []:
            volume = volume_of(str(dependency))
            if volume:
                yield from volume_rights(stack, role, runner, volume, ("READ_VOLUME",), use)


def _pipeline_sources(pipeline: Registration) -> list[str]:
    """Workspace paths of a pipeline's notebooks, files and globs (without /Workspace)."""
    paths = []
    for library in pipeline.inputs.get("libraries") or []:
        for key, field in (("notebook", "path"), ("file", "path"), ("glob", "include")):
            path = (library.get(key) or {}).get(field)
            if path:
                paths.append(str(path).removeprefix("/Workspace").split("/**")[0] + "/x")
    return sorted(set(paths))


def tool_needs(stack: StackIndex, production: bool) -> Iterator[Right]:
    """What the project's tools call, with whose credentials."""
    access = stack.config.access
    jobs = [stack.labels[j.name] for j in stack.evaluation.of_type(JOB)]
    if stack.deploy:
        for job in jobs:
            yield need(
                stack,
                Role.DEPLOY,
                stack.deploy,
                job,
                "CAN_MANAGE_RUN",
                reasons.LEVELS["job"]["CAN_MANAGE_RUN"],
                "cicd.run_job (run now, read the run and its output, cancel)",
                Source.ADMIN_ONCE,
            )
            if production:
                yield need(
                    stack,
                    Role.DEPLOY,
                    stack.deploy,
                    job,
                    "IS_OWNER",
                    "cicd.gate reads the job's grants (jobs/get-permissions needs CAN_MANAGE or"
                    " IS_OWNER) to copy them onto the candidate's one-time run",
                    "cicd.gate",
                    Source.ADMIN_ONCE,
                )
        if production and jobs:
            yield Right(
                Role.DEPLOY,
                stack.deploy,
                "workspace",
                "Unrestricted cluster creation",
                reasons.CLUSTER_CREATE,
                Source.ADMIN_ONCE,
                "cicd.gate (runs/submit of the candidate)",
            )
    if access and access.run_reader:
        for job in jobs:
            yield need(
                stack,
                Role.RUN_READER,
                access.run_reader,
                job,
                "CAN_VIEW",
                reasons.LEVELS["job"]["CAN_VIEW"] + ": jobs/list by name, runs/list, runs/get",
                "cicd.promote and cicd.gate provenance",
                Source.ADMIN_ONCE,
            )
    if stack.reader and stack.config.developers:
        yield Right(
            Role.READ_ONLY,
            stack.reader,
            "workspace",
            "workspace admin",
            reasons.ADMIN_SEES_ALL,
            Source.NOT_READ_ONLY,
            "cicd.drift (engineers part)",
            "reported 'unchecked'; run that part with an admin identity",
        )
    for engineer in stack.config.developers.by_slug() if stack.config.developers else []:
        home = f"folder /Users/{engineer.user}"
        yield Right(
            Role.ENGINEER,
            engineer.user,
            home,
            "CAN_MANAGE",
            "a user holds CAN_MANAGE on their own home folder: cicd.dev imports and"
            " exports notebooks there",
            Source.BUILT_IN,
            "cicd.dev push|pull",
        )
