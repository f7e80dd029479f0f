"""`databricks-cicd:pipelines.<key>`: the stack's Lakeflow Declarative Pipelines.

A pipeline's source code (notebooks, files, folder globs) and root folder live in the live release,
named relative to the release's notebooks tree like a job's tasks; its catalog and schema are the
stack's. It runs serverless unless it names a cluster, triggered unless `continuous`.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, StrictBool, StrictInt, StrictStr, field_validator, model_validator

from cicd.config.base import SERVICE_PRINCIPAL_ID, Model
from cicd.config.cluster import Autoscale, check_one_size
from cicd.config.tasks import check_emails, check_release_path


class PipelineLibrary(Model):
    """One source of the pipeline: a notebook, a file, or every file under a folder of the release."""

    # Notebook path in the release without extension, e.g. 'transformations/orders'.
    notebook: StrictStr | None = None
    # File path in the release with its extension, e.g. 'transformations/orders.py'.
    file: StrictStr | None = None
    # A folder of the release with '/**' (every file below it), e.g. 'transformations/**'.
    glob: StrictStr | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        given = [k for k in ("notebook", "file", "glob") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a pipeline library is one of notebook, file or glob; found {len(given)}"
            )
        value = self.notebook or self.file or self.glob or ""
        check_release_path(value.removesuffix("/**"), given[0], "transformations/orders.py")
        if self.glob is not None and not self.glob.endswith("/**"):
            raise ValueError(
                f"glob {self.glob!r} must be a release folder followed by '/**',"
                " e.g. 'transformations/**'"
            )
        return self

    @property
    def path(self) -> str:
        return self.notebook or self.file or (self.glob or "").removesuffix("/**")


class PipelineCluster(Model):
    """A classic cluster for a pipeline that does not run serverless."""

    node_type: StrictStr = Field(min_length=1)
    num_workers: StrictInt | None = Field(default=None, ge=0, le=1000)
    autoscale: Autoscale | None = None
    spark_conf: dict[str, StrictStr] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_size(self) -> Self:
        check_one_size(self.num_workers, self.autoscale)
        return self


PipelineAlert = Literal[
    "on-update-success", "on-update-failure", "on-update-fatal-failure", "on-flow-failure"
]


def _failure_alerts() -> list[PipelineAlert]:
    return ["on-update-failure", "on-update-fatal-failure", "on-flow-failure"]


class PipelineNotifications(Model):
    emails: list[StrictStr] = Field(min_length=1)
    alerts: list[PipelineAlert] = Field(default_factory=_failure_alerts)

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        return check_emails(value, "notifications.emails")


class PipelineEnvironment(Model):
    """What a pipeline installs besides its source (its `environment.dependencies`): wheels of
    the release. Pipelines take an environment on serverless and classic compute alike."""

    # File-name patterns matched against the release's wheels ('etl_pipeline-*.whl'), installed
    # from the live release's folder in the artifact store (never a package index).
    libraries: list[StrictStr] = Field(min_length=1)


class PipelineSettings(Model):
    """One Lakeflow Declarative Pipeline of the stack."""

    name: StrictStr = Field(min_length=1, max_length=100)
    catalog: StrictStr = Field(min_length=1)
    schema_: StrictStr = Field(min_length=1, alias="schema")
    libraries: list[PipelineLibrary] = Field(min_length=1)
    # The pipeline's root folder in the release (its source's base for imports). Left out: the
    # release's notebooks tree itself.
    root_path: StrictStr | None = None
    # Serverless unless a cluster is given.
    cluster: PipelineCluster | None = None
    # Wheels of the release the pipeline installs.
    environment: PipelineEnvironment | None = None
    continuous: StrictBool = False
    development: StrictBool = False
    channel: Literal["CURRENT", "PREVIEW"] = "CURRENT"
    photon: StrictBool | None = None
    edition: Literal["CORE", "PRO", "ADVANCED"] | None = None
    configuration: dict[str, StrictStr] = Field(default_factory=dict)
    notifications: PipelineNotifications | None = None
    tags: dict[str, StrictStr] = Field(default_factory=dict)
    # Application id of the service principal the pipeline's updates run as.
    run_as: StrictStr | None = None
    # Seconds between update attempts of a triggered pipeline are not ours to set: a job's
    # pipeline task (or the pipeline's own schedule in the UI) triggers it.

    @field_validator("root_path")
    @classmethod
    def _root(cls, value: str | None) -> str | None:
        return None if value is None else check_release_path(value, "rootPath", "transformations")

    @field_validator("run_as")
    @classmethod
    def _service_principal(cls, value: str | None) -> str | None:
        if value is not None and not SERVICE_PRINCIPAL_ID.match(value):
            raise ValueError(
                f"runAs {value!r} is not a service principal application id: give its UUID"
                " (pipelines run as a service identity)"
            )
        return value

    @model_validator(mode="after")
    def _classic_only(self) -> Self:
        if self.cluster is None and (self.photon is not None or self.edition is not None):
            raise ValueError(
                "photon and edition apply to classic pipeline clusters; a serverless pipeline"
                " (no cluster) always has them: remove them or add cluster"
            )
        return self

    @property
    def serverless(self) -> bool:
        return self.cluster is None
