"""The `DevEnvironment` component: one engineer's own environment in the dev/staging workspace.

The shared stack owns the environment, never the work in it. For one engineer (a workspace user,
or a service principal by application id) it owns:
- a cluster policy of their own that holds, in the workspace itself, what code review decided:
  single-user access mode with them as the single user, the runtime, the node type, workers
  and idle timeout within the stack's caps, and no init script, SSH key, Docker image, pool,
  Photon or instance credentials (`components.dev_policy`);
- a cluster only they use, created under that policy, small and always terminating itself when
  idle, pinned; no library attached (their builds are theirs: `python -m cicd.dev push`);
- permissions: the engineer CAN_MANAGE on their cluster (the Libraries API needs it to install
  their build; the policy keeps the caps whatever they click) and CAN_USE on their policy; the
  admin group manages the cluster; the stack's read-only principal (previews, drift check) may
  read the cluster (CAN_ATTACH_TO: on a single-user cluster it cannot run anything), the folder
  (CAN_READ) and the dev volume (READ VOLUME), what a refresh of them reads; nobody else is
  granted anything;
- their personal folder `/Users/<user>/<pipeline>` itself, never a notebook in it;
- for a volume artifact store, their dev location: a volume of their own beside the releases'
  volume, which they alone may read and write (plus USE CATALOG / USE SCHEMA to reach it).

The folder and the dev volume are kept when the engineer is removed from the config
(`retain_on_delete`): what is in them is the engineer's work.

Every name derives from the engineer's slug, never from a position in the config's list, so
adding, removing or reordering engineers touches nobody else's resources.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_databricks as databricks

from cicd.config import (
    ArtifactStore,
    Cloud,
    DevCaps,
    DevCluster,
    DevEngineer,
    DevLocation,
    dev_cluster_name,
    dev_location,
    personal_folder,
)
from components.cluster_settings import cluster_tags, spark_conf
from components.dev_policy import policy_json
from components.publishing import child_options

# Attaching a library with the Libraries API needs CAN_MANAGE on the cluster (CAN_RESTART may
# start, restart and attach notebooks only). What CAN_MANAGE would also allow, editing the
# cluster past the caps, the cluster policy refuses.
OWNER_PERMISSION = "CAN_MANAGE"
ADMIN_PERMISSION = "CAN_MANAGE"
# The only permission level of a cluster policy: create or edit clusters under it.
POLICY_PERMISSION = "CAN_USE"
# Read their builds (the cluster installs them as the engineer) and write new ones (`dev push`).
DEV_VOLUME_PRIVILEGES = ("READ_VOLUME", "WRITE_VOLUME")


@dataclass(frozen=True)
class DevEnvironmentArgs:
    """One engineer's inputs, all validated before the program registers anything."""

    engineer: DevEngineer
    # Effective settings: the stack's defaults with the engineer's overrides, within the caps.
    cluster: DevCluster
    caps: DevCaps
    admin_group: str
    pipeline_name: str
    artifact_store: ArtifactStore
    # The workspace's cloud (from databricks:host): which cloud-only attributes the policy forbids.
    cloud: Cloud | None = None
    # The stack's read-only principal (access.readOnlyIdentity), granted what a refresh reads.
    reader: str | None = None


def _grantee(engineer: DevEngineer, level: str) -> databricks.PermissionsAccessControlArgs:
    if engineer.is_service_principal:
        return databricks.PermissionsAccessControlArgs(
            service_principal_name=engineer.user, permission_level=level
        )
    return databricks.PermissionsAccessControlArgs(user_name=engineer.user, permission_level=level)


# The lowest compute permission: view the cluster, its metrics and Spark UI. Attaching a notebook
# to a single-user (dedicated) cluster runs nothing for anyone but its single user.
READER_CLUSTER_PERMISSION = "CAN_ATTACH_TO"
# List the folder and read (export) what is in it: what a refresh of the Directory reads.
READER_FOLDER_PERMISSION = "CAN_READ"
# Read the volume's metadata (volumes/get needs READ VOLUME, or ownership) and its files.
READER_VOLUME_PRIVILEGES = ("READ_VOLUME",)


def _reader(reader: str, level: str) -> databricks.PermissionsAccessControlArgs:
    return databricks.PermissionsAccessControlArgs(
        service_principal_name=reader, permission_level=level
    )


