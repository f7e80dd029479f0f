"""`databricks-cicd:developers`: per-engineer dev environments: who gets one, the cluster
defaults, each engineer's overrides and the caps no override may pass."""

from __future__ import annotations

import re
from typing import Any, Self

from pydantic import (
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from cicd.config.access import Access
from cicd.config.artifact_store import ArtifactStore, ArtifactStoreKind
from cicd.config.base import (
    EMAIL,
    FIRST_RUNTIME_WITHOUT_DBFS_LIBRARIES,
    SERVICE_PRINCIPAL_ID,
    Model,
    check_admin_group,
    problem,
)
from cicd.config.cluster import (
    Autoscale,
    ClusterSpec,
    DataSecurityMode,
    check_one_size,
    check_spark_version,
)

# Databricks refuses an autotermination below 10 minutes; 0 would switch it off.
MIN_AUTOTERMINATION_MINUTES = 10


def dev_slug(user: str) -> str:
    """The stable name of an engineer's resources, derived from the user alone (never a list
    position): lowercase, every run of other characters made one '-', so `alice@example.com`
    is `alice-example-com` and a service principal's application id stays itself."""
    return re.sub(r"[^a-z0-9]+", "-", user.lower()).strip("-")


def _check_autotermination(value: int) -> int:
    if value == 0:
        raise ValueError(
            "autoterminationMinutes 0 switches automatic termination off, and a dev cluster must"
            " stop itself when idle: give the idle minutes after which it stops, 10 or more"
            " (default 30)"
        )
    if value < MIN_AUTOTERMINATION_MINUTES:
        raise ValueError(
            f"autoterminationMinutes {value} is below Databricks' minimum of"
            f" {MIN_AUTOTERMINATION_MINUTES}: give 10 or more (default 30)"
        )
    return value


class DevCluster(Model):
    """A dev cluster's runtime, size and idle timeout: the stack's defaults for every engineer."""

    spark_version: StrictStr
    node_type: StrictStr = Field(min_length=1)
    num_workers: StrictInt | None = Field(default=None, ge=0, le=1000)
    autoscale: Autoscale | None = None
    autotermination_minutes: StrictInt = 30

    @field_validator("spark_version")
    @classmethod
    def _runtime(cls, value: str) -> str:
        return check_spark_version(value)

    @field_validator("autotermination_minutes")
    @classmethod
    def _idle(cls, value: int) -> int:
        return _check_autotermination(value)

    @model_validator(mode="after")
    def _one_size(self) -> Self:
        check_one_size(self.num_workers, self.autoscale)
        return self

    @property
    def spec(self) -> ClusterSpec:
        """The same size as a `ClusterSpec`, so job and dev clusters share their Spark settings."""
        return ClusterSpec.model_validate(
            {
                "sparkVersion": self.spark_version,
                "nodeType": self.node_type,
                "numWorkers": self.num_workers,
                "autoscale": self.autoscale,
                "dataSecurityMode": DataSecurityMode.SINGLE_USER,
            }
        )


class DevOverrides(Model):
    """What one engineer changes from the defaults (within the caps); the rest comes from them."""

    spark_version: StrictStr | None = None
    node_type: StrictStr | None = Field(default=None, min_length=1)
    num_workers: StrictInt | None = Field(default=None, ge=0, le=1000)
    autoscale: Autoscale | None = None
    autotermination_minutes: StrictInt | None = None

    @field_validator("spark_version")
    @classmethod
    def _runtime(cls, value: str | None) -> str | None:
        return None if value is None else check_spark_version(value)

    @field_validator("autotermination_minutes")
    @classmethod
    def _idle(cls, value: int | None) -> int | None:
        return None if value is None else _check_autotermination(value)

    @model_validator(mode="after")
    def _one_size(self) -> Self:
        if self.num_workers is not None and self.autoscale is not None:
            raise ValueError(
                "give numWorkers or autoscale, not both: the one given replaces the default size"
            )
        return self

    def apply_to(self, defaults: DevCluster) -> DevCluster:
        update: dict[str, Any] = {
            key: value
            for key in ("spark_version", "node_type", "autotermination_minutes")
            if (value := getattr(self, key)) is not None
        }
        # A size given here replaces the default size, whichever form the default has.
        if self.num_workers is not None:
            update.update(num_workers=self.num_workers, autoscale=None)
        if self.autoscale is not None:
            update.update(autoscale=self.autoscale, num_workers=None)
        return defaults.model_copy(update=update)


class DevEngineer(Model):
    """One engineer with a dev environment: a workspace user (e-mail) or a service principal."""

    user: StrictStr
    overrides: DevOverrides = Field(default_factory=DevOverrides)

    @model_validator(mode="before")
    @classmethod
    def _entry_is_a_mapping(cls, data: Any) -> Any:
        if isinstance(data, str):
            raise ValueError(f"write the entry as a mapping: '- user: {data}'")
        return data

    @field_validator("user")
    @classmethod
    def _identity(cls, value: str) -> str:
        if not (EMAIL.match(value) or SERVICE_PRINCIPAL_ID.match(value)):
            raise ValueError(
                f"user {value!r} is neither an e-mail address nor a service principal's"
                " application id: give the engineer's workspace user name, e.g."
                " 'alice@example.com', or a service principal's application id (a UUID)"
            )
        return value

    @property
    def slug(self) -> str:
        return dev_slug(self.user)

    @property
    def is_service_principal(self) -> bool:
        return bool(SERVICE_PRINCIPAL_ID.match(self.user))


class DevCaps(Model):
    """Bounds no dev cluster may exceed, whatever the defaults or an engineer's overrides say."""

    max_workers: StrictInt = Field(default=2, ge=0, le=1000)
    max_autotermination_minutes: StrictInt = Field(
        default=120, ge=MIN_AUTOTERMINATION_MINUTES, le=10_000
    )


class Developers(Model):
    """Per-engineer dev environments: who gets one, the cluster defaults and the caps."""

    # Group granted CAN_MANAGE on every dev cluster; default: access.adminGroup.
    admin_group: StrictStr | None = Field(default=None, min_length=1)
    defaults: DevCluster
    caps: DevCaps = Field(default_factory=DevCaps)
    engineers: list[DevEngineer] = Field(default_factory=list)

    @field_validator("admin_group")
    @classmethod
    def _not_builtin_admins(cls, value: str | None) -> str | None:
        return check_admin_group(value)

    def _cap_problems(
        self, size: DevCluster | DevOverrides, where: tuple[str | int, ...], whose: str
    ) -> list[InitErrorDetails]:
        caps = self.caps
        problems = []
        if size.num_workers is not None and size.num_workers > caps.max_workers:
            problems.append(
                problem(
                    (*where, "numWorkers"),
                    size.num_workers,
                    f"numWorkers {size.num_workers} for {whose} is above caps.maxWorkers"
                    f" {caps.max_workers}: dev clusters stay small; use at most {caps.max_workers}"
                    " (0 = single node), or raise developers.caps.maxWorkers in review",
                )
            )
        if size.autoscale is not None and size.autoscale.max_workers > caps.max_workers:
            problems.append(
                problem(
                    (*where, "autoscale", "maxWorkers"),
                    size.autoscale.max_workers,
                    f"autoscale.maxWorkers {size.autoscale.max_workers} for {whose} is above"
                    f" caps.maxWorkers {caps.max_workers}: use at most {caps.max_workers}, or raise"
                    " developers.caps.maxWorkers in review",
                )
            )
        minutes = size.autotermination_minutes
        if minutes is not None and minutes > caps.max_autotermination_minutes:
            problems.append(
                problem(
                    (*where, "autoterminationMinutes"),
                    minutes,
                    f"autoterminationMinutes {minutes} for {whose} is above"
                    f" caps.maxAutoterminationMinutes {caps.max_autotermination_minutes}: an idle"
                    f" dev cluster keeps costing until it stops; use"
                    f" {caps.max_autotermination_minutes} or less",
                )
            )
        return problems

    @model_validator(mode="after")
    def _unique_and_within_caps(self) -> Self:
        problems = self._cap_problems(self.defaults, ("defaults",), "the defaults")
        users: dict[str, int] = {}
        slugs: dict[str, int] = {}
        for index, engineer in enumerate(self.engineers):
            where = ("engineers", index, "user")
            first = users.get(engineer.user.lower())
            clash = slugs.get(engineer.slug)
            if first is not None:
                problems.append(
                    problem(
                        where,
                        engineer.user,
                        f"{engineer.user!r} is already listed as engineers[{first}]"
                        f" ({self.engineers[first].user!r}; user names are case-insensitive):"
                        " list each engineer once",
                    )
                )
            elif clash is not None:
                problems.append(
                    problem(
                        where,
                        engineer.user,
                        f"{engineer.user!r} and engineers[{clash}] ({self.engineers[clash].user!r})"
                        f" both name their resources {engineer.slug!r}: two engineers cannot share"
                        " one environment; check the address",
                    )
                )
            users.setdefault(engineer.user.lower(), index)
            slugs.setdefault(engineer.slug, index)
            problems += self._cap_problems(
                engineer.overrides, ("engineers", index, "overrides"), engineer.user
            )
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self

    def cluster_for(self, engineer: DevEngineer) -> DevCluster:
        return engineer.overrides.apply_to(self.defaults)

    def by_slug(self) -> list[DevEngineer]:
        """The engineers in a fixed order, whatever order the config lists them in."""
        return sorted(self.engineers, key=lambda e: e.slug)

    def admin_group_in(self, access: Access | None) -> str:
        group = self.admin_group or (access.admin_group if access else None)
        assert group is not None  # checked by check_in_stack
        return group

    def check_in_stack(self, store: ArtifactStore, access: Access | None) -> None:
        """Checks that need the rest of the stack's config; locations are the stack's keys."""
        problems = []
        if self.admin_group is None and access is None:
            problems.append(
                problem(
                    ("developers", "adminGroup"),
                    None,
                    "is missing: the group that manages dev clusters comes from access.adminGroup,"
                    " and this stack has no access block; set developers.adminGroup, e.g."
                    " 'etl-admins'",
                )
            )
        if store.kind is ArtifactStoreKind.DBFS:
            on_default = []
            for index, engineer in enumerate(self.engineers):
                cluster = self.cluster_for(engineer)
                if cluster.spec.runtime_major < FIRST_RUNTIME_WITHOUT_DBFS_LIBRARIES:
                    continue
                if engineer.overrides.spark_version is None:
                    on_default.append(engineer.user)
                    continue
                problems.append(
                    problem(
                        ("developers", "engineers", index, "overrides", "sparkVersion"),
                        cluster.spark_version,
                        f"artifactStore.kind 'dbfs' cannot serve the dev cluster of {engineer.user}"
                        f" (sparkVersion {cluster.spark_version!r}): runtime 15 and later refuse"
                        " libraries installed from DBFS. Give them a runtime below 15, or switch"
                        " artifactStore to kind: volume (root /Volumes/<catalog>/<schema>/<volume>)"
                        " or kind: workspace",
                    )
                )
            if on_default:
                problems.append(
                    problem(
                        ("developers", "defaults", "sparkVersion"),
                        self.defaults.spark_version,
                        f"artifactStore.kind 'dbfs' cannot serve the dev clusters of"
                        f" {', '.join(on_default)} (sparkVersion {self.defaults.spark_version!r}):"
                        " runtime 15 and later refuse libraries installed from DBFS. Use a runtime"
                        " below 15, or switch artifactStore to kind: volume"
                        " (root /Volumes/<catalog>/<schema>/<volume>) or kind: workspace",
                    )
                )
        if problems:
            raise ValidationError.from_exception_data("StackConfig", problems)
