"""`databricks-cicd:job`: the stack's pipeline job (what it runs, on what, when, who hears)."""

from __future__ import annotations

import re
import zoneinfo

from pydantic import Field, StrictBool, StrictInt, StrictStr, field_validator

from cicd.config.base import EMAIL, SERVICE_PRINCIPAL_ID, Model
from cicd.config.cluster import ClusterSpec


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
    # Optional override of the notebook the job runs. Each release records its own entry notebook
    # in releases.lock.yaml, so a rollback to a release whose entry has another name stays one
    # edit; an override applies to every kept release and must name a notebook of each.
    entry_notebook: StrictStr | None = None
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
