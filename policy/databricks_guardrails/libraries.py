"""No library from the DBFS root on Databricks Runtime 15 or later: on an all-purpose cluster, on
every job cluster (and task cluster) a job's tasks and for-each inner tasks install libraries on,
in a job's serverless environments and in a pipeline (serverless and pipelines always run a
current runtime).

Runtime 15 and later refuse libraries installed from the DBFS root ("DBFS library installations
are not supported on DBR 15 or above"): the cluster starts, the library is missing, the run fails
at import. The stack config refuses the combination for the artifact store; this holds for any
library any resource names, e.g. a hand-added one in a component.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .common import (
    CLUSTER,
    FILE_LIBRARIES,
    JOB,
    PIPELINE,
    get,
    items,
    resource_policy,
    runtime_major,
    task_bodies,
    violation,
)

FIRST_RUNTIME_WITHOUT_DBFS_LIBRARIES = 15
# The runtime a pipeline's libraries meet: Lakeflow pipelines choose none, their channel does, and
# both channels are past 15 (CURRENT: Databricks Runtime 17.3, PREVIEW: 18.1, per the Lakeflow
# release notes), so a pipeline meets the rule as any cluster on a current runtime.
PIPELINE_RUNTIME = "17.3.x-scala2.13"


def is_dbfs_root(uri: Any) -> bool:
    """A DBFS-root location; `dbfs:/Volumes/...` is a Unity Catalog volume, which is allowed."""
    if not isinstance(uri, str):
        return False
    path = uri.removeprefix("dbfs:") if uri.startswith("dbfs:/") else None
    if path is None and uri.startswith("/dbfs/"):
        path = uri.removeprefix("/dbfs")
    return path is not None and not path.startswith("/Volumes/")


def _library_problems(
    type_: str, name: str, where: str, libraries: Any, spark_version: Any, runtime: str = ""
) -> Iterator[str]:
    major = runtime_major(spark_version)
    if major is None or major < FIRST_RUNTIME_WITHOUT_DBFS_LIBRARIES:
        return
    for j, library in items(libraries):
        for kind in FILE_LIBRARIES:
            uri = get(library, kind)
            if is_dbfs_root(uri):
                yield violation(
                    type_,
                    name,
                    f"{where}libraries[{j}].{kind}",
                    uri,
                    f"{runtime or f'runtime {spark_version!r}'} (15 or later) refuses libraries"
                    " from the DBFS root: publish them to a Unity Catalog volume (/Volumes/...)"
                    " or workspace files (artifactStore.kind volume or workspace)",
                )


def _dbfs_dependencies(
    type_: str, name: str, field: str, dependencies: Any, where: str
) -> Iterator[str]:
    for k, dependency in items(dependencies):
        if is_dbfs_root(dependency):
            yield violation(
                type_,
                name,
                f"{field}[{k}]",
                dependency,
                f"{where} runs on a current runtime (15 or later), which refuses libraries from"
                " the DBFS root: publish them to a Unity Catalog volume (/Volumes/...) or"
                " workspace files (artifactStore.kind volume or workspace)",
            )


def _no_dbfs_library(
    type_: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> Iterator[str]:
    if type_ == CLUSTER:
        yield from _library_problems(
            type_, name, "", get(props, "libraries"), get(props, "sparkVersion")
        )
        return
    if type_ == PIPELINE:
        # A pipeline's runtime is its channel's (CURRENT and PREVIEW are both 17 or later).
        yield from _library_problems(
            type_,
            name,
            "",
            get(props, "libraries"),
            PIPELINE_RUNTIME,
            "a pipeline's runtime (its channel's)",
        )
        environment = get(props, "environment") or {}
        yield from _dbfs_dependencies(
            type_,
            name,
            "environment.dependencies",
            get(environment, "dependencies"),
            "a serverless pipeline",
        )
        return
    runtimes = {
        get(cluster, "jobClusterKey"): get(get(cluster, "newCluster") or {}, "sparkVersion")
        for _, cluster in items(get(props, "jobClusters"))
    }
    for where, task in task_bodies(props):
        new_cluster = get(task, "newCluster")
        runtime = (
            get(new_cluster, "sparkVersion")
            if new_cluster
            else runtimes.get(get(task, "jobClusterKey"))
        )
        yield from _library_problems(type_, name, where, get(task, "libraries"), runtime)
    for i, environment in items(get(props, "environments")):
        spec = get(environment, "spec") or {}
        yield from _dbfs_dependencies(
            type_,
            name,
            f"environments[{i}].spec.dependencies",
            get(spec, "dependencies"),
            "a serverless environment",
        )


POLICIES = [
    resource_policy(
        "no-dbfs-library-on-runtime-15",
        "No library is installed from the DBFS root on Databricks Runtime 15 or later.",
        [CLUSTER, JOB, PIPELINE],
        _no_dbfs_library,
    ),
]
