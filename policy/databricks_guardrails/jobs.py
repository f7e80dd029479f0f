"""Every job of the stack: on its own compute (job clusters, a task's new cluster, or
serverless), as a service principal, running only what a release published, bounded in time, and
heard of when it fails.

Each rule is one a refactor or a copied job could silently drop: a task moved onto someone's
all-purpose cluster, `runAs` lost (the job then runs as its owner), a notebook, file or library
pointing into a home folder, a Git branch or a package index, no timeout (a hung run holds its
cluster forever), nobody told of a failure. A for-each's inner task is checked like any task.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .common import (
    JOB,
    LIBRARY_ROOT,
    NOTEBOOK_ROOT,
    Computed,
    get,
    get_or_computed,
    is_set,
    items,
    keys_of,
    number,
    resource_policy,
    setting,
    show,
    task_bodies,
    violation,
)
from .references import (
    INDEX,
    LIBRARY,
    WORKSPACE,
    Reference,
    job_references,
    release_of,
    workspace_roots,
)

# Task kinds that run code on compute: a job cluster, a task's own new cluster, or serverless (an
# environment, or for a notebook the serverless notebook environment). The others (condition,
# pipeline, run-job, SQL on a warehouse, for-each itself) run no code of their own.
COMPUTE_TASKS = (
    "notebookTask",
    "pythonWheelTask",
    "sparkPythonTask",
    "sparkJarTask",
    "sparkSubmitTask",
    "dbtTask",
)
CLUSTERS_ONLY = (
    "a job runs on its own compute only (a job cluster with jobClusterKey, a newCluster, or"
    " serverless): an all-purpose cluster is shared, long-lived and changed by hand"
)


def _compute_problem(task: Mapping[str, Any], has_job_clusters: bool) -> str | None:
    """Why a task that runs code has no compute of its own; None when it has."""
    keys = keys_of(task)
    kinds = [kind for kind in COMPUTE_TASKS if kind in keys]
    if not kinds or any(is_set(task, k) for k in ("jobClusterKey", "newCluster", "environmentKey")):
        return None
    if kinds == ["notebookTask"]:
        # A notebook on a SQL warehouse, or serverless: a notebook task without compute in a
        # job without job clusters runs on serverless compute with the notebook's environment.
        if is_set(get(task, "notebookTask") or {}, "warehouseId") or not has_job_clusters:
            return None
        return (
            "a notebook task in a job with job clusters names one (jobClusterKey); serverless"
            " notebook tasks belong in a job without job clusters"
        )
    return (
        f"a {kinds[0]} runs on a job cluster (jobClusterKey), a newCluster or a serverless"
        " environment (environmentKey)"
    )


def _clusters_only(
    type_: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> Iterator[str]:
    has_job_clusters = any(True for _ in items(get(props, "jobClusters")))
    for where, task in task_bodies(props):
        if is_set(task, "existingClusterId"):
            yield violation(
                type_,
                name,
                f"{where}existingClusterId",
                get_or_computed(task, "existingClusterId"),
                CLUSTERS_ONLY,
            )
            continue
        problem = _compute_problem(task, has_job_clusters)
        if problem:
            yield violation(type_, name, f"{where}jobClusterKey", None, problem)


def run_as_problems(type_: str, name: str, props: Mapping[str, Any], what: str) -> Iterator[str]:
    """A person as `runAs`, or no `runAs` at all (then `what` runs as its owner)."""
    run_as = get(props, "runAs") or {}
    if is_set(run_as, "userName"):
        yield violation(
            type_,
            name,
            "runAs.userName",
            get(run_as, "userName"),
            f"{what} runs as a service principal (runAs.servicePrincipalName), never as a person",
        )
    elif not is_set(run_as, "servicePrincipalName"):
        yield violation(
            type_,
            name,
            "runAs.servicePrincipalName",
            get(run_as, "servicePrincipalName"),
            f"{what} runs as a service principal: without runAs it runs as its owner",
        )


def _runs_as_service_principal(
    type_: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> Iterator[str]:
    yield from run_as_problems(type_, name, props, "a job")


# Task kinds that name a `source` (WORKSPACE or GIT), and where.
_SOURCES = (
    ("notebookTask",),
    ("sparkPythonTask",),
    ("sqlTask", "file"),
    ("dbtTask",),
)


def _git_sources(type_: str, name: str, props: Mapping[str, Any]) -> Iterator[str]:
    rule = "a job runs what a release published to the workspace, not a Git checkout"
    if is_set(props, "gitSource"):
        url = get_or_computed(get(props, "gitSource") or {}, "url")
        yield violation(type_, name, "gitSource.url", url, rule)
    for where, task in task_bodies(props):
        for path in _SOURCES:
            holder: Any = task
            for key in path:
                holder = get(holder, key) or {}
            if get(holder, "source") == "GIT":
                yield violation(type_, name, f"{where}{'.'.join(path)}.source", "GIT", rule)


def released_code_problems(
    type_: str,
    name: str,
    references: Iterable[Reference],
    config: Mapping[str, Any],
    what: str,
) -> Iterator[str]:
    """Each reference that is not inside one release folder of the stack: workspace content
    under the notebook root, libraries under the library root; nothing from a package index."""
    notebook_root = setting(config, NOTEBOOK_ROOT)
    library_root = setting(config, LIBRARY_ROOT)
    for ref in references:
        if isinstance(ref.value, Computed) and ref.kind != INDEX:
            # A path computed at deploy is checked then, when the engine sends it known.
            continue
        if ref.kind == INDEX:
            yield violation(
                type_,
                name,
                ref.field,
                ref.value,
                f"{what} installs only libraries a release published (a package index serves"
                " whatever it holds today)",
            )
        elif (
            ref.kind == WORKSPACE and release_of(ref.value, workspace_roots(notebook_root)) is None
        ):
            yield violation(
                type_,
                name,
                ref.field,
                ref.value,
                f"{what} runs notebooks and files a release published, inside one release folder"
                f" under {notebook_root!r}",
            )
        elif ref.kind == LIBRARY and release_of(ref.value, (library_root,)) is None:
            yield violation(
                type_,
                name,
                ref.field,
                ref.value,
                f"{what} installs only libraries a release published, inside one release folder"
                f" under {library_root!r}",
            )


# What a SQL task runs other than a file: objects edited in the workspace, by their id field.
_SAVED_SQL = (("query", "queryId"), ("alert", "alertId"), ("dashboard", "dashboardId"))


def _saved_sql(type_: str, name: str, props: Mapping[str, Any]) -> Iterator[str]:
    for where, task in task_bodies(props):
        sql = get(task, "sqlTask") or {}
        for kind, key in _SAVED_SQL:
            if is_set(sql, kind):
                yield violation(
                    type_,
                    name,
                    f"{where}sqlTask.{kind}.{key}",
                    get(get(sql, kind) or {}, key),
                    f"a job runs SQL files a release published (sqlTask.file), not a saved {kind}"
                    " that anyone with edit rights changes in the workspace",
                )


def _release_paths(
    type_: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> Iterator[str]:
    yield from released_code_problems(type_, name, job_references(props), config, "a job")
    yield from _git_sources(type_, name, props)
    yield from _saved_sql(type_, name, props)


def _timeout(
    type_: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> Iterator[str]:
    seconds = number(get(props, "timeoutSeconds"))
    if seconds is None or seconds <= 0:
        yield violation(
            type_,
            name,
            "timeoutSeconds",
            get(props, "timeoutSeconds"),
            "a job has a timeout (more than 0 seconds): a hung run otherwise holds its cluster"
            " until someone notices",
        )


def _failure_targets(holder: Mapping[str, Any]) -> list[Any]:
    targets: list[Any] = []
    for key in ("emailNotifications", "webhookNotifications"):
        targets += [t for _, t in items(get(get(holder, key) or {}, "onFailures"))]
    return targets


def _failure_notification(
    type_: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> Iterator[str]:
    if _failure_targets(props):
        return
    if any(_failure_targets(task) for _, task in items(get(props, "tasks"))):
        return
    yield violation(
        type_,
        name,
        "emailNotifications.onFailures",
        get(get(props, "emailNotifications") or {}, "onFailures"),
        "a job notifies at least one address or webhook when it fails"
        f" (emailNotifications or webhookNotifications onFailures; {show([])} is nobody)",
    )


POLICIES = [
    resource_policy(
        "job-clusters-only",
        "Job tasks run on job clusters, their own new cluster or serverless, never on an"
        " existing (all-purpose) cluster.",
        [JOB],
        _clusters_only,
    ),
    resource_policy(
        "job-runs-as-service-principal",
        "Jobs run as a service principal.",
        [JOB],
        _runs_as_service_principal,
    ),
    resource_policy(
        "job-runs-released-code",
        "Jobs run notebooks, files and libraries from the stack's release folders only, never"
        " from Git or a package index.",
        [JOB],
        _release_paths,
        settings=[NOTEBOOK_ROOT, LIBRARY_ROOT],
    ),
    resource_policy(
        "job-timeout",
        "Jobs have a timeout.",
        [JOB],
        _timeout,
    ),
    resource_policy(
        "job-failure-notification",
        "Jobs notify at least one address or webhook on failure.",
        [JOB],
        _failure_notification,
    ),
]
