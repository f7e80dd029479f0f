"""The cluster policy definition of one engineer's dev cluster (a builder, no resources).

The policy makes the workspace itself hold what code review decided, whoever edits the cluster:
the engineer holds CAN_MANAGE on their cluster (the Libraries API needs it to install their
build), so without a policy they could switch autotermination off or grow the cluster in the UI.

- fixed: single-user access mode with that engineer as the single user, the runtime, the node
  type (driver included), the `Owner` tag, and all-purpose use only (the virtual attribute
  `cluster_type`: the policy cannot be used for job clusters);
- bounded by the stack's caps: workers (fixed size or autoscale, 0 = single node) and the idle
  timeout, which can never be 0 (off);
- forbidden or fixed, because each one costs money or runs code before the engineer's own (as
  root on every node, or with credentials the engineer does not hold): init scripts of every
  kind the policy language names (ABFSS on Azure has no path), SSH keys, a custom Docker image,
  instance pools, the Photon engine (fixed to STANDARD: Photon bills more DBUs per hour), and
  the cloud's instance credentials (an AWS instance profile, a GCP service account).

Not fixed: `enable_elastic_disk` (AWS-only path; node types without local storage need it, and
it adds disk only while the cluster runs) and `cluster_log_conf` (where the engineer's own
cluster logs go runs no code and holds no credential).

Attribute paths and limit types are Databricks' compute policy definition language ("Compute
policy reference"). A path the workspace's cloud does not support makes the whole policy unusable
(terraform-provider-databricks issue 1596), so cloud-specific paths are written only for the
cloud the workspace URL names (`cicd.config.cloud`).
"""

from __future__ import annotations

import json
from typing import Any

from cicd.config import Cloud, DevCaps, DevCluster, DevEngineer
from cicd.config.developers import MIN_AUTOTERMINATION_MINUTES

# Init script sources every cloud supports, and the one each cloud adds (its object store).
# The policy language names these (the workspace UI validates exactly workspace, volumes, file,
# s3, gcs and dbfs); an ABFSS init script on Azure has no policy path, so no policy forbids it.
INIT_SCRIPT_SOURCES = ("workspace", "volumes", "file")
CLOUD_INIT_SCRIPT_SOURCES: dict[Cloud, tuple[str, ...]] = {
    Cloud.AWS: ("s3",),
    Cloud.AZURE: (),
    Cloud.GCP: ("gcs",),
}
# Attributes that hand the cluster cloud credentials of their own, per cloud.
CLOUD_CREDENTIALS = {
    Cloud.AWS: ("aws_attributes.instance_profile_arn",),
    Cloud.AZURE: (),
    Cloud.GCP: ("gcp_attributes.google_service_account",),
}
# Databricks Container Services (custom Docker images) exist on AWS and Azure only.
DOCKER_CLOUDS = (Cloud.AWS, Cloud.AZURE)


def _fixed(value: str) -> dict[str, Any]:
    return {"type": "fixed", "value": value}


FORBIDDEN: dict[str, Any] = {"type": "forbidden", "hidden": True}


def forbidden_paths(cloud: Cloud | None) -> list[str]:
    """Every attribute the dev policy forbids on `cloud` (None: the workspace's cloud is not
    known, so only paths every cloud supports)."""
    sources = INIT_SCRIPT_SOURCES + (CLOUD_INIT_SCRIPT_SOURCES[cloud] if cloud else ())
    paths = [f"init_scripts.*.{source}.destination" for source in sources]
    paths += ["ssh_public_keys.*", "instance_pool_id", "driver_instance_pool_id"]
    if cloud in DOCKER_CLOUDS:
        paths.append("docker_image.url")
    if cloud is not None:
        paths += CLOUD_CREDENTIALS[cloud]
    return sorted(paths)


def policy_definition(
    engineer: DevEngineer, cluster: DevCluster, caps: DevCaps, cloud: Cloud | None = None
) -> dict[str, Any]:
    """The policy rules for `engineer`'s cluster (as configured: `cluster`, within `caps`) in a
    workspace on `cloud`."""
    size = cluster.autoscale
    return {
        **{path: FORBIDDEN for path in forbidden_paths(cloud)},
        # Photon bills more DBUs per hour than the standard engine.
        "runtime_engine": {**_fixed("STANDARD"), "hidden": True},
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


def policy_json(
    engineer: DevEngineer, cluster: DevCluster, caps: DevCaps, cloud: Cloud | None = None
) -> str:
    """The definition as the provider takes it: a JSON string, keys sorted (stable diffs)."""
    return json.dumps(policy_definition(engineer, cluster, caps, cloud), sort_keys=True)
