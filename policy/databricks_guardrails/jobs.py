"""The stack's job: on its own job clusters, as a service principal, running only what a release
published, bounded in time, and heard of when it fails.

Each rule is one a refactor or a copied job could silently drop: a task moved onto someone's
all-purpose cluster, `runAs` lost (the job then runs as its owner), a notebook path pointing into
a home folder, no timeout (a hung run holds its cluster forever), nobody told of a failure.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .common import (
    FILE_LIBRARIES,
    JOB,
    LIBRARY_ROOT,
    NOTEBOOK_ROOT,
    get,
    is_set,
    items,
    number,
    resource_policy,
    setting,
    show,
    under,
    violation,
)


def _clusters_only(
    type_: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> Iterator[str]:
    for i, task in items(get(props, "tasks")):
        if is_set(task, "existingClusterId"):
            yield violation(
                type_,
                name,
                f"tasks[{i}].existingClusterId",
                get(task, "existingClusterId"),
                "a job runs on its own job clusters only (jobClusters with jobClusterKey, or"
                " newCluster): an all-purpose cluster is shared, long-lived and changed by hand",
            )
        elif not is_set(task, "jobClusterKey") and not is_set(task, "newCluster"):
            yield violation(
                type_,
                name,
                f"tasks[{i}].jobClusterKey",
                None,
                "a job runs on its own job clusters only: give the task a jobClusterKey (or a"
                " newCluster)",
            )


def _runs_as_service_principal(
    type_: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> Iterator[str]:
    run_as = get(props, "runAs") or {}
    if is_set(run_as, "userName"):
        yield violation(
            type_,
            name,
            "runAs.userName",
            get(run_as, "userName"),
            "a job runs as a service principal (runAs.servicePrincipalName), never as a person",
        )
    elif not is_set(run_as, "servicePrincipalName"):
        yield violation(
            type_,
            name,
            "runAs.servicePrincipalName",
            get(run_as, "servicePrincipalName"),
            "a job runs as a service principal: without runAs it runs as its owner",
        )


def _release_paths(
    type_: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> Iterator[str]:
    notebook_root = setting(config, NOTEBOOK_ROOT)
    library_root = setting(config, LIBRARY_ROOT)
    for i, task in items(get(props, "tasks")):
        notebook_task = get(task, "notebookTask") or {}
        path = get(notebook_task, "notebookPath")
        if path is not None and not (isinstance(path, str) and under(path, notebook_root)):
            yield violation(
                type_,
                name,
                f"tasks[{i}].notebookTask.notebookPath",
                path,
                f"a job runs a notebook a release published, under {notebook_root!r}",
            )
        if get(notebook_task, "source") == "GIT":
            yield violation(
                type_,
                name,
                f"tasks[{i}].notebookTask.source",
                "GIT",
                "a job runs what a release published to the workspace, not a Git checkout",
            )
        for j, library in items(get(task, "libraries")):
            for kind in library:
                field = f"tasks[{i}].libraries[{j}].{kind}"
                value = get(library, kind)
                if kind not in FILE_LIBRARIES:
                    yield violation(
                        type_,
                        name,
                        field,
                        value,
                        "a job installs only libraries a release published (a package index"
                        " serves whatever it holds today)",
                    )
                elif not (isinstance(value, str) and under(value, library_root)):
                    yield violation(
                        type_,
                        name,
                        field,
                        value,
                        f"a job installs only libraries a release published, under {library_root!r}",
                    )


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
        "Jobs run on their own job clusters, never on an existing cluster.",
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
        "Jobs run notebooks and install libraries from the stack's own release folders only.",
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
