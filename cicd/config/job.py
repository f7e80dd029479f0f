"""A job of the stack: `databricks-cicd:job` (the main job, key `main`) and each
`databricks-cicd:jobs.<key>`: what it runs (its tasks), on what (job clusters or serverless
environments), when (a schedule or a trigger), with which parameters, and who hears.

`databricks-cicd:job` keeps the meaning it had when a stack had one job: without `tasks` it runs
one task, `main`, the live release's entry notebook on its `cluster`. With `tasks` it is a DAG like
any other job, and `cluster` is its job cluster `main`.
"""

from __future__ import annotations

import re
import zoneinfo
from typing import Literal, Self

from pydantic import (
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from cicd.config.base import SERVICE_PRINCIPAL_ID, Model, problem
from cicd.config.cluster import ClusterSpec
from cicd.config.tasks import (
    COMPUTE_KINDS,
    EmailNotifications,
    Retries,
    TaskBody,
    TaskSpec,
    check_emails,
    check_key,
)

# The key of `databricks-cicd:job` among the stack's jobs, and of the job cluster its `cluster`
# becomes (the names the single-task job always had).
MAIN = "main"


class Schedule(Model):
    quartz_cron: StrictStr
    timezone: StrictStr = "UTC"
    paused: StrictBool = False

    @field_validator("quartz_cron")
    @classmethod
    def _quartz(cls, value: str) -> str:
        fields = value.split()
        if len(fields) not in (6, 7) or not all(
            re.fullmatch(r"[0-9A-Za-z*?/,#LW-]+", f) for f in fields
        ):
            raise ValueError(
                f"quartzCron {value!r} is not a Quartz cron expression: give 6 or 7 fields"
                " 'sec min hour day-of-month month day-of-week [year]', e.g. '0 0 2 * * ?'"
            )
        if "?" not in (fields[3], fields[5]):
            raise ValueError(
                f"quartzCron {value!r} sets both day-of-month and day-of-week: Quartz needs '?'"
                " in one of them, e.g. '0 0 2 * * ?'"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"timezone {value!r} is not a time-zone id: use one such as 'UTC' or 'Europe/Paris'"
            ) from None
        return value


class PeriodicTrigger(Model):
    interval: StrictInt = Field(ge=1)
    unit: Literal["HOURS", "DAYS", "WEEKS"]


class FileArrivalTrigger(Model):
    # A Unity Catalog volume or external location URL, e.g. '/Volumes/main/raw/landing/'.
    url: StrictStr = Field(min_length=1)
    min_time_between_triggers_seconds: StrictInt | None = Field(default=None, ge=60)
    wait_after_last_change_seconds: StrictInt | None = Field(default=None, ge=60)


class TableUpdateTrigger(Model):
    table_names: list[StrictStr] = Field(min_length=1)
    condition: Literal["ANY_UPDATED", "ALL_UPDATED"] | None = None
    min_time_between_triggers_seconds: StrictInt | None = Field(default=None, ge=60)
    wait_after_last_change_seconds: StrictInt | None = Field(default=None, ge=60)


class Trigger(Model):
    """Runs the job on a period, when files arrive, or when tables change (one of them)."""

    periodic: PeriodicTrigger | None = None
    file_arrival: FileArrivalTrigger | None = None
    table_update: TableUpdateTrigger | None = None
    paused: StrictBool = False

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        given = [k for k in ("periodic", "file_arrival", "table_update") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of periodic, fileArrival or tableUpdate"
                f" (found {len(given)}); a cron schedule goes under schedule"
            )
        return self


class Environment(Model):
    """A serverless environment: its client version and what it installs."""

    # The serverless environment version ('2', '3', ...).
    environment_version: StrictStr = "2"
    # Libraries of the release, by file-name pattern ('etl_pipeline-*.whl'); they are installed
    # from the live release's folder in the artifact store. Left out: every wheel of the release.
    libraries: list[StrictStr] | None = None


class JobSettings(Model):
    """One job: its tasks, their compute, when it runs, its parameters and who hears."""

    name: StrictStr = Field(min_length=1, max_length=100)
    # Optional override of the notebook the implied `main` task runs (only without `tasks`).
    # Each release records its own entry notebook in releases.lock.yaml, so a rollback to a
    # release whose entry has another name stays one edit; an override applies to every kept
    # release and must name a notebook of each.
    entry_notebook: StrictStr | None = None
    # The job cluster `main`. Without tasks: the cluster the implied `main` task runs on.
    cluster: ClusterSpec | None = None
    # Further job clusters by key, shared by the tasks that name them.
    job_clusters: dict[str, ClusterSpec] = Field(default_factory=dict)
    # Serverless environments by key, for wheel and Python-file tasks without a job cluster.
    environments: dict[str, Environment] = Field(default_factory=dict)
    # The DAG. Left out: one task, `main`, running the release's entry notebook on `cluster`.
    tasks: list[TaskSpec] | None = None
    schedule: Schedule | None = None
    trigger: Trigger | None = None
    timeout_seconds: StrictInt = Field(default=3600, ge=60, le=172_800)
    # Every task's retries unless the task sets its own.
    retries: Retries = Field(default_factory=Retries)
    max_concurrent_runs: StrictInt = Field(default=1, ge=1, le=1000)
    failure_emails: list[StrictStr] = Field(default_factory=list)
    email_notifications: EmailNotifications = Field(default_factory=EmailNotifications)
    tags: dict[str, StrictStr] = Field(default_factory=dict)
    # Base parameters of every notebook task (a task's own parameters win).
    parameters: dict[str, StrictStr] = Field(default_factory=dict)
    # Job-level parameters (name -> default), referenced in tasks as {{job.parameters.<name>}}.
    job_parameters: dict[str, StrictStr] = Field(default_factory=dict)
    # The SQL warehouse of SQL-file tasks that name none.
    warehouse_id: StrictStr | None = None
    # Application id of the service principal the job runs as.
    run_as: StrictStr | None = None

    @field_validator("entry_notebook")
    @classmethod
    def _relative_notebook(cls, value: str | None) -> str | None:
        # Dots and spaces are fine ('01.5-Delta-pipeline', '1. setup'): whether the name is a
        # notebook of the release is checked against its content (cicd.releases.inputs).
        if value is not None and (
            not value.strip() or value.startswith("/") or {"", ".", ".."} & set(value.split("/"))
        ):
            raise ValueError(
                f"entryNotebook {value!r} must be a notebook path inside the release, relative"
                " and without extension, e.g. 'main' or 'jobs/01.5-daily'; or leave it out to"
                " run each release's own entry notebook (recorded in releases.lock.yaml)"
            )
        return value

    @field_validator("failure_emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        return check_emails(value, "failureEmails")

    @field_validator("job_clusters", "environments")
    @classmethod
    def _keys(cls, value: dict[str, object]) -> dict[str, object]:
        for key in value:
            check_key(key, "key")
        return value

    @field_validator("run_as")
    @classmethod
    def _service_principal(cls, value: str | None) -> str | None:
        if value is not None and not SERVICE_PRINCIPAL_ID.match(value):
            raise ValueError(
                f"runAs {value!r} is not a service principal application id: give its UUID,"
                " e.g. '6f1c2a9e-0000-4000-8000-000000000000' (jobs run as a service identity)"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[InitErrorDetails] = []
        if self.schedule is not None and self.trigger is not None:
            problems.append(
                problem(("trigger",), None, "schedule and trigger are both set: keep one of them")
            )
        if self.cluster is not None and MAIN in self.job_clusters:
            problems.append(
                problem(
                    ("jobClusters", MAIN),
                    MAIN,
                    f"cluster is already the job cluster {MAIN!r}: rename this one or drop cluster",
                )
            )
        if self.tasks is None:
            if self.cluster is None and self.job_clusters:
                problems.append(
                    problem(
                        ("cluster",),
                        None,
                        "is missing: without tasks the job runs its entry notebook on cluster"
                        " (jobClusters is for tasks that name them)",
                    )
                )
        else:
            if self.entry_notebook is not None:
                problems.append(
                    problem(
                        ("entryNotebook",),
                        self.entry_notebook,
                        "names the notebook of the implied task 'main'; with tasks, give each"
                        " notebook task its notebook.path instead",
                    )
                )
            problems.extend(self._task_problems(self.tasks))
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self

    def clusters(self) -> dict[str, ClusterSpec]:
        """Every job cluster by key (`cluster` is `main`), sorted."""
        found = dict(self.job_clusters)
        if self.cluster is not None:
            found[MAIN] = self.cluster
        return dict(sorted(found.items()))

    def implied_task(self, entry_notebook: str) -> TaskSpec:
        """The one task a job without `tasks` runs: the release's entry notebook, with the job's
        retries and timeout (as the single-task job always had)."""
        return TaskSpec.model_validate(
            {
                "taskKey": MAIN,
                "notebook": {"path": entry_notebook},
                "timeoutSeconds": self.timeout_seconds,
                **({"jobCluster": MAIN} if self.cluster is not None else {}),
            }
        )

    def compute_of(self, task: TaskBody) -> tuple[str | None, str | None]:
        """(job cluster key, environment key) the task runs on; both None: serverless with the
        notebook's own environment, or no compute (condition, pipeline, run-job, SQL)."""
        if task.kind not in COMPUTE_KINDS:
            return None, None
        if task.job_cluster or task.environment:
            return task.job_cluster, task.environment
        clusters = self.clusters()
        if len(clusters) == 1:
            return next(iter(clusters)), None
        if not clusters and task.kind != "notebook" and len(self.environments) == 1:
            return None, next(iter(self.environments))
        return None, None

    def _task_problems(self, tasks: list[TaskSpec]) -> list[InitErrorDetails]:
        problems: list[InitErrorDetails] = []
        keys: dict[str, TaskSpec] = {}
        for index, task in enumerate(tasks):
            inner = [task.for_each.task] if task.for_each is not None else []
            for body in (task, *inner):
                if body.task_key in keys or (body is not task and body.task_key == task.task_key):
                    problems.append(
                        problem(
                            ("tasks", index, "taskKey"),
                            body.task_key,
                            f"taskKey {body.task_key!r} is used twice: task keys are unique",
                        )
                    )
                keys.setdefault(body.task_key, task)
        clusters = self.clusters()
        for index, task in enumerate(tasks):
            for dependency in task.dependencies():
                if dependency.task_key not in keys or dependency.task_key == task.task_key:
                    problems.append(
                        problem(
                            ("tasks", index, "dependsOn"),
                            dependency.task_key,
                            f"task {task.task_key!r} depends on {dependency.task_key!r}, which is"
                            f" not another task of this job (tasks: {', '.join(sorted(keys))})",
                        )
                    )
                elif dependency.outcome and keys[dependency.task_key].kind != "condition":
                    problems.append(
                        problem(
                            ("tasks", index, "dependsOn"),
                            dependency.task_key,
                            f"task {task.task_key!r} follows outcome {dependency.outcome!r} of"
                            f" {dependency.task_key!r}, which is not a condition task",
                        )
                    )
            bodies = (task, task.for_each.task) if task.for_each else (task,)
            for body in bodies:
                text = self._compute_problem(body, clusters)
                if text:
                    problems.append(problem(("tasks", index), body.task_key, text))
        cycle = find_cycle({t.task_key: [d.task_key for d in t.dependencies()] for t in tasks})
        if cycle:
            problems.append(
                problem(
                    ("tasks",),
                    None,
                    f"tasks depend on each other in a cycle: {' -> '.join(cycle)}; a job is a DAG",
                )
            )
        return problems

    def _compute_problem(self, task: TaskBody, clusters: dict[str, ClusterSpec]) -> str | None:
        where = f"task {task.task_key!r}"
        if task.job_cluster and task.job_cluster not in clusters:
            return (
                f"{where} names jobCluster {task.job_cluster!r}; the job's job clusters are:"
                f" {', '.join(clusters) or 'none (set cluster or jobClusters)'}"
            )
        if task.environment and task.environment not in self.environments:
            return (
                f"{where} names environment {task.environment!r}; the job's environments are:"
                f" {', '.join(sorted(self.environments)) or 'none (set environments)'}"
            )
        if task.kind == "sql_file" and not (
            (task.sql_file and task.sql_file.warehouse_id) or self.warehouse_id
        ):
            return (
                f"{where} runs a SQL file on no warehouse: set sqlFile.warehouseId or the job's"
                " warehouseId"
            )
        if task.kind not in COMPUTE_KINDS:
            return None
        cluster, environment = self.compute_of(task)
        if (
            cluster is None
            and environment is None
            and not (task.kind == "notebook" and not clusters)
        ):
            if clusters:
                return (
                    f"{where} names no jobCluster and the job has several"
                    f" ({', '.join(clusters)}): name one"
                )
            return (
                f"{where} ({task.kind}) runs serverless and needs an environment: name one of the"
                f" job's environments ({', '.join(sorted(self.environments)) or 'none: add environments'})"
            )
        if cluster is None and task.libraries:
            return (
                f"{where} lists libraries but runs serverless: serverless tasks install from"
                " their environment; move the patterns to environments.<key>.libraries"
            )
        return None


def find_cycle(graph: dict[str, list[str]]) -> list[str]:
    """One cycle of a dependency graph (as a path that returns to its start), or []."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, [])):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt in graph and state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if state.get(start) is None:
            found = visit(start)
            if found:
                return found
    return []
