"""Stack config: the one place that reads and validates `Pulumi.<stack>.yaml` into typed objects.

Every key of the `databricks-cicd:` namespace is described here as a pydantic model. Unknown keys
are errors at every depth (a typo never passes silently), and every error names the full key, the
value seen and the fix. Nothing here needs the Pulumi runtime: `parse_stack_config` takes plain
values, `read_stack_config` only collects them from the running Pulumi program first.
"""

from __future__ import annotations

import difflib
import json
import re
import zoneinfo
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any, Self

import yaml
from packaging.version import InvalidVersion, Version
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

NAMESPACE = "databricks-cicd"

# A release version names a folder; it must never be able to leave it.
VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SERVICE_PRINCIPAL_ID = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SPARK_VERSION = re.compile(r"^(\d+)\.(\d+)\.x-[a-z0-9.-]+$")
# First runtime whose clusters refuse libraries installed from the DBFS root.
FIRST_RUNTIME_WITHOUT_DBFS_LIBRARIES = 15


class ConfigError(Exception):
    """Stack config that cannot be deployed; `problems` holds one line per bad key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"{len(problems)} problem(s) in the stack config; nothing was deployed:\n{lines}"
        )


def check_version(value: str) -> str:
    """Accept only plain release identifiers such as `2.1.0`; reused by the release CLI."""
    if not VERSION_PATTERN.match(value) or ".." in value:
        raise ValueError(
            f"release version {value!r} is not a plain identifier: use letters, digits, '.', '-'"
            " and '_' only (no slashes, spaces or '..'), starting with a letter or digit,"
            " at most 64 characters, e.g. '2.1.0'"
        )
    return value


def version_sort_key(version: str) -> tuple[int, Version | str]:
    """Order releases by PEP 440 where possible, so `1.10.0` comes after `1.9.0`."""
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


def check_clean_path(value: str, what: str) -> str:
    """Databricks paths must be absolute and clean; the provider stores them verbatim."""
    if value.startswith("dbfs:"):
        raise ValueError(
            f"{what} {value!r} has a 'dbfs:' prefix: write the path without it,"
            f" e.g. {value[len('dbfs:') :] or '/'!r}"
        )
    if not value.startswith("/"):
        raise ValueError(f"{what} {value!r} is not absolute: start it with '/'")
    if value != "/" and value.endswith("/"):
        raise ValueError(f"{what} {value!r} ends with '/': remove the trailing slash")
    if "//" in value:
        raise ValueError(f"{what} {value!r} contains '//': use single slashes")
    if any(part in (".", "..") for part in value.split("/")):
        raise ValueError(f"{what} {value!r} contains '.' or '..': write the resolved path")
    if any(ch.isspace() and ch != " " for ch in value):
        raise ValueError(f"{what} {value!r} contains a tab or newline: remove it")
    return value


def check_workspace_path(value: str, what: str) -> str:
    check_clean_path(value, what)
    if value == "/Workspace" or value.startswith("/Workspace/"):
        raise ValueError(
            f"{what} {value!r} starts with /Workspace: give the workspace path without it,"
            f" e.g. {value[len('/Workspace') :] or '/'!r}"
        )
    if value.count("/") < 2:
        raise ValueError(
            f"{what} {value!r} is a top-level folder: use a folder below one,"
            " e.g. '/Production/etl-pipeline'"
        )
    return value


class Model(BaseModel):
    """Base of every config object: camelCase keys, immutable, unknown keys refused by name."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=False,
        extra="forbid",
        frozen=True,
        str_strip_whitespace=False,
    )

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_keys(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        allowed = sorted(f.alias or n for n, f in cls.model_fields.items())
        unknown = [k for k in data if k not in allowed]
        if unknown:
            key = str(unknown[0])
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"unknown key {key!r}{hint}; the keys allowed here are: {', '.join(allowed)}"
            )
        return data


