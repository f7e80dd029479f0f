"""The `ProtectedFolder` component: a workspace folder only named principals control.

Used for the production root: the admin group and the deploy identity get CAN_MANAGE, the
identity the job runs as may read and run what is inside, a read-only principal (previews, the
drift check) may read it, and nobody else is granted anything.
One authoritative `Permissions` resource owns the folder's grants (a second one would silently
overwrite the first).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_databricks as databricks

from components.publishing import child_options


@dataclass(frozen=True)
class ProtectedFolderArgs:
    path: str
    admin_group: str
    deploy_identity: str
    # Service principals the jobs run as: they must run the notebooks (CAN_RUN).
    runners: tuple[str, ...] = ()
    # Service principals the pipelines run as: they read their source (CAN_READ).
    pipeline_runners: tuple[str, ...] = ()
    # Read-only principal (previews, drift check): reads what is inside, changes nothing.
    reader: str | None = None
    # The principal production's gate reads staging with (access.runReader): it checks the
    # release it promotes against the lock, so it reads what is inside too.
    run_reader: str | None = None


class ProtectedFolder(pulumi.ComponentResource):
    """Owns the folder and its permissions."""

    path: str

    def __init__(
        self, name: str, args: ProtectedFolderArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("databricks-cicd:protected_folder:ProtectedFolder", name, None, opts)
        folder = databricks.Directory(
            f"{name}-directory",
            databricks.DirectoryArgs(path=args.path),
            opts=child_options(self, opts),
        )
        grants = [
            databricks.PermissionsAccessControlArgs(
                group_name=args.admin_group, permission_level="CAN_MANAGE"
            ),
            databricks.PermissionsAccessControlArgs(
                service_principal_name=args.deploy_identity, permission_level="CAN_MANAGE"
            ),
        ]
        runners = sorted(set(args.runners) - {args.deploy_identity})
        for runner in runners:
            grants.append(
                databricks.PermissionsAccessControlArgs(
                    service_principal_name=runner, permission_level="CAN_RUN"
                )
            )
        readers = {
            *args.pipeline_runners,
            *(r for r in (args.reader, args.run_reader) if r),
        }
        for reader in sorted(readers - {args.deploy_identity, *runners}):
            grants.append(
                databricks.PermissionsAccessControlArgs(
                    service_principal_name=reader, permission_level="CAN_READ"
                )
            )
        databricks.Permissions(
            f"{name}-permissions",
            databricks.PermissionsArgs(directory_path=folder.path, access_controls=grants),
            opts=child_options(self, opts),
        )
        self.path = args.path
        self.register_outputs({"path": self.path})
