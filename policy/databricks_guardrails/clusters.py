"""All-purpose clusters (`databricks.Cluster`; job clusters live inside a job): one person's,
under a cluster policy, terminating themselves when idle, and small.

An all-purpose cluster bills for as long as it runs, whoever forgot it; shared, it runs one
person's code with another's rights. The caps come from the pack's config, which the project
writes from the stack's `developers.caps`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .common import (
    CLUSTER,
    MAX_AUTOTERMINATION_MINUTES,
    MAX_WORKERS,
    get,
    is_set,
    number,
    resource_policy,
    setting,
    show,
    violation,
)

SINGLE_USER = "SINGLE_USER"


def _single_user(
    type_: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> Iterator[str]:
    mode = get(props, "dataSecurityMode")
    if mode != SINGLE_USER:
        yield violation(
            type_,
            name,
            "dataSecurityMode",
            mode,
            f"an all-purpose cluster must use single-user access mode ({SINGLE_USER!r}), so that"
            " it runs one person's code with that person's rights",
        )
    if not is_set(props, "singleUserName"):
        yield violation(
            type_,
            name,
            "singleUserName",
            get(props, "singleUserName"),
            "an all-purpose cluster must name its single user (the engineer or service principal"
            " it belongs to)",
        )


def _cluster_policy(
    type_: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> Iterator[str]:
    if not is_set(props, "policyId"):
        yield violation(
            type_,
            name,
            "policyId",
            get(props, "policyId"),
            "an all-purpose cluster must run under a cluster policy, which holds its caps in the"
            " workspace itself (a hand edit in the UI cannot exceed them)",
        )


def _autotermination(
    type_: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> Iterator[str]:
    cap = setting(config, MAX_AUTOTERMINATION_MINUTES)
    minutes = number(get(props, "autoterminationMinutes"))
    if minutes is None or not 1 <= minutes <= cap:
        yield violation(
            type_,
            name,
            "autoterminationMinutes",
            get(props, "autoterminationMinutes"),
            f"an all-purpose cluster must terminate itself after 1 to {show(cap)} idle minutes"
            f" (the pack's {MAX_AUTOTERMINATION_MINUTES}; 0 or unset never stops it or leaves it"
            " to the provider's default)",
        )


def _size(
    type_: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> Iterator[str]:
    cap = setting(config, MAX_WORKERS)
    rule = f"an all-purpose cluster may have at most {show(cap)} workers (the pack's {MAX_WORKERS})"
    workers = number(get(props, "numWorkers"))
    if workers is not None and workers > cap:
        yield violation(type_, name, "numWorkers", workers, rule)
    autoscale = get(props, "autoscale") or {}
    most = number(get(autoscale, "maxWorkers"))
    if most is not None and most > cap:
        yield violation(type_, name, "autoscale.maxWorkers", most, rule)


POLICIES = [
    resource_policy(
        "all-purpose-cluster-single-user",
        "All-purpose clusters use single-user access mode with a named single user.",
        [CLUSTER],
        _single_user,
    ),
    resource_policy(
        "all-purpose-cluster-policy",
        "All-purpose clusters run under a cluster policy.",
        [CLUSTER],
        _cluster_policy,
    ),
    resource_policy(
        "all-purpose-cluster-autotermination",
        "All-purpose clusters terminate themselves after 1 minute to the pack's cap when idle.",
        [CLUSTER],
        _autotermination,
        settings=[MAX_AUTOTERMINATION_MINUTES],
    ),
    resource_policy(
        "all-purpose-cluster-size",
        "All-purpose clusters have no more workers than the pack's cap.",
        [CLUSTER],
        _size,
        settings=[MAX_WORKERS],
    ),
]
