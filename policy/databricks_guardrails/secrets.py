"""No literal secret in a job's parameters (its tasks' and for-each inner tasks' too), a pipeline's
configuration, or any Spark conf or environment variables.

Whatever a job or cluster definition holds is readable by everyone who can view it, and sits in
the Pulumi state and the preview log. A secret belongs in a Databricks secret scope, referenced
as `{{secrets/<scope>/<key>}}`, which Databricks resolves on the cluster.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .common import (
    CLUSTER,
    JOB,
    PIPELINE,
    Redacted,
    get,
    items,
    resource_policy,
    task_bodies,
    violation,
)
from .redact import SECRET_REFERENCE, names_a_secret, token_shape


def literal_secret_rule(key: str | None, value: Any) -> str | None:
    """Why `value` (under `key`, if named) is a literal secret; None when it is not."""
    if not isinstance(value, str) or not value or SECRET_REFERENCE.fullmatch(value):
        return None
    shape = token_shape(value, guesses=False)
    if shape:
        return f"the value has the shape of a credential ({shape})"
    if key is not None and names_a_secret(key):
        return f"the key {key!r} names a secret"
    return None


def _mapping_problems(type_: str, name: str, field: str, values: Any) -> Iterator[str]:
    if not isinstance(values, Mapping):
        return
    for key in values:
        value = get(values, key)
        why = literal_secret_rule(key, value)
        if why:
            yield _message(type_, name, f"{field}.{key}", value, why)


def _list_problems(type_: str, name: str, field: str, values: Any) -> Iterator[str]:
    for i, value in items(values):
        why = literal_secret_rule(None, value)
        if why:
            yield _message(type_, name, f"{field}[{i}]", value, why)


def _message(type_: str, name: str, field: str, value: str, why: str) -> str:
    # The value itself is not repeated, nor any part of it: the message lands in CI logs.
    return violation(
        type_,
        name,
        field,
        Redacted(value),
        f"{why}: keep secrets in a Databricks secret scope and reference them as"
        " '{{secrets/<scope>/<key>}}'",
    )


def _cluster_problems(type_: str, name: str, where: str, cluster: Any) -> Iterator[str]:
    if not isinstance(cluster, Mapping):
        return
    for field in ("sparkConf", "sparkEnvVars"):
        yield from _mapping_problems(type_, name, f"{where}{field}", get(cluster, field))


# Named parameters of a task, by task kind: each value is given to the code as it stands.
_TASK_MAPPINGS = (
    ("notebookTask", "baseParameters"),
    ("pythonWheelTask", "namedParameters"),
    ("sqlTask", "parameters"),
    ("runJobTask", "jobParameters"),
)


def _no_literal_secrets(
    type_: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> Iterator[str]:
    if type_ == CLUSTER:
        yield from _cluster_problems(type_, name, "", props)
        return
    if type_ == PIPELINE:
        yield from _pipeline_problems(type_, name, props)
        return
    for i, parameter in items(get(props, "parameters")):
        why = literal_secret_rule(get(parameter, "name"), get(parameter, "default"))
        if why:
            yield _message(type_, name, f"parameters[{i}].default", get(parameter, "default"), why)
    for i, cluster in items(get(props, "jobClusters")):
        yield from _cluster_problems(
            type_, name, f"jobClusters[{i}].newCluster.", get(cluster, "newCluster")
        )
    for where, task in task_bodies(props):
        yield from _cluster_problems(type_, name, f"{where}newCluster.", get(task, "newCluster"))
        for kind, key in _TASK_MAPPINGS:
            yield from _mapping_problems(
                type_, name, f"{where}{kind}.{key}", get(get(task, kind) or {}, key)
            )
        for kind in ("pythonWheelTask", "sparkPythonTask", "sparkJarTask"):
            yield from _list_problems(
                type_,
                name,
                f"{where}{kind}.parameters",
                get(get(task, kind) or {}, "parameters"),
            )


def _pipeline_problems(type_: str, name: str, props: Mapping[str, Any]) -> Iterator[str]:
    # A pipeline's configuration is Spark conf its source reads (spark.conf.get): the same place.
    yield from _mapping_problems(type_, name, "configuration", get(props, "configuration"))
    for i, cluster in items(get(props, "clusters")):
        yield from _cluster_problems(type_, name, f"clusters[{i}].", cluster)


POLICIES = [
    resource_policy(
        "no-literal-secrets",
        "No literal secret in job parameters, pipeline configuration, Spark conf or environment"
        " variables.",
        [CLUSTER, JOB, PIPELINE],
        _no_literal_secrets,
    ),
]
