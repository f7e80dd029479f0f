"""A job's tasks (`tasks:` of `databricks-cicd:job` and of each `databricks-cicd:jobs.<key>`).

Each task runs release content or orchestrates: a notebook of the release, a wheel entry point
of a library the release published, a Python or SQL file of the release, a pipeline or a job of
this stack, a condition, or a for-each over another task. Paths are relative to the release's
notebooks tree (`notebooks/` of the release folder), so a task never names a release: `live`
decides which one it runs. A task type or field outside this model is refused by name (the
strict model base), never dropped.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Self

from pydantic import Field, StrictBool, StrictInt, StrictStr, field_validator, model_validator

from cicd.config.base import EMAIL, Model

KEY = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def check_key(value: str, what: str) -> str:
    if not KEY.match(value):
        raise ValueError(
            f"{what} {value!r} is not a key: use letters, digits, '_' and '-' only"
            " (at most 100), e.g. 'ingest_orders'"
        )
    return value


def check_release_path(value: str, what: str, example: str) -> str:
    """A path inside the release's notebooks tree: relative, no '.', '..' or empty parts."""
    if not value.strip() or value.startswith("/") or {"", ".", ".."} & set(value.split("/")):
        raise ValueError(
            f"{what} {value!r} must be a path inside the release, relative to its notebooks"
            f" tree, e.g. {example!r}"
        )
    return value


def check_emails(value: list[str], what: str) -> list[str]:
    for address in value:
        if not EMAIL.match(address):
            raise ValueError(f"{what} entry {address!r} is not an e-mail address")
    return value


class RunIf(str, Enum):
    ALL_SUCCESS = "ALL_SUCCESS"
    ALL_DONE = "ALL_DONE"
    NONE_FAILED = "NONE_FAILED"
    AT_LEAST_ONE_SUCCESS = "AT_LEAST_ONE_SUCCESS"
    ALL_FAILED = "ALL_FAILED"
    AT_LEAST_ONE_FAILED = "AT_LEAST_ONE_FAILED"


class ConditionOp(str, Enum):
    EQUAL_TO = "EQUAL_TO"
    NOT_EQUAL = "NOT_EQUAL"
    GREATER_THAN = "GREATER_THAN"
    GREATER_THAN_OR_EQUAL = "GREATER_THAN_OR_EQUAL"
    LESS_THAN = "LESS_THAN"
    LESS_THAN_OR_EQUAL = "LESS_THAN_OR_EQUAL"


class Retries(Model):
    max_retries: StrictInt = Field(default=0, ge=0, le=10)
    min_interval_millis: StrictInt = Field(default=60_000, ge=0, le=3_600_000)
    retry_on_timeout: StrictBool = False


class EmailNotifications(Model):
    on_start: list[StrictStr] = Field(default_factory=list)
    on_success: list[StrictStr] = Field(default_factory=list)
    on_failure: list[StrictStr] = Field(default_factory=list)
    on_duration_warning_threshold_exceeded: list[StrictStr] = Field(default_factory=list)
    no_alert_for_skipped_runs: StrictBool | None = None

    @field_validator(
        "on_start", "on_success", "on_failure", "on_duration_warning_threshold_exceeded"
    )
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        return check_emails(value, "emailNotifications")

    def is_empty(self) -> bool:
        return not (
            self.on_start
            or self.on_success
            or self.on_failure
            or self.on_duration_warning_threshold_exceeded
            or self.no_alert_for_skipped_runs is not None
        )


class Dependency(Model):
    task_key: StrictStr
    # The branch of a condition task this one follows ("true" or "false").
    outcome: StrictStr | None = None

    @field_validator("outcome")
    @classmethod
    def _outcome(cls, value: str | None) -> str | None:
        if value is not None and value not in ("true", "false"):
            raise ValueError(f"outcome {value!r} must be 'true' or 'false' (a condition's branch)")
        return value


class NotebookTask(Model):
    # The notebook's path in the release without extension, e.g. 'transforms/clean_orders'.
    path: StrictStr
    # Base parameters, merged over the job's `parameters`.
    parameters: dict[str, StrictStr] = Field(default_factory=dict)
    # Runs the notebook on a SQL warehouse instead of a cluster (SQL notebooks).
    warehouse_id: StrictStr | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return check_release_path(value, "notebook path", "transforms/clean_orders")


class PythonWheelTask(Model):
    package_name: StrictStr = Field(min_length=1)
    entry_point: StrictStr = Field(min_length=1)
    parameters: list[StrictStr] | None = None
    named_parameters: dict[str, StrictStr] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if self.parameters is not None and self.named_parameters is not None:
            raise ValueError("give parameters (a list) or namedParameters (a map), not both")
        return self


