"""The `LakeflowPipeline` component: one Lakeflow Declarative Pipeline of the stack and who may
manage or run it.

The pipeline's source (notebooks, files, folder globs) and root folder are paths into the live
release's workspace folder; catalog and schema are the stack's. Like a job, it receives the
release's location only, so a rollback repoints it and changes nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_databricks as databricks

from cicd.config import Access, PipelineLibrary, PipelineSettings
from cicd.releases.references import ReleaseLocation
from components.cluster_settings import SINGLE_NODE_CONF
from components.publishing import child_options


@dataclass(frozen=True)
class LakeflowPipelineArgs:
    settings: PipelineSettings
    release: ReleaseLocation
    access: Access | None = None
    # Tags the pipeline carries (merged under the configured ones), e.g. the live release.
    extra_tags: dict[str, str] | None = None
    # Run-as identities of the jobs whose tasks start an update of it (CAN RUN).
    starters: tuple[str, ...] = ()


def _library(release: ReleaseLocation, library: PipelineLibrary) -> databricks.PipelineLibraryArgs:
    if library.notebook is not None:
        return databricks.PipelineLibraryArgs(
            notebook=databricks.PipelineLibraryNotebookArgs(path=release.notebook(library.path))
        )
    if library.file is not None:
        return databricks.PipelineLibraryArgs(
            file=databricks.PipelineLibraryFileArgs(path=release.file(library.path))
        )
    return databricks.PipelineLibraryArgs(
        glob=databricks.PipelineLibraryGlobArgs(include=release.glob(library.path))
    )


def _clusters(settings: PipelineSettings) -> list[databricks.PipelineClusterArgs] | None:
    cluster = settings.cluster
    if cluster is None:
        return None
    conf = dict(SINGLE_NODE_CONF) if cluster.num_workers == 0 else {}
    conf.update(cluster.spark_conf)
    return [
        databricks.PipelineClusterArgs(
            label="default",
            node_type_id=cluster.node_type,
            num_workers=cluster.num_workers,
            autoscale=(
                databricks.PipelineClusterAutoscaleArgs(
                    min_workers=cluster.autoscale.min_workers,
                    max_workers=cluster.autoscale.max_workers,
                )
                if cluster.autoscale
                else None
            ),
            spark_conf=dict(sorted(conf.items())) or None,
        )
    ]


class LakeflowPipeline(pulumi.ComponentResource):
    """Owns the pipeline (and its permissions when the stack names an admin group)."""

    pipeline_id: pulumi.Output[str]
    pipeline_url: pulumi.Output[str]

    def __init__(
        self, name: str, args: LakeflowPipelineArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("databricks-cicd:lakeflow_pipeline:LakeflowPipeline", name, None, opts)
        settings = args.settings
        release = args.release
        tags = dict(sorted({**(args.extra_tags or {}), **settings.tags}.items()))
        notifications = settings.notifications
        pipeline = databricks.Pipeline(
            f"{name}-pipeline",
            databricks.PipelineArgs(
                name=settings.name,
                catalog=settings.catalog,
                schema=settings.schema_,
                libraries=[
                    _library(release, library)
                    for library in sorted(settings.libraries, key=lambda lib: lib.path)
                ],
                root_path=release.root(settings.root_path),
                serverless=settings.serverless or None,
                clusters=_clusters(settings),
                environment=(
                    databricks.PipelineEnvironmentArgs(
                        dependencies=release.library_paths(
                            settings.environment.libraries, wheels_only=True
                        )
                    )
                    if settings.environment
                    else None
                ),
                photon=settings.photon,
                edition=settings.edition,
                continuous=settings.continuous,
                development=settings.development,
                channel=settings.channel,
                configuration=dict(sorted(settings.configuration.items())) or None,
                notifications=(
                    [
                        databricks.PipelineNotificationArgs(
                            email_recipients=sorted(notifications.emails),
                            alerts=sorted(notifications.alerts),
                        )
                    ]
                    if notifications
                    else None
                ),
                tags=tags or None,
                run_as=(
                    databricks.PipelineRunAsArgs(service_principal_name=settings.run_as)
                    if settings.run_as
                    else None
                ),
            ),
            # The pipeline must not point at files before they are uploaded.
            opts=child_options(self, opts),
        )
        if args.access is not None:
            access = args.access
            grants = [
                databricks.PermissionsAccessControlArgs(
                    group_name=access.admin_group, permission_level="CAN_MANAGE"
                ),
                # One owner, the deploy identity (as for jobs).
                databricks.PermissionsAccessControlArgs(
                    service_principal_name=access.deploy_identity, permission_level="IS_OWNER"
                ),
            ]
            if access.operators_group:
                # Start and stop updates (a full refresh on call), nothing more.
                grants.append(
                    databricks.PermissionsAccessControlArgs(
                        group_name=access.operators_group, permission_level="CAN_RUN"
                    )
                )
            for starter in args.starters:
                if starter != access.deploy_identity:
                    # "Pipeline updates can be run by any user or service principal with CAN RUN":
                    # a job's pipeline task starts one as the job's run-as identity.
                    grants.append(
                        databricks.PermissionsAccessControlArgs(
                            service_principal_name=starter, permission_level="CAN_RUN"
                        )
                    )
            if access.read_only_identity and access.read_only_identity not in args.starters:
                # Previews and the drift check read the pipeline's settings back.
                grants.append(
                    databricks.PermissionsAccessControlArgs(
                        service_principal_name=access.read_only_identity,
                        permission_level="CAN_VIEW",
                    )
                )
            # One authoritative permissions resource per pipeline.
            databricks.Permissions(
                f"{name}-permissions",
                databricks.PermissionsArgs(pipeline_id=pipeline.id, access_controls=grants),
                opts=child_options(self, None),
            )
        self.pipeline_id = pipeline.id
        self.pipeline_url = pipeline.url
        self.register_outputs({"pipelineId": self.pipeline_id, "pipelineUrl": self.pipeline_url})
