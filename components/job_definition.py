"""A job's settings as the provider takes them: `JobSettings` with one release's paths filled in.

Not a component: `PipelineJob` registers the job, this module only computes its arguments. Every
path comes from a `ReleaseLocation`, so the same settings pointed at another release differ in
those paths (and the `release` tag) and nothing else. Lists the API treats as sets are sorted
(tasks by key, as the provider stores them; clusters, environments, parameters by name), so
reordering the stack config changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_databricks as databricks

from cicd.config import ClusterSpec, JobSettings, TaskBody, TaskSpec
from cicd.config.job import Environment
from cicd.config.tasks import EmailNotifications
from cicd.releases.references import ReleaseLocation
from components.cluster_settings import cluster_tags, spark_conf


@dataclass(frozen=True)
class _TaskKinds:
    """The provider's argument classes for a task: a top-level task and a for-each's inner task
    have the same fields under different class names."""

    task: Callable[..., Any]
    notebook: Callable[..., Any]
    wheel: Callable[..., Any]
    python: Callable[..., Any]
    sql: Callable[..., Any]
    sql_file: Callable[..., Any]
    pipeline: Callable[..., Any]
    run_job: Callable[..., Any]
    condition: Callable[..., Any]
    library: Callable[..., Any]
    depends_on: Callable[..., Any]
    email: Callable[..., Any]


_TOP = _TaskKinds(
    databricks.JobTaskArgs,
    databricks.JobTaskNotebookTaskArgs,
    databricks.JobTaskPythonWheelTaskArgs,
    databricks.JobTaskSparkPythonTaskArgs,
    databricks.JobTaskSqlTaskArgs,
    databricks.JobTaskSqlTaskFileArgs,
    databricks.JobTaskPipelineTaskArgs,
    databricks.JobTaskRunJobTaskArgs,
    databricks.JobTaskConditionTaskArgs,
    databricks.JobTaskLibraryArgs,
    databricks.JobTaskDependsOnArgs,
    databricks.JobTaskEmailNotificationsArgs,
)
_INNER = _TaskKinds(
    databricks.JobTaskForEachTaskTaskArgs,
    databricks.JobTaskForEachTaskTaskNotebookTaskArgs,
    databricks.JobTaskForEachTaskTaskPythonWheelTaskArgs,
    databricks.JobTaskForEachTaskTaskSparkPythonTaskArgs,
    databricks.JobTaskForEachTaskTaskSqlTaskArgs,
    databricks.JobTaskForEachTaskTaskSqlTaskFileArgs,
    databricks.JobTaskForEachTaskTaskPipelineTaskArgs,
    databricks.JobTaskForEachTaskTaskRunJobTaskArgs,
    databricks.JobTaskForEachTaskTaskConditionTaskArgs,
    databricks.JobTaskForEachTaskTaskLibraryArgs,
    databricks.JobTaskForEachTaskTaskDependsOnArgs,
    databricks.JobTaskForEachTaskTaskEmailNotificationsArgs,
)


@dataclass(frozen=True)
class JobTargets:
    """What a job's tasks point at: the release they run and the stack's other jobs and pipelines."""

    release: ReleaseLocation
    # The notebook the implied `main` task runs (a job without tasks).
    entry_notebook: str
    job_ids: Mapping[str, pulumi.Input[str]]
    pipeline_ids: Mapping[str, pulumi.Input[str]]


def _library(kinds: _TaskKinds, path: str) -> Any:
    return kinds.library(jar=path) if path.endswith(".jar") else kinds.library(whl=path)


def _emails(kinds: _TaskKinds, notes: EmailNotifications | None) -> Any:
    if notes is None or notes.is_empty():
        return None
    return kinds.email(
        on_starts=sorted(notes.on_start) or None,
        on_successes=sorted(notes.on_success) or None,
        on_failures=sorted(notes.on_failure) or None,
        on_duration_warning_threshold_exceededs=(
            sorted(notes.on_duration_warning_threshold_exceeded) or None
        ),
        no_alert_for_skipped_runs=notes.no_alert_for_skipped_runs,
    )


def _what_it_runs(
    kinds: _TaskKinds, settings: JobSettings, task: TaskBody, targets: JobTargets
) -> dict[str, Any]:
    release = targets.release
    if getattr(task, "for_each", None) is not None:
        return {}  # what a for-each runs is its inner task's (`_top_task`)
    if task.notebook is not None:
        parameters = {**settings.parameters, **task.notebook.parameters}
        return {
            "notebook_task": kinds.notebook(
                notebook_path=release.notebook(task.notebook.path),
                source="WORKSPACE",
                base_parameters=dict(sorted(parameters.items())) or None,
                warehouse_id=task.notebook.warehouse_id,
            )
        }
    if task.python_wheel is not None:
        wheel = task.python_wheel
        return {
            "python_wheel_task": kinds.wheel(
                package_name=wheel.package_name,
                entry_point=wheel.entry_point,
                parameters=wheel.parameters,
                named_parameters=(
                    dict(sorted(wheel.named_parameters.items()))
                    if wheel.named_parameters is not None
                    else None
                ),
            )
        }
    if task.spark_python_file is not None:
        return {
            "spark_python_task": kinds.python(
                python_file=release.file(task.spark_python_file.path),
                source="WORKSPACE",
                parameters=task.spark_python_file.parameters or None,
            )
        }
    if task.sql_file is not None:
        sql = task.sql_file
        return {
            "sql_task": kinds.sql(
                warehouse_id=sql.warehouse_id or settings.warehouse_id,
                file=kinds.sql_file(path=release.file(sql.path), source="WORKSPACE"),
                parameters=dict(sorted(sql.parameters.items())) or None,
            )
        }
    if task.pipeline is not None:
        return {
            "pipeline_task": kinds.pipeline(
                pipeline_id=targets.pipeline_ids[task.pipeline.pipeline],
                full_refresh=task.pipeline.full_refresh or None,
            )
        }
    if task.run_job is not None:
        return {
            "run_job_task": kinds.run_job(
                job_id=pulumi.Output.from_input(targets.job_ids[task.run_job.job]).apply(int),
                job_parameters=dict(sorted(task.run_job.job_parameters.items())) or None,
            )
        }
    assert task.condition is not None  # TaskBody has exactly one kind
    return {
        "condition_task": kinds.condition(
            left=task.condition.left, op=task.condition.op.value, right=task.condition.right
        )
    }


def _task(
    kinds: _TaskKinds, settings: JobSettings, task: TaskBody, targets: JobTargets
) -> dict[str, Any]:
    """The keyword arguments of one task (without for_each_task)."""
    cluster_key, environment_key = settings.compute_of(task)
    libraries = None
    if cluster_key is not None:
        # Classic compute installs the release's libraries on the task (default: all of them).
        paths = targets.release.library_paths(task.libraries)
        libraries = [_library(kinds, p) for p in paths]
    retries = task.retries or settings.retries
    dependencies = sorted(task.dependencies(), key=lambda d: (d.task_key, d.outcome or ""))
    return {
        "task_key": task.task_key,
        **_what_it_runs(kinds, settings, task, targets),
        "job_cluster_key": cluster_key,
        "environment_key": environment_key,
        "libraries": libraries,
        "depends_ons": [
            kinds.depends_on(task_key=d.task_key, outcome=d.outcome) for d in dependencies
        ]
        or None,
        "run_if": task.run_if.value if task.run_if else None,
        "max_retries": retries.max_retries,
        "min_retry_interval_millis": retries.min_interval_millis,
        "retry_on_timeout": retries.retry_on_timeout,
        "timeout_seconds": task.timeout_seconds,
        "email_notifications": _emails(kinds, task.email_notifications),
        "disabled": task.disabled or None,
    }


def _top_task(settings: JobSettings, task: TaskSpec, targets: JobTargets) -> databricks.JobTaskArgs:
    arguments = _task(_TOP, settings, task, targets)
    if task.for_each is not None:
        inner = task.for_each.task
        # A for-each task runs nothing itself: its retries and compute belong to the inner task.
        for field in ("max_retries", "min_retry_interval_millis", "retry_on_timeout"):
            arguments[field] = None
        arguments["for_each_task"] = databricks.JobTaskForEachTaskArgs(
            inputs=task.for_each.inputs,
            concurrency=task.for_each.concurrency,
            task=_INNER.task(**_task(_INNER, settings, inner, targets)),
        )
    result: databricks.JobTaskArgs = _TOP.task(**arguments)
    return result


def _new_cluster(
    cluster: ClusterSpec, run_as: str | None, tags: dict[str, str]
) -> databricks.JobJobClusterNewClusterArgs:
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
        single_user_name=run_as if cluster.data_security_mode.value == "SINGLE_USER" else None,
        spark_conf=spark_conf(cluster) or None,
        custom_tags=cluster_tags(cluster, tags) or None,
    )


def _environment(
    key: str, environment: Environment, release: ReleaseLocation
) -> databricks.JobEnvironmentArgs:
    wheels = release.library_paths(environment.libraries, wheels_only=True)
    return databricks.JobEnvironmentArgs(
        environment_key=key,
        spec=databricks.JobEnvironmentSpecArgs(
            environment_version=environment.environment_version,
            dependencies=wheels or None,
        ),
    )


def _trigger(settings: JobSettings) -> databricks.JobTriggerArgs | None:
    trigger = settings.trigger
    if trigger is None:
        return None
    periodic = file_arrival = table_update = None
    if trigger.periodic is not None:
        periodic = databricks.JobTriggerPeriodicArgs(
            interval=trigger.periodic.interval, unit=trigger.periodic.unit
        )
    if trigger.file_arrival is not None:
        arrival = trigger.file_arrival
        file_arrival = databricks.JobTriggerFileArrivalArgs(
            url=arrival.url,
            min_time_between_triggers_seconds=arrival.min_time_between_triggers_seconds,
            wait_after_last_change_seconds=arrival.wait_after_last_change_seconds,
        )
    if trigger.table_update is not None:
        update = trigger.table_update
        table_update = databricks.JobTriggerTableUpdateArgs(
            table_names=sorted(update.table_names),
            condition=update.condition,
            min_time_between_triggers_seconds=update.min_time_between_triggers_seconds,
            wait_after_last_change_seconds=update.wait_after_last_change_seconds,
        )
    return databricks.JobTriggerArgs(
        periodic=periodic,
        file_arrival=file_arrival,
        table_update=table_update,
        pause_status="PAUSED" if trigger.paused else "UNPAUSED",
    )


def _job_emails(settings: JobSettings) -> databricks.JobEmailNotificationsArgs | None:
    notes = settings.email_notifications
    on_failure = sorted({*settings.failure_emails, *notes.on_failure})
    if not on_failure and notes.is_empty():
        return None
    return databricks.JobEmailNotificationsArgs(
        on_starts=sorted(notes.on_start) or None,
        on_successes=sorted(notes.on_success) or None,
        on_failures=on_failure or None,
        on_duration_warning_threshold_exceededs=(
            sorted(notes.on_duration_warning_threshold_exceeded) or None
        ),
        no_alert_for_skipped_runs=notes.no_alert_for_skipped_runs,
    )


def job_arguments(
    settings: JobSettings, targets: JobTargets, tags: dict[str, str]
) -> databricks.JobArgs:
    """The provider arguments of a job running `targets.release`."""
    tasks = (
        settings.tasks
        if settings.tasks is not None
        else [settings.implied_task(targets.entry_notebook)]
    )
    schedule = (
        databricks.JobScheduleArgs(
            quartz_cron_expression=settings.schedule.quartz_cron,
            timezone_id=settings.schedule.timezone,
            pause_status="PAUSED" if settings.schedule.paused else "UNPAUSED",
        )
        if settings.schedule
        else None
    )
    clusters = settings.clusters()
    return databricks.JobArgs(
        name=settings.name,
        job_clusters=[
            databricks.JobJobClusterArgs(
                job_cluster_key=key, new_cluster=_new_cluster(cluster, settings.run_as, tags)
            )
            for key, cluster in clusters.items()
        ]
        or None,
        environments=[
            _environment(key, environment, targets.release)
            for key, environment in sorted(settings.environments.items())
        ]
        or None,
        tasks=[
            _top_task(settings, task, targets) for task in sorted(tasks, key=lambda t: t.task_key)
        ],
        schedule=schedule,
        trigger=_trigger(settings),
        timeout_seconds=settings.timeout_seconds,
        max_concurrent_runs=settings.max_concurrent_runs,
        email_notifications=_job_emails(settings),
        parameters=[
            databricks.JobParameterArgs(name=name, default=default)
            for name, default in sorted(settings.job_parameters.items())
        ]
        or None,
        tags=tags or None,
        run_as=(
            databricks.JobRunAsArgs(service_principal_name=settings.run_as)
            if settings.run_as
            else None
        ),
    )