def transition_problems(before: StackConfig, after: StackConfig) -> list[str]:
    """What a change of a stack's config may not do in one step, judged against the config it
    replaces (the base branch's file in code review): remove the release the job runs, or the
    rollback target. Switch first; remove in a later change, once neither live nor target.

    Applies where releases.requireRollbackTarget is set (prod); staging replaces its one
    candidate in a single change.
    """
    if not (before.releases.require_rollback_target or after.releases.require_rollback_target):
        return []
    kept = set(after.releases.versions)
    problems = []
    old_live, old_target = before.releases.live, before.releases.effective_rollback_target
    if old_live not in kept:
        problems.append(
            f"{NAMESPACE}:releases.kept: removes {old_live!r}, which the job runs before this"
            f" change; keep it while live moves to {after.releases.live!r}, and remove it in a"
            " later change"
        )
    if old_target is not None and old_target != old_live and old_target not in kept:
        problems.append(
            f"{NAMESPACE}:releases.kept: removes {old_target!r}, the rollback target before"
            " this change; keep it until another target has been deployed, then remove it"
        )
    return problems


class ArtifactStoreKind(str, Enum):
    DBFS = "dbfs"
    VOLUME = "volume"
    WORKSPACE = "workspace"


class ArtifactStore(Model):
    """Where built libraries go: DBFS (the design card), a UC volume, or workspace files."""

    kind: ArtifactStoreKind
    root: StrictStr

    @model_validator(mode="after")
    def _root_fits_kind(self) -> Self:
        if self.kind is ArtifactStoreKind.VOLUME:
            check_clean_path(self.root, "volume root")
            parts = self.root.split("/")
            if parts[1] != "Volumes" or len(parts) < 5 or not all(parts[2:5]):
                raise ValueError(
                    f"root {self.root!r} is not a Unity Catalog volume path: use"
                    " /Volumes/<catalog>/<schema>/<volume>[/<folder>]"
                )
        elif self.kind is ArtifactStoreKind.DBFS:
            check_clean_path(self.root, "DBFS root")
            if self.root.startswith("/Volumes/"):
                raise ValueError(f"root {self.root!r} is a volume path: set kind: volume for it")
            if self.root == "/":
                raise ValueError("root '/' is the DBFS root itself: use a folder below it")
        else:
            check_workspace_path(self.root, "workspace artifact root")
        return self

    def library_uri(self, path: str) -> str:
        """The form a cluster or job library setting takes for a file uploaded to `path`."""
        if self.kind is ArtifactStoreKind.DBFS:
            return f"dbfs:{path}"
        if self.kind is ArtifactStoreKind.WORKSPACE:
            return f"/Workspace{path}"
        return path


class ReleaseEntry(Model):
    """One kept release: its version and the folder holding its built content."""

    version: StrictStr
    # Relative to the project root; default dist/releases/<version> (what `cicd.release` writes).
    source: StrictStr | None = None

    @field_validator("version")
    @classmethod
    def _plain_version(cls, value: str) -> str:
        return check_version(value)

    @field_validator("source")
    @classmethod
    def _relative_source(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("/") or ".." in value.split("/")):
            raise ValueError(
                f"source {value!r} must be a folder inside the project, given relative to it"
                " (no leading '/', no '..'), e.g. 'dist/releases/2.1.0'"
            )
        return value

    @property
    def source_dir(self) -> str:
        return self.source or f"dist/releases/{self.version}"