class DevEnvironment(pulumi.ComponentResource):
    """Owns one engineer's policy, cluster, their permissions, folder and dev location."""

    cluster_id: pulumi.Output[str]
    policy_id: pulumi.Output[str]
    cluster_name: str
    folder: str
    dev_location: str

    def __init__(
        self, name: str, args: DevEnvironmentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("databricks-cicd:dev_environment:DevEnvironment", name, None, opts)
        engineer = args.engineer
        cluster_name = dev_cluster_name(args.pipeline_name, engineer.slug)
        kept = pulumi.ResourceOptions.merge(
            child_options(self, opts), pulumi.ResourceOptions(retain_on_delete=True)
        )

        folder = personal_folder(engineer.user, args.pipeline_name)
        # The folder only: the notebooks in it are the engineer's (`cicd.dev push|pull`). A
        # folder that already exists is adopted as it is (mkdirs), and it is never deleted.
        directory = databricks.Directory(
            f"{name}-folder", databricks.DirectoryArgs(path=folder), opts=kept
        )
        if args.reader:
            # Authoritative on this folder's direct grants: the engineer's own CAN_MANAGE is
            # inherited from their home folder and stays; share from the home folder instead.
            databricks.Permissions(
                f"{name}-folder-permissions",
                databricks.PermissionsArgs(
                    directory_path=directory.path,
                    access_controls=[_reader(args.reader, READER_FOLDER_PERMISSION)],
                ),
                opts=child_options(self, opts),
            )

        policy = databricks.ClusterPolicy(
            f"{name}-policy",
            databricks.ClusterPolicyArgs(
                name=cluster_name,
                description=f"Dev cluster of {engineer.user} ({args.pipeline_name}); set by the"
                " shared stack's developers config",
                definition=policy_json(engineer, args.cluster, args.caps, args.cloud),
                # Their cluster, plus at most one they create themselves under the same caps.
                max_clusters_per_user=1,
            ),
            opts=child_options(self, opts),
        )
        databricks.Permissions(
            f"{name}-policy-permissions",
            databricks.PermissionsArgs(
                cluster_policy_id=policy.id,
                access_controls=[_grantee(engineer, POLICY_PERMISSION)],
            ),
            opts=child_options(self, opts),
        )

        spec = args.cluster.spec
        cluster = databricks.Cluster(
            f"{name}-cluster",
            databricks.ClusterArgs(
                cluster_name=cluster_name,
                policy_id=policy.id,
                spark_version=spec.spark_version,
                node_type_id=spec.node_type,
                driver_node_type_id=spec.node_type,
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
                # The policy fixes it (Photon bills more); set here so the request complies as sent.
                runtime_engine="STANDARD",
                spark_conf=spark_conf(spec) or None,
                custom_tags=cluster_tags(
                    spec, {"Owner": engineer.user, "pipeline": args.pipeline_name}
                ),
                # No `libraries`: with none configured the provider neither reads nor changes
                # the cluster's libraries, so a deploy never uninstalls the engineer's build.
            ),
            opts=child_options(self, opts),
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
                    _grantee(engineer, OWNER_PERMISSION),
                    *([_reader(args.reader, READER_CLUSTER_PERMISSION)] if args.reader else []),
                ],
            ),
            opts=child_options(self, opts),
        )

        location = dev_location(args.artifact_store, engineer, args.pipeline_name)
        if location.volume is not None:
            self._dev_volume(name, engineer, location, kept, opts, args.reader)

        self.cluster_id = cluster.cluster_id
        self.policy_id = policy.id
        self.cluster_name = cluster_name
        self.folder = folder
        self.dev_location = location.path
        self.register_outputs(
            {
                "clusterId": self.cluster_id,
                "policyId": self.policy_id,
                "clusterName": self.cluster_name,
                "folder": self.folder,
                "devLocation": self.dev_location,
            }
        )

    def _dev_volume(
        self,
        name: str,
        engineer: DevEngineer,
        location: DevLocation,
        kept: pulumi.ResourceOptions,
        opts: pulumi.ResourceOptions | None,
        reader: str | None,
    ) -> None:
        """The engineer's volume, readable and writable by them alone (its owner, the deploy
        identity, and metastore admins hold every right anyway), and the two privileges
        without which Unity Catalog lets nobody reach an object: USE CATALOG, USE SCHEMA."""
        catalog, schema, volume_name = location.catalog, location.schema, location.volume
        assert catalog and schema and volume_name
        volume = databricks.Volume(
            f"{name}-dev-volume",
            databricks.VolumeArgs(
                catalog_name=catalog,
                schema_name=schema,
                name=volume_name,
                volume_type="MANAGED",
                comment=f"Dev builds of {engineer.user}; written by `python -m cicd.dev push`",
            ),
            opts=kept,
        )
        after_volume = pulumi.ResourceOptions.merge(
            child_options(self, opts), pulumi.ResourceOptions(depends_on=[volume])
        )
        # Authoritative on this volume, which the stack owns: nobody else is granted it (the
        # read-only principal reads it, what a refresh of the volume needs).
        databricks.Grants(
            f"{name}-dev-volume-grants",
            databricks.GrantsArgs(
                volume=f"{catalog}.{schema}.{volume_name}",
                grants=[
                    databricks.GrantsGrantArgs(
                        principal=engineer.user, privileges=list(DEV_VOLUME_PRIVILEGES)
                    ),
                    *(
                        [
                            databricks.GrantsGrantArgs(
                                principal=reader, privileges=list(READER_VOLUME_PRIVILEGES)
                            )
                        ]
                        if reader
                        else []
                    ),
                ],
            ),
            opts=after_volume,
        )
        # `Grant` (singular) manages this engineer's own privileges on the shared catalog and
        # schema only; everyone else's grants there are left as they are.
        databricks.Grant(
            f"{name}-use-catalog",
            databricks.GrantArgs(
                principal=engineer.user, catalog=catalog, privileges=["USE_CATALOG"]
            ),
            opts=child_options(self, opts),
        )
        databricks.Grant(
            f"{name}-use-schema",
            databricks.GrantArgs(
                principal=engineer.user, schema=f"{catalog}.{schema}", privileges=["USE_SCHEMA"]
            ),
            opts=child_options(self, opts),
        )
