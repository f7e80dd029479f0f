"""A cluster's runtime and size, shared by the job's cluster (`job.cluster`) and the engineers'
dev clusters (`developers`)."""

from __future__ import annotations

from enum import Enum
from typing import Self

from pydantic import Field, StrictInt, StrictStr, field_validator, model_validator

from cicd.config.base import SPARK_VERSION, Model


def check_one_size(num_workers: int | None, autoscale: object | None) -> None:
    """A cluster has a fixed size or autoscales, never both, never neither."""
    if (num_workers is None) == (autoscale is None):
        raise ValueError(
            "give exactly one of numWorkers (fixed size; 0 for single node) or"
            " autoscale {minWorkers, maxWorkers}"
        )


def check_spark_version(value: str) -> str:
    if not SPARK_VERSION.match(value):
        raise ValueError(
            f"sparkVersion {value!r} is not a Databricks runtime key: use the form"
            " '15.4.x-scala2.12' (see `databricks clusters spark-versions`)"
        )
    return value


class Autoscale(Model):
    min_workers: StrictInt = Field(ge=1, le=1000)
    max_workers: StrictInt = Field(ge=1, le=1000)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max_workers < self.min_workers:
            raise ValueError(
                f"maxWorkers {self.max_workers} is below minWorkers {self.min_workers}:"
                " raise maxWorkers or lower minWorkers"
            )
        return self


class DataSecurityMode(str, Enum):
    SINGLE_USER = "SINGLE_USER"
    USER_ISOLATION = "USER_ISOLATION"


class ClusterSpec(Model):
    """A cluster's size and runtime: fixed workers (0 means single node) or autoscale."""

    spark_version: StrictStr
    node_type: StrictStr = Field(min_length=1)
    num_workers: StrictInt | None = Field(default=None, ge=0, le=1000)
    autoscale: Autoscale | None = None
    data_security_mode: DataSecurityMode = DataSecurityMode.SINGLE_USER
    spark_conf: dict[str, StrictStr] = Field(default_factory=dict)

    @field_validator("spark_version")
    @classmethod
    def _runtime_version(cls, value: str) -> str:
        return check_spark_version(value)

    @model_validator(mode="after")
    def _one_size(self) -> Self:
        check_one_size(self.num_workers, self.autoscale)
        return self

    @property
    def runtime_major(self) -> int:
        match = SPARK_VERSION.match(self.spark_version)
        assert match is not None  # checked by _runtime_version
        return int(match.group(1))
