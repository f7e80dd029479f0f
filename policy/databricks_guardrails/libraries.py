"""No library from the DBFS root on Databricks Runtime 15 or later.

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
    get,
    items,
    resource_policy,
    runtime_major,
    violation,
)

FIRST_RUNTIME_WITHOUT_DBFS_LIBRARIES = 15


def is_dbfs_root(uri: Any) -> bool:
    """A DBFS-root location; `dbfs:/Volumes/...` is a Unity Catalog volume, which is allowed."""
    if not isinstance(uri, str):
        return False
    path = uri.removeprefix("dbfs:") if uri.startswith("dbfs:/") else None
    if path is None and uri.startswith("/dbfs/"):
        path = uri.removeprefix("/dbfs")
    return path is not None and not path.startswith("/Volumes/")


def _library_problems(
    type_: str, name: str, where: str, libraries: Any, spark_version: Any
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
                    f"runtime {spark_version!r} (15 or later) refuses libraries from the DBFS"
                    " root: publish them to a Unity Catalog volume (/Volumes/...) or workspace"
                    " files (artifactStore.kind volume or workspace)",
                )


def _no_dbfs_library(
    type_: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> Iterator[str]:
    if type_ == CLUSTER:
        yield from _library_problems(
            type_, name, "", get(props, "libraries"), get(props, "sparkVersion")
        )
        return
    runtimes = {
        get(cluster, "jobClusterKey"): get(get(cluster, "newCluster") or {}, "sparkVersion")
        for _, cluster in items(get(props, "jobClusters"))
    }
    for i, task in items(get(props, "tasks")):
        new_cluster = get(task, "newCluster")
        runtime = (
            get(new_cluster, "sparkVersion")
            if new_cluster
            else runtimes.get(get(task, "jobClusterKey"))
        )
        yield from _library_problems(type_, name, f"tasks[{i}].", get(task, "libraries"), runtime)


POLICIES = [
    resource_policy(
        "no-dbfs-library-on-runtime-15",
        "No library is installed from the DBFS root on Databricks Runtime 15 or later.",
        [CLUSTER, JOB],
        _no_dbfs_library,
    ),
]
