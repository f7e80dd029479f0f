"""The cluster policy definition of one engineer's dev cluster (a builder, no resources).

The policy makes the workspace itself hold what code review decided, whoever edits the cluster:
the engineer holds CAN_MANAGE on their cluster (the Libraries API needs it to install their
build), so without a policy they could switch autotermination off or grow the cluster in the UI.

- fixed: single-user access mode with that engineer as the single user, the runtime, the node
  type (driver included), the `Owner` tag, and all-purpose use only (the virtual attribute
  `cluster_type`: the policy cannot be used for job clusters);
- bounded by the stack's caps: workers (fixed size or autoscale, 0 = single node) and the idle
  timeout, which can never be 0 (off).

Attribute paths and limit types are Databricks' compute policy definition language.
"""

from __future__ import annotations

import json
from typing import Any

from cicd.config import DevCaps, DevCluster, DevEngineer
from cicd.config.developers import MIN_AUTOTERMINATION_MINUTES


def _fixed(value: str) -> dict[str, Any]:
    return {"type": "fixed", "value": value}


def policy_definition(engineer: DevEngineer, cluster: DevCluster, caps: DevCaps) -> dict[str, Any]:
    """The policy rules for `engineer`'s cluster (as configured: `cluster`, within `caps`)."""
    size = cluster.autoscale
    return {
        "cluster_type": _fixed("all-purpose"),
        "data_security_mode": _fixed("SINGLE_USER"),
        "single_user_name": _fixed(engineer.user),
        "spark_version": _fixed(cluster.spark_version),
        "node_type_id": _fixed(cluster.node_type),
        "driver_node_type_id": _fixed(cluster.node_type),
        "custom_tags.Owner": _fixed(engineer.user),
        # A cluster has either a fixed size or autoscale, so each bound is optional alone.
        "num_workers": {
            "type": "range",
            "minValue": 0,
            "maxValue": caps.max_workers,
            "defaultValue": cluster.num_workers if cluster.num_workers is not None else 0,
            "isOptional": True,
        },
        "autoscale.min_workers": {
            "type": "range",
            "minValue": 0,
            "maxValue": caps.max_workers,
            **({"defaultValue": size.min_workers} if size else {}),
            "isOptional": True,
        },
        "autoscale.max_workers": {
            "type": "range",
            "minValue": 0,
            "maxValue": caps.max_workers,
            **({"defaultValue": size.max_workers} if size else {}),
            "isOptional": True,
        },
        # Never 0 (off): Databricks' own minimum (10) up to the cap. Not optional.
        "autotermination_minutes": {
            "type": "range",
            "minValue": MIN_AUTOTERMINATION_MINUTES,
            "maxValue": caps.max_autotermination_minutes,
            "defaultValue": cluster.autotermination_minutes,
        },
    }


def policy_json(engineer: DevEngineer, cluster: DevCluster, caps: DevCaps) -> str:
    """The definition as the provider takes it: a JSON string, keys sorted (stable diffs)."""
    return json.dumps(policy_definition(engineer, cluster, caps), sort_keys=True)
