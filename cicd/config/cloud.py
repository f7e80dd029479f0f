"""Which cloud a workspace runs on, read from its URL (`databricks:host`).

Some cluster attributes exist on one cloud only (instance profiles on AWS, Google service
accounts on GCP, Docker images not on GCP), and a cluster policy naming a path its cloud does not
support is unusable ("Cluster policy is invalid as unsupported path ... was provided",
terraform-provider-databricks issue 1596). So cloud-specific rules are written only for the
cloud the host names; an unknown host gets the rules every cloud supports.
"""

from __future__ import annotations

from enum import Enum
from urllib.parse import urlparse


class Cloud(str, Enum):
    AWS = "aws"
    AZURE = "azure"
    GCP = "gcp"


# Workspace host suffixes as Databricks assigns them (workspace URLs per cloud).
_SUFFIXES = (
    (".gcp.databricks.com", Cloud.GCP),
    (".azuredatabricks.net", Cloud.AZURE),
    (".databricks.azure.cn", Cloud.AZURE),
    (".cloud.databricks.com", Cloud.AWS),
    (".cloud.databricks.us", Cloud.AWS),
)


def cloud_of(host: str | None) -> Cloud | None:
    """The cloud of a workspace URL, or None when the URL names no known Databricks domain."""
    if not host:
        return None
    name = (urlparse(host).hostname if "//" in host else host.split("/")[0]) or ""
    for suffix, cloud in _SUFFIXES:
        if name.lower().endswith(suffix):
            return cloud
    return None
