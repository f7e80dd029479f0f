"""Spark settings shared by job clusters and dev clusters (not a component)."""

from __future__ import annotations

from cicd.config import ClusterSpec

# Databricks' documented recipe for a single-node cluster (numWorkers: 0).
SINGLE_NODE_CONF = {"spark.databricks.cluster.profile": "singleNode", "spark.master": "local[*, 4]"}
SINGLE_NODE_TAGS = {"ResourceClass": "SingleNode"}


def spark_conf(cluster: ClusterSpec) -> dict[str, str]:
    conf = dict(SINGLE_NODE_CONF) if cluster.num_workers == 0 else {}
    conf.update(cluster.spark_conf)
    return dict(sorted(conf.items()))


def cluster_tags(cluster: ClusterSpec, tags: dict[str, str]) -> dict[str, str]:
    merged = dict(SINGLE_NODE_TAGS) if cluster.num_workers == 0 else {}
    merged.update(tags)
    return dict(sorted(merged.items()))
