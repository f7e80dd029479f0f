"""The `DevEnvironment` component: one engineer's own environment in the dev/staging workspace.

For one engineer (a workspace user, or a service principal by application id) it owns:
- a cluster only they use: single-user access mode with them as the single user, named and
  tagged after them, small (the stack's caps are checked in `cicd.config`) and always
  terminating itself when idle;
- that cluster's permissions: the engineer may start, restart and attach to it, the admin
  group manages it, and nobody else is granted anything;
- their personal folder `/Users/<user>/<pipeline>` holding their dev build's notebooks,
  imported by the same rules as a release's;
- their dev build of the library, uploaded to `<artifact root>/dev/<slug>/<content hash>/` and
  installed on their cluster.

Every name derives from the engineer's slug, never from a position in the config's list, so
adding, removing or reordering engineers touches nobody else's resources.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_databricks as databricks

from cicd.config import ArtifactStore, DevCluster, DevEngineer
from cicd.releases.content import ReleaseContent
from components.cluster_settings import cluster_tags, spark_conf
from components.publishing import child_options, publish_notebooks, upload_library

# Enough to start the auto-terminated cluster, restart it and attach notebooks. CAN_MANAGE would
# let the owner edit it outside code review: switch autotermination off, grow past the caps.
OWNER_PERMISSION = "CAN_RESTART"
ADMIN_PERMISSION = "CAN_MANAGE"
# Hex digits of the wheel's sha256 in its upload path: a new build gets a new path, because a
# cluster does not refresh a wheel it already installed from the same path (databricks/cli
# issues 2502, 1050).
HASH_PREFIX_LENGTH = 16


@dataclass(frozen=True)
class DevEnvironmentArgs:
    """One engineer's inputs, all validated before the program registers anything."""

    engineer: DevEngineer
    # Effective settings: the stack's defaults with the engineer's overrides, within the caps.
    cluster: DevCluster
    admin_group: str
    pipeline_name: str
    # The engineer's dev build (`dist/dev/<slug>/`): notebooks and the library wheel.
    build: ReleaseContent
    artifact_store: ArtifactStore


def dev_library_path(store: ArtifactStore, slug: str, digest: str, file_name: str) -> str:
    """Where a dev build's library goes: per engineer, then per content."""
    content = digest.removeprefix("sha256:")[:HASH_PREFIX_LENGTH]
    return f"{store.root}/dev/{slug}/{content}/{file_name}"


def _library(uri: str) -> databricks.ClusterLibraryArgs:
    if uri.endswith(".jar"):
        return databricks.ClusterLibraryArgs(jar=uri)
    return databricks.ClusterLibraryArgs(whl=uri)


class DevEnvironment(pulumi.ComponentResource):
    """Owns one engineer's cluster, its permissions, their notebooks folder and their library."""

    cluster_id: pulumi.Output[str]
    cluster_name: str
    folder: str
    notebook_paths: dict[str, str]
    library_paths: list[str]

    def __init__(
        self, name: str, args: DevEnvironmentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("databricks-cicd:dev_environment:DevEnvironment", name, None, opts)
        engineer = args.engineer
        folder = f"/Users/{engineer.user}/{args.pipeline_name}"
        paths = publish_notebooks(
            self, name, folder, args.build.notebooks, args.build.workspace_files, opts
        )

        uploads: list[pulumi.Resource] = []
        libraries: list[str] = []
        for library in args.build.libraries:
            upload, uri = upload_library(
                self,
                f"{name}-library-{library.file_name}",
                args.artifact_store,
                dev_library_path(
                    args.artifact_store,
                    engineer.slug,
                    args.build.digests[f"libraries/{library.file_name}"],
                    library.file_name,
                ),
                library.source.as_posix(),
                opts,
            )
            uploads.append(upload)
            libraries.append(uri)

        spec = args.cluster.spec
        cluster_name = f"{args.pipeline_name}-dev-{engineer.slug}"
        cluster = databricks.Cluster(
            f"{name}-cluster",
            databricks.ClusterArgs(
                cluster_name=cluster_name,
                spark_version=spec.spark_version,
                node_type_id=spec.node_type,
                num_workers=spec.num_workers,
                autoscale=(
                    databricks.ClusterAutoscaleArgs(
                        min_workers=spec.autoscale.min_workers,
                        max_workers=spec.autoscale.max_workers,
                    )
                    if spec.autoscale
                    else None
                ),
                autotermination_minutes=args.cluster.autotermination_minutes,
                # Databricks deletes an unpinned cluster 30 days after it terminated, and
                # `pulumi up` (no refresh) would not notice: an engineer back from a month away
                # would find state pointing at nothing. Pinning costs nothing.
                is_pinned=True,
                data_security_mode="SINGLE_USER",
                single_user_name=engineer.user,
                spark_conf=spark_conf(spec) or None,
                custom_tags=cluster_tags(
                    spec, {"Owner": engineer.user, "pipeline": args.pipeline_name}
                ),
                # Inline libraries rather than `databricks.Library` resources: a Library always
                # starts its cluster and leaves it running, while the cluster resource installs
                # changed libraries on a terminated cluster and terminates it again, and a
                # library change alone never edits (restarts) a running cluster.
                libraries=[_library(uri) for uri in sorted(libraries)],
            ),
            # The library URIs are plain strings: wait for the uploads explicitly.
            opts=pulumi.ResourceOptions.merge(
                child_options(self, opts), pulumi.ResourceOptions(depends_on=uploads)
            ),
        )

        owner = (
            databricks.PermissionsAccessControlArgs(
                service_principal_name=engineer.user, permission_level=OWNER_PERMISSION
            )
            if engineer.is_service_principal
            else databricks.PermissionsAccessControlArgs(
                user_name=engineer.user, permission_level=OWNER_PERMISSION
            )
        )
        # One authoritative permissions resource per cluster: a second one would overwrite it.
        databricks.Permissions(
            f"{name}-permissions",
            databricks.PermissionsArgs(
                cluster_id=cluster.cluster_id,
                access_controls=[
                    databricks.PermissionsAccessControlArgs(
                        group_name=args.admin_group, permission_level=ADMIN_PERMISSION
                    ),
                    owner,
                ],
            ),
            opts=child_options(self, opts),
        )

        self.cluster_id = cluster.cluster_id
        self.cluster_name = cluster_name
        self.folder = folder
        self.notebook_paths = paths
        self.library_paths = libraries
        self.register_outputs(
            {
                "clusterId": self.cluster_id,
                "clusterName": self.cluster_name,
                "folder": self.folder,
                "notebookPaths": self.notebook_paths,
                "libraryPaths": self.library_paths,
            }
        )