class SparkPythonFileTask(Model):
    # The file's path in the release with its extension, e.g. 'jobs/score.py'.
    path: StrictStr
    parameters: list[StrictStr] = Field(default_factory=list)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return check_release_path(value, "sparkPythonFile path", "jobs/score.py")


class SqlFileTask(Model):
    # The file's path in the release with its extension, e.g. 'sql/orders_daily.sql'.
    path: StrictStr
    # The SQL warehouse that runs it; default: the job's warehouseId.
    warehouse_id: StrictStr | None = None
    parameters: dict[str, StrictStr] = Field(default_factory=dict)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        check_release_path(value, "sqlFile path", "sql/orders_daily.sql")
        if not value.lower().endswith(".sql"):
            raise ValueError(f"sqlFile path {value!r} is not a .sql file")
        return value


class PipelineTask(Model):
    # Key of a pipeline of this stack (databricks-cicd:pipelines.<key>).
    pipeline: StrictStr
    full_refresh: StrictBool = False


class RunJobTask(Model):
    # Key of a job of this stack ('main' for databricks-cicd:job, else databricks-cicd:jobs.<key>).
    job: StrictStr
    job_parameters: dict[str, StrictStr] = Field(default_factory=dict)


class ConditionTask(Model):
    left: StrictStr
    op: ConditionOp
    right: StrictStr


# Fields of a task that say what it runs: exactly one per task.
TASK_KINDS = (
    "notebook",
    "python_wheel",
    "spark_python_file",
    "sql_file",
    "pipeline",
    "run_job",
    "condition",
    "for_each",
)
# Kinds that run on a cluster or a serverless environment (the others need no compute).
COMPUTE_KINDS = ("notebook", "python_wheel", "spark_python_file")


class TaskBody(Model):
    """What a task runs, on what, with which retries: shared by tasks and a for-each's inner task."""

    task_key: StrictStr
    notebook: NotebookTask | None = None
    python_wheel: PythonWheelTask | None = None
    spark_python_file: SparkPythonFileTask | None = None
    sql_file: SqlFileTask | None = None
    pipeline: PipelineTask | None = None
    run_job: RunJobTask | None = None
    condition: ConditionTask | None = None
    # Compute: a job cluster of this job, or a serverless environment of this job. Left out: the
    # job's only job cluster, or serverless when the job has none.
    job_cluster: StrictStr | None = None
    environment: StrictStr | None = None
    # Libraries of the release to install (classic clusters only): file-name patterns matched
    # against the release's libraries, e.g. 'etl_pipeline-*.whl'. Left out: every library of
    # the release; [] for none.
    libraries: list[StrictStr] | None = None
    timeout_seconds: StrictInt | None = Field(default=None, ge=0, le=172_800)
    # Left out: the job's retries.
    retries: Retries | None = None
    email_notifications: EmailNotifications | None = None
    run_if: RunIf | None = None
    depends_on: list[StrictStr | Dependency] = Field(default_factory=list)
    disabled: StrictBool = False

    @field_validator("task_key")
    @classmethod
    def _key(cls, value: str) -> str:
        return check_key(value, "taskKey")

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        kinds = [kind for kind in TASK_KINDS if getattr(self, kind, None) is not None]
        if len(kinds) != 1:
            from pydantic.alias_generators import to_camel

            names = ", ".join(to_camel(kind) for kind in TASK_KINDS)
            seen = ", ".join(to_camel(kind) for kind in kinds) or "none"
            raise ValueError(
                f"task {self.task_key!r} must say what it runs with exactly one of {names};"
                f" found {seen}"
            )
        kind = kinds[0]
        if kind not in COMPUTE_KINDS and (self.job_cluster or self.environment):
            raise ValueError(
                f"task {self.task_key!r} ({kind}) runs no code of its own: remove"
                " jobCluster/environment"
            )
        if self.job_cluster and self.environment:
            raise ValueError(
                f"task {self.task_key!r} names jobCluster {self.job_cluster!r} and environment"
                f" {self.environment!r}: a task runs on one of them"
            )
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in TASK_KINDS if getattr(self, kind, None) is not None)

    def dependencies(self) -> list[Dependency]:
        return [
            Dependency.model_validate({"taskKey": d}) if isinstance(d, str) else d
            for d in self.depends_on
        ]


class ForEachInner(TaskBody):
    """The task a for-each runs once per input (no nested for-each, as in the Jobs API)."""


class ForEachTask(Model):
    # A JSON array, or a reference such as '{{tasks.list_files.values.files}}'.
    inputs: StrictStr
    concurrency: StrictInt | None = Field(default=None, ge=1, le=100)
    task: ForEachInner


class TaskSpec(TaskBody):
    """One task of a job."""

    for_each: ForEachTask | None = None

    def runs(self) -> TaskBody:
        """The task whose content runs (the inner task of a for-each)."""
        return self.for_each.task if self.for_each is not None else self
