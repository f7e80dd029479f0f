"""The `PipelineJob` component: the stack's job and who may manage or run it.

One multi-task job (a single task, `main`) runs the live release's entry notebook on a job
cluster with the live release's libraries. The component receives paths only, so repointing it
at another release changes this job and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_databricks as databricks

from cicd.config import Access, JobSettings
from components.cluster_settings import cluster_tags, spark_conf
from components.publishing import child_options

TASK_KEY = "main"
JOB_CLUSTER_KEY = "main"


@dataclass(frozen=True)
class PipelineJobArgs:
    settings: JobSettings
    notebook_path: str
    library_paths: Sequence[str]
    access: Access | None = None
    # Tags every job run carries (merged under the configured ones), e.g. the live release.
    extra_tags: dict[str, str] | None = None


def _library(path: str) -> databricks.JobTaskLibraryArgs:
    if path.endswith(".jar"):
        return databricks.JobTaskLibraryArgs(jar=path)
    return databricks.JobTaskLibraryArgs(whl=path)


def _new_cluster(
    settings: JobSettings, tags: dict[str, str]
) -> databricks.JobJobClusterNewClusterArgs:
    cluster = settings.cluster
    autoscale = (
        databricks.JobJobClusterNewClusterAutoscaleArgs(
            min_workers=cluster.autoscale.min_workers, max_workers=cluster.autoscale.max_workers
        )
        if cluster.autoscale
        else None
    )
    return databricks.JobJobClusterNewClusterArgs(
        spark_version=cluster.spark_version,
        node_type_id=cluster.node_type,
        num_workers=cluster.num_workers,
        autoscale=autoscale,
        data_security_mode=cluster.data_security_mode.value,
        # A dedicated (single-user) job cluster belongs to the identity the job runs as.
        single_user_name=settings.run_as
        if cluster.data_security_mode.value == "SINGLE_USER"
        else None,
        spark_conf=spark_conf(cluster) or None,
        custom_tags=cluster_tags(cluster, tags) or None,
    )


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
        schedule = (
            databricks.JobScheduleArgs(
                quartz_cron_expression=settings.schedule.quartz_cron,
                timezone_id=settings.schedule.timezone,
                pause_status="PAUSED" if settings.schedule.paused else "UNPAUSED",
            )
            if settings.schedule
            else None
        )
        job = databricks.Job(
            f"{name}-job",
            databricks.JobArgs(
                name=settings.name,
                job_clusters=[
                    databricks.JobJobClusterArgs(
                        job_cluster_key=JOB_CLUSTER_KEY, new_cluster=_new_cluster(settings, tags)
                    )
                ],
                tasks=[
                    databricks.JobTaskArgs(
                        task_key=TASK_KEY,
                        job_cluster_key=JOB_CLUSTER_KEY,
                        notebook_task=databricks.JobTaskNotebookTaskArgs(
                            notebook_path=args.notebook_path,
                            source="WORKSPACE",
                            base_parameters=dict(sorted(settings.parameters.items())) or None,
                        ),
                        libraries=[_library(p) for p in sorted(args.library_paths)],
                        max_retries=settings.retries.max_retries,
                        min_retry_interval_millis=settings.retries.min_interval_millis,
                        retry_on_timeout=settings.retries.retry_on_timeout,
                        timeout_seconds=settings.timeout_seconds,
                    )
                ],
                schedule=schedule,
                timeout_seconds=settings.timeout_seconds,
                max_concurrent_runs=settings.max_concurrent_runs,
                email_notifications=(
                    databricks.JobEmailNotificationsArgs(
                        on_failures=sorted(settings.failure_emails)
                    )
                    if settings.failure_emails
                    else None
                ),
                tags=tags or None,
                run_as=(
                    databricks.JobRunAsArgs(service_principal_name=settings.run_as)
                    if settings.run_as
                    else None
                ),
            ),
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
            if args.access.run_reader:
                # Reads runs (jobs/runs/list, runs/get) for production's provenance check.
                grants.append(
                    databricks.PermissionsAccessControlArgs(
                        service_principal_name=args.access.run_reader, permission_level="CAN_VIEW"
                    )
                )
            read_only = args.access.read_only_identity
            if read_only and read_only != args.access.run_reader:
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
