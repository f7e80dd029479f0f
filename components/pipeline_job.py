"""The `PipelineJob` component: one job of the stack and who may manage or run it.

A job of the stack runs the live release: its tasks' notebooks, files and libraries are paths
into that release's folders (`components.job_definition`). The component receives the release's
location only, so repointing it at another release changes this job and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_databricks as databricks

from cicd.config import Access, JobSettings
from components.job_definition import JobTargets, job_arguments
from components.publishing import child_options


@dataclass(frozen=True)
class PipelineJobArgs:
    settings: JobSettings
    targets: JobTargets
    access: Access | None = None
    # Tags every job run carries (merged under the configured ones), e.g. the live release.
    extra_tags: dict[str, str] | None = None
    # Run-as identities of the jobs whose run_job tasks start this one (CAN MANAGE RUN).
    starters: tuple[str, ...] = ()


class PipelineJob(pulumi.ComponentResource):
    """Owns the job (and its permissions when the stack names an admin group)."""

    job_id: pulumi.Output[str]
    job_url: pulumi.Output[str]

    def __init__(
        self, name: str, args: PipelineJobArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("databricks-cicd:pipeline_job:PipelineJob", name, None, opts)
        settings = args.settings
        tags = dict(sorted({**(args.extra_tags or {}), **settings.tags}.items()))
        job = databricks.Job(
            f"{name}-job",
            job_arguments(settings, args.targets, tags),
            # The job must not point at files before they are uploaded.
            opts=child_options(self, opts),
        )
        if args.access is not None:
            grants = [
                databricks.PermissionsAccessControlArgs(
                    group_name=args.access.admin_group, permission_level="CAN_MANAGE"
                ),
                # A job has exactly one owner; naming the deploy identity keeps the provider from
                # adding the caller as IS_OWNER beside a CAN_MANAGE entry for the same principal.
                databricks.PermissionsAccessControlArgs(
                    service_principal_name=args.access.deploy_identity,
                    permission_level="IS_OWNER",
                ),
            ]
            if args.access.operators_group:
                grants.append(
                    databricks.PermissionsAccessControlArgs(
                        group_name=args.access.operators_group, permission_level="CAN_MANAGE_RUN"
                    )
                )
            # One entry per principal: a starter's CAN_MANAGE_RUN already lets it view.
            if args.access.run_reader and args.access.run_reader not in args.starters:
                # Reads runs (jobs/runs/list, runs/get) for production's provenance check.
                grants.append(
                    databricks.PermissionsAccessControlArgs(
                        service_principal_name=args.access.run_reader, permission_level="CAN_VIEW"
                    )
                )
            for starter in args.starters:
                if starter != args.access.deploy_identity:
                    # A run_job task starts this job's run ("Run now") as its own job's run-as.
                    grants.append(
                        databricks.PermissionsAccessControlArgs(
                            service_principal_name=starter, permission_level="CAN_MANAGE_RUN"
                        )
                    )
            read_only = args.access.read_only_identity
            if read_only and read_only not in (args.access.run_reader, *args.starters):
                # Previews and the drift check read the job's settings back, nothing more.
                grants.append(
                    databricks.PermissionsAccessControlArgs(
                        service_principal_name=read_only, permission_level="CAN_VIEW"
                    )
                )
            # One authoritative permissions resource for the job: a second one would overwrite it.
            databricks.Permissions(
                f"{name}-permissions",
                databricks.PermissionsArgs(job_id=job.id, access_controls=grants),
                opts=child_options(self, None),
            )
        self.job_id = job.id
        self.job_url = job.url
        self.register_outputs({"jobId": self.job_id, "jobUrl": self.job_url})
