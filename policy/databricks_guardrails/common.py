"""What every policy shares: resource types, the pack's config keys, and message wording.

Properties arrive as the engine sends them: resource inputs under their wire (camelCase) names,
numbers as floats, values computed at deploy time "unknown" during a preview (reading one raises
`UnknownValueError`, which the engine reports as "can't run policy during preview").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from .redact import last_key, redact_text, redact_value

CLUSTER = "databricks:index/cluster:Cluster"
JOB = "databricks:index/job:Job"
PIPELINE = "databricks:index/pipeline:Pipeline"
PERMISSIONS = "databricks:index/permissions:Permissions"

# Library kinds that name a file; the others (pypi, maven, cran) name a package from an index.
FILE_LIBRARIES = ("whl", "jar", "egg", "requirements")

# Keys of the pack's config (`--policy-pack-config`), written from the stack file by the project
# (`python -m cicd.policy_config`); each policy declares the ones it reads in its config_schema.
MAX_WORKERS = "maxWorkers"
MAX_AUTOTERMINATION_MINUTES = "maxAutoterminationMinutes"
NOTEBOOK_ROOT = "notebookRoot"
LIBRARY_ROOT = "libraryRoot"
PRODUCTION = "production"

SETTING_SCHEMAS: dict[str, dict[str, Any]] = {
    MAX_WORKERS: {
        "type": "integer",
        "minimum": 0,
        "description": "Most workers an all-purpose cluster may have (developers.caps.maxWorkers).",
    },
    MAX_AUTOTERMINATION_MINUTES: {
        "type": "integer",
        "minimum": 1,
        "description": "Most idle minutes before an all-purpose cluster terminates"
        " (developers.caps.maxAutoterminationMinutes).",
    },
    NOTEBOOK_ROOT: {
        "type": "string",
        "pattern": "^/.+/$",
        "description": "Folder (ending in '/') the job's notebooks must be under:"
        " <workspaceRoot>/releases/.",
    },
    LIBRARY_ROOT: {
        "type": "string",
        "minLength": 2,
        "description": "Prefix (ending in '/') the job's libraries must start with: the artifact"
        " store's releases folder, as a library URI.",
    },
    PRODUCTION: {
        "type": "boolean",
        "description": "Whether the stack is production (prod stack, or required rollback target).",
    },
}


def config_schema(*keys: str) -> PolicyConfigSchema:
    """The schema of the settings a policy reads; all required, so the engine refuses to run the
    pack without `--policy-pack-config` rather than run it without caps or roots."""
    return PolicyConfigSchema(
        properties={key: dict(SETTING_SCHEMAS[key]) for key in keys}, required=list(keys)
    )


class MissingSetting(Exception):
    """The pack's config lacks a key a policy needs (only possible outside the engine, which
    validates the config against each policy's schema first)."""


def setting(config: Mapping[str, Any], key: str) -> Any:
    if key not in config:
        raise MissingSetting(
            f"the policy pack's config has no {key!r}: pass --policy-pack-config with the file"
            " `python -m cicd.policy_config --stack <stack>` writes"
        )
    return config[key]


class Redacted(str):
    """A value that must not be printed (a secret): not its letters, not its length."""

    def shown(self) -> str:
        return "a literal value (not shown)"


class Computed:
    """A value computed at deploy time (unknown during a preview), shown as such."""


COMPUTED = Computed()


def show(value: Any) -> str:
    """A value as a reviewer reads it: numbers without the wire's '.0', strings quoted."""
    if value is None:
        return "unset"
    if isinstance(value, Computed):
        return "known after deploy"
    if isinstance(value, Redacted):
        return value.shown()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return str(value)


def resource_label(resource_type: str, name: str) -> str:
    return f"{resource_type} {name!r}"


def violation(resource_type: str, name: str, field: str, value: Any, rule: str) -> str:
    """The message every policy reports: resource, field, value seen, and the rule. A value
    under a key that names a secret, and anything shaped like a credential, is redacted
    (`redact`): a message lands in CI logs and pull-request comments."""
    if not isinstance(value, Redacted):
        value = redact_value(value, last_key(field))
    # The rule is the policy's own wording (never a value): redacting it would mangle prose
    # such as "names a secret: keep secrets in a scope".
    return redact_text(f"{resource_label(resource_type, name)}: {field} is {show(value)}") + (
        f"; {rule}"
    )


def get(props: Mapping[str, Any], key: str) -> Any:
    """`props[key]`, None when absent (an unknown value still raises UnknownValueError)."""
    return props[key] if key in keys_of(props) else None


def get_or_computed(props: Mapping[str, Any], key: str) -> Any:
    """`get`, with COMPUTED for a value unknown in a preview: a rule that refuses the field
    whatever its value reports it in the preview too, instead of the engine skipping the policy."""
    try:
        return get(props, key)
    except UnknownValueError:
        return COMPUTED


def keys_of(props: Mapping[str, Any]) -> set[str]:
    # Iterating a policy proxy never reads a value, so an unknown one cannot raise here.
    return set(iter(props))


def is_set(props: Mapping[str, Any], key: str) -> bool:
    """Present and not empty; a value computed at deploy time (unknown in a preview) counts."""
    try:
        value = get(props, key)
    except UnknownValueError:
        return True
    return value not in (None, "", [], {})


def number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def items(value: Any) -> Iterator[tuple[int, Any]]:
    """Index and item of a list input (none when unset)."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        yield from enumerate(value)


def task_bodies(props: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every task of a job that runs something, with its field prefix: each task
    (`tasks[0].`) and a for-each's inner task (`tasks[0].forEachTask.task.`), which runs once per
    input with its own compute, libraries and code."""
    for i, task in items(get(props, "tasks")):
        yield f"tasks[{i}].", task
        inner = get(get(task, "forEachTask") or {}, "task")
        if isinstance(inner, Mapping):
            yield f"tasks[{i}].forEachTask.task.", inner


RUNTIME_MAJOR = re.compile(r"^(\d+)\.")


def runtime_major(spark_version: Any) -> int | None:
    match = RUNTIME_MAJOR.match(spark_version) if isinstance(spark_version, str) else None
    return int(match.group(1)) if match else None


# A resource check: (type, name, props, pack config) -> one message per violation.
ResourceCheck = Callable[[str, str, Mapping[str, Any], Mapping[str, Any]], Iterable[str]]


def resource_policy(
    name: str,
    description: str,
    resource_types: Sequence[str],
    check: ResourceCheck,
    settings: Sequence[str] = (),
) -> ResourceValidationPolicy:
    """A mandatory policy that runs `check` on every resource of `resource_types`."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in resource_types:
            return
        for message in check(args.resource_type, args.name, args.props, args.get_config()):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=config_schema(*settings) if settings else None,
    )
