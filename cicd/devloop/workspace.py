"""The workspace side: an SDK client from the Databricks unified authentication, the identity
it belongs to, and the engineer's own cluster, each checked before anything changes."""

from __future__ import annotations

import os

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors.base import DatabricksError
from databricks.sdk.service.compute import ClusterDetails

from cicd.devloop.target import DevLoopError, DevTarget
from cicd.jobs.stack_outputs import WorkspaceUnreachable, workspace_client

CREDENTIALS_HELP = (
    "set DATABRICKS_TOKEN (a personal access token), or DATABRICKS_CLIENT_ID and"
    " DATABRICKS_CLIENT_SECRET (a service principal's OAuth secret), or pass --profile NAME"
    " (a profile of ~/.databrickscfg, also DATABRICKS_CONFIG_PROFILE); DATABRICKS_HOST or"
    " --host overrides the stack's databricks:host"
)


def connect(host: str | None, profile: str | None) -> WorkspaceClient:
    """A client for `host` (None: the profile's or DATABRICKS_HOST) with the SDK's unified
    authentication. Raises DevLoopError naming the variables when no credential is found, or
    saying how long it waited when the host does not answer."""
    try:
        return workspace_client(host, profile=profile)
    except WorkspaceUnreachable as exc:
        raise DevLoopError(
            f"cannot reach the workspace: {exc}. Check the host (--host, DATABRICKS_HOST or the"
            " stack's databricks:host) and your network; nothing was changed"
        ) from None
    except Exception as exc:  # the SDK raises ValueError and others while resolving credentials
        raise DevLoopError(
            f"no usable Databricks credentials for {host or 'the workspace'}: {exc}."
            f" To fix: {CREDENTIALS_HELP}"
        ) from None


def default_host(stack_host: str | None, profile: str | None) -> str | None:
    """The host to use unless --host is given: DATABRICKS_HOST or the profile's, else the stack's."""
    if os.environ.get("DATABRICKS_HOST") or profile or os.environ.get("DATABRICKS_CONFIG_PROFILE"):
        return None
    return stack_host


def current_identity(client: WorkspaceClient) -> str:
    """The user name (or a service principal's application id) the credentials belong to."""
    try:
        me = client.current_user.me()
    except DatabricksError as exc:
        raise DevLoopError(
            f"the workspace {client.config.host} refused the credentials ({exc}): they are wrong"
            f" or expired. To fix: {CREDENTIALS_HELP}"
        ) from None
    except Exception as exc:
        raise DevLoopError(
            f"cannot reach the workspace {client.config.host}: {exc}. Check the host (--host,"
            f" DATABRICKS_HOST or the stack's databricks:host) and your network"
        ) from None
    return me.user_name or me.id or "?"


def find_cluster(client: WorkspaceClient, target: DevTarget) -> ClusterDetails:
    """The engineer's cluster: the stack's name for it, tagged with them as its owner (the
    policy fixes that tag). Missing: their environment was not created yet."""
    owned = [
        cluster
        for cluster in client.clusters.list()
        if cluster.cluster_name == target.cluster_name
        and (cluster.custom_tags or {}).get("Owner") == target.user
    ]
    if not owned:
        raise DevLoopError(
            f"no cluster {target.cluster_name} owned by {target.user} in {client.config.host}:"
            f" your dev environment is not created yet. Merge the pull request that adds you"
            f" under databricks-cicd:developers.engineers of Pulumi.{target.stack}.yaml (CI's"
            " deploy creates the environment), then run this again"
        )
    if len(owned) > 1:
        ids = ", ".join(sorted(c.cluster_id or "?" for c in owned))
        raise DevLoopError(
            f"{len(owned)} clusters named {target.cluster_name} are tagged Owner {target.user}"
            f" ({ids}); ask an admin to remove the ones the stack does not manage"
        )
    return owned[0]