class Releases(Model):
    """Kept releases (published side by side), the live one, and the rollback target."""

    kept: list[ReleaseEntry] = Field(min_length=1)
    live: StrictStr
    # Default: the highest kept version below the live one. Right after a rollback it may name
    # the live release itself, so that a rollback stays a one-line edit of `live`.
    rollback_target: StrictStr | None = None
    # Prod: refuse any edit that would leave no release to roll back to, or that removes the
    # deployed live release or rollback target in the same change (checked by cicd.preview --base).
    require_rollback_target: StrictBool = False

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        versions = [r.version for r in self.kept]
        duplicates = sorted({v for v in versions if versions.count(v) > 1})
        if duplicates:
            raise ValueError(
                f"version {duplicates[0]!r} is listed twice under kept: keep one entry per version"
            )
        if self.live not in versions:
            raise ValueError(
                f"live release {self.live!r} is not in kept ({', '.join(sorted(versions))}):"
                " the job can only point at a kept release; add it to kept or pick a kept one"
            )
        if self.rollback_target is not None and self.rollback_target not in versions:
            raise ValueError(
                f"rollbackTarget {self.rollback_target!r} is not in kept"
                f" ({', '.join(sorted(versions))}): keep it until another target is named"
            )
        if self.require_rollback_target and (
            self.effective_rollback_target is None or len(versions) < 2
        ):
            raise ValueError(
                f"no rollback target would remain: besides live {self.live!r} no kept release"
                " can be rolled back to, and requireRollbackTarget is set; keep the release you"
                " would roll back to under kept and name it as rollbackTarget"
            )
        return self

    @property
    def effective_rollback_target(self) -> str | None:
        if self.rollback_target is not None:
            return self.rollback_target
        live_key = version_sort_key(self.live)
        older = [r.version for r in self.kept if version_sort_key(r.version) < live_key]
        return max(older, key=version_sort_key) if older else None

    @property
    def versions(self) -> list[str]:
        """Kept versions in version order, whatever order the config lists them in."""
        return sorted((r.version for r in self.kept), key=version_sort_key)

    def entry(self, version: str) -> ReleaseEntry:
        return next(r for r in self.kept if r.version == version)


def check_admin_group(value: str | None, key: str = "adminGroup") -> str | None:
    """The built-in `admins` group cannot be named in a permissions list (the provider refuses it),
    and it already controls everything: a stack names its own, smaller group."""
    if value == "admins":
        raise ValueError(
            f"{key} 'admins' is the workspace admins group, which already holds CAN_MANAGE on"
            " every object and cannot be granted explicitly: name a dedicated group such as 'etl-admins'"
        )
    return value


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


class Retries(Model):
    max_retries: StrictInt = Field(default=0, ge=0, le=10)
    min_interval_millis: StrictInt = Field(default=60_000, ge=0, le=3_600_000)
    retry_on_timeout: StrictBool = False


