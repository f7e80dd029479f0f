"""What every section of the stack config shares: the namespace, the error type, the strict model
base (camelCase keys, unknown keys refused by name) and the checks of versions, paths and
identities that several sections apply.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict, model_validator
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


def check_admin_group(value: str | None, key: str = "adminGroup") -> str | None:
    """The built-in `admins` group cannot be named in a permissions list (the provider refuses it),
    and it already controls everything: a stack names its own, smaller group."""
    if value == "admins":
        raise ValueError(
            f"{key} 'admins' is the workspace admins group, which already holds CAN_MANAGE on"
            " every object and cannot be granted explicitly: name a dedicated group such as 'etl-admins'"
        )
    return value


def problem(loc: tuple[str | int, ...], seen: Any, text: str) -> InitErrorDetails:
    # Raised together as one ValidationError, so each problem keeps its own key path (pydantic
    # prefixes the parents') and every problem is reported at once.
    return InitErrorDetails(
        type=PydanticCustomError("value_error", "{text}", {"text": text}), loc=loc, input=seen
    )