class JobSettings(Model):
    """The stack's pipeline job: what it runs, on what, when, and who hears of failures."""

    name: StrictStr = Field(min_length=1, max_length=100)
    entry_notebook: StrictStr = "main"
    cluster: ClusterSpec
    schedule: Schedule | None = None
    timeout_seconds: StrictInt = Field(default=3600, ge=60, le=172_800)
    retries: Retries = Field(default_factory=Retries)
    max_concurrent_runs: StrictInt = Field(default=1, ge=1, le=1000)
    failure_emails: list[StrictStr] = Field(default_factory=list)
    tags: dict[str, StrictStr] = Field(default_factory=dict)
    parameters: dict[str, StrictStr] = Field(default_factory=dict)
    # Application id of the service principal the job runs as.
    run_as: StrictStr | None = None

    @field_validator("entry_notebook")
    @classmethod
    def _relative_notebook(cls, value: str) -> str:
        if (
            not value
            or value.startswith("/")
            or ".." in value.split("/")
            or "." in value.rsplit("/", 1)[-1]
        ):
            raise ValueError(
                f"entryNotebook {value!r} must be a notebook path inside the release, relative"
                " and without extension, e.g. 'main' or 'jobs/daily'"
            )
        return value

    @field_validator("failure_emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for address in value:
            if not EMAIL.match(address):
                raise ValueError(f"failureEmails entry {address!r} is not an e-mail address")
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


class Access(Model):
    """Who controls the stack's objects: admins and the deploy identity; operators may run."""

    admin_group: StrictStr = Field(min_length=1)

    @field_validator("admin_group", "operators_group")
    @classmethod
    def _not_builtin_admins(cls, value: str | None, info: ValidationInfo) -> str | None:
        return check_admin_group(value, to_camel(info.field_name or "adminGroup"))

    # Application id of the service principal CI deploys with.
    deploy_identity: StrictStr
    operators_group: StrictStr | None = None
    # Prod: the workspace root becomes a folder only admins and the deploy identity control.
    restrict_workspace_root: StrictBool = False

    @field_validator("deploy_identity")
    @classmethod
    def _service_principal(cls, value: str) -> str:
        if not SERVICE_PRINCIPAL_ID.match(value):
            raise ValueError(
                f"deployIdentity {value!r} is not a service principal application id: give its UUID"
            )
        return value


# --- Per-engineer dev environments (`databricks-cicd:developers`) -----------------------------

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


def _problem(loc: tuple[str | int, ...], seen: Any, text: str) -> InitErrorDetails:
    # Raised together as one ValidationError, so each problem keeps its own key path (pydantic
    # prefixes the parents') and every problem is reported at once.
    return InitErrorDetails(
        type=PydanticCustomError("value_error", "{text}", {"text": text}), loc=loc, input=seen
    )


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
                _problem(
                    (*where, "numWorkers"),
                    size.num_workers,
                    f"numWorkers {size.num_workers} for {whose} is above caps.maxWorkers"
                    f" {caps.max_workers}: dev clusters stay small; use at most {caps.max_workers}"
                    " (0 = single node), or raise developers.caps.maxWorkers in review",
                )
            )
        if size.autoscale is not None and size.autoscale.max_workers > caps.max_workers:
            problems.append(
                _problem(
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
                _problem(
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
                    _problem(
                        where,
                        engineer.user,
                        f"{engineer.user!r} is already listed as engineers[{first}]"
                        f" ({self.engineers[first].user!r}; user names are case-insensitive):"
                        " list each engineer once",
                    )
                )
            elif clash is not None:
                problems.append(
                    _problem(
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
                _problem(
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
                    _problem(
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
                    _problem(
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


class StackConfig(Model):
    """Everything one stack deploys, validated as a whole."""

    pipeline_name: StrictStr = Field(default="etl-pipeline", pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    workspace_root: StrictStr
    artifact_store: ArtifactStore
    releases: Releases
    job: JobSettings
    access: Access | None = None
    # Per-engineer dev environments; any stack may have them (staging does).
    developers: Developers | None = None

    @field_validator("workspace_root")
    @classmethod
    def _workspace_root(cls, value: str) -> str:
        return check_workspace_path(value, "workspaceRoot")

    @model_validator(mode="after")
    def _cross_checks(self) -> Self:
        if (
            self.artifact_store.kind is ArtifactStoreKind.DBFS
            and self.job.cluster.runtime_major >= FIRST_RUNTIME_WITHOUT_DBFS_LIBRARIES
        ):
            raise ValueError(
                f"artifactStore.kind 'dbfs' cannot serve job.cluster.sparkVersion"
                f" {self.job.cluster.spark_version!r}: runtime 15 and later refuse libraries"
                " installed from DBFS. Switch artifactStore to kind: volume"
                " (root /Volumes/<catalog>/<schema>/<volume>) or kind: workspace,"
                " or use a runtime below 15"
            )
        if (
            self.access
            and self.access.restrict_workspace_root
            and (self.workspace_root == "/Shared" or self.workspace_root.startswith("/Shared/"))
        ):
            raise ValueError(
                f"workspaceRoot {self.workspace_root!r} is under /Shared, where every user"
                " inherits CAN_MANAGE, so access.restrictWorkspaceRoot cannot hold: use a"
                " folder outside /Shared, e.g. '/Production/etl-pipeline'"
            )
        if (
            self.job.cluster.data_security_mode is DataSecurityMode.SINGLE_USER
            and not self.job.run_as
        ):
            raise ValueError(
                "job.cluster.dataSecurityMode SINGLE_USER needs job.runAs: the single user of a"
                " job cluster is the identity the job runs as; set runAs to a service principal"
            )
        if self.developers is not None:
            # Admin group and DBFS-vs-runtime checks for dev clusters, each naming the engineer.
            self.developers.check_in_stack(self.artifact_store, self.access)
        return self


# Keys of the namespace whose values are objects (Pulumi hands them over as JSON text).
def _top_level_keys() -> dict[str, str]:
    return {f.alias or n: n for n, f in StackConfig.model_fields.items()}


def _format_location(loc: tuple[int | str, ...]) -> str:
    key = NAMESPACE
    for i, part in enumerate(loc):
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += (":" if i == 0 else ".") + part
    return key


def _describe(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    message = str(error["msg"]).removeprefix("Value error, ")
    seen = error.get("input")
    if kind == "missing":
        return "is missing: add it (see README, 'Stack config')"
    if kind in (
        "string_type",
        "int_type",
        "bool_type",
        "dict_type",
        "list_type",
        "model_type",
        "enum",
        "int_parsing",
        "bool_parsing",
        "int_from_float",
        "literal_error",
        "string_pattern_mismatch",
    ):
        hint = ""
        if kind == "string_type" and isinstance(seen, (int, float)):
            hint = "; quote it in YAML (a bare 1.10 is read as the number 1.1)"
        return f"{message.lower()}, got {seen!r}{hint}"
    if kind.startswith(("greater_than", "less_than", "too_short", "too_long", "string_too")):
        return f"{message.lower()}, got {seen!r}"
    return message


def parse_stack_config(values: Mapping[str, Any]) -> StackConfig:
    """Validate the `databricks-cicd:` part of a stack's config (keys without the namespace).

    Object values may be given decoded or as the JSON text Pulumi passes to programs.
    """
    allowed = _top_level_keys()
    problems: list[str] = []
    decoded: dict[str, Any] = {}
    for key, value in values.items():
        if key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hint = f" (did you mean '{NAMESPACE}:{close[0]}'?)" if close else ""
            problems.append(
                f"{NAMESPACE}:{key}: unknown key{hint}; the keys allowed are: "
                + ", ".join(f"{NAMESPACE}:{k}" for k in sorted(allowed))
            )
            continue
        if isinstance(value, str) and value[:1] in ("{", "["):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                problems.append(f"{NAMESPACE}:{key}: is not valid JSON ({exc})")
                continue
        decoded[key] = value
    try:
        config = StackConfig.model_validate(decoded)
    except ValidationError as exc:
        for error in exc.errors():
            problems.append(f"{_format_location(tuple(error['loc']))}: {_describe(error)}")
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return config


def read_stack_config() -> StackConfig:
    """Collect this stack's `databricks-cicd:` values from the running Pulumi program."""
    import pulumi.runtime.config as runtime_config

    # The language host passes every config value in PULUMI_CONFIG; the mocks set CONFIG directly.
    raw: dict[str, Any] = dict(runtime_config.get_config_env())
    raw.update(runtime_config.CONFIG.get())
    return parse_stack_config(namespace_values(raw))


def namespace_values(config: Mapping[str, Any]) -> dict[str, Any]:
    """The `databricks-cicd:` keys of a Pulumi config map, without the namespace."""
    prefix = f"{NAMESPACE}:"
    return {key[len(prefix) :]: value for key, value in config.items() if key.startswith(prefix)}


def pulumi_config_map(path: Path) -> dict[str, str]:
    """Every key of a stack file in the `{"ns:key": "string or JSON"}` form Pulumi programs get.

    Used by the tools that run without the Pulumi CLI (release build, offline preview, tests).
    """
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such stack file"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: is not valid YAML ({exc})"]) from None
    section = document.get("config") if isinstance(document, Mapping) else None
    if not isinstance(section, Mapping):
        raise ConfigError([f"{path}: has no 'config:' mapping"])
    return {
        str(key): value if isinstance(value, str) else json.dumps(value)
        for key, value in section.items()
    }


def stack_file_values(path: Path) -> dict[str, Any]:
    """The `databricks-cicd:` values of a `Pulumi.<stack>.yaml`, as the Pulumi CLI would pass them."""
    return namespace_values(pulumi_config_map(path))


def read_stack_file(path: Path) -> StackConfig:
    """A stack file's config, validated."""
    return parse_stack_config(stack_file_values(path))
