"""The one reader of stack config: `Pulumi.<stack>.yaml` (or the running program's config)
validated into a `StackConfig`, with every problem reported at once by full key, value and fix.

Each top-level key has its own module (releases, job, artifactStore, access, developers); this
one holds the whole and the checks that span sections. Nothing here needs the Pulumi runtime:
`parse_stack_config` takes plain values, `read_stack_config` only collects them from the running
program first.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import Field, StrictStr, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails

from cicd.config.access import Access
from cicd.config.artifact_store import ArtifactStore, ArtifactStoreKind
from cicd.config.base import (
    FIRST_RUNTIME_WITHOUT_DBFS_LIBRARIES,
    NAMESPACE,
    ConfigError,
    Model,
    check_workspace_path,
    problem,
)
from cicd.config.cluster import DataSecurityMode
from cicd.config.developers import Developers
from cicd.config.gate import GateSettings
from cicd.config.job import MAIN, JobSettings, find_cycle
from cicd.config.pipeline import PipelineSettings
from cicd.config.releases import Releases
from cicd.config.tasks import check_key
from cicd.yamltext import safe_load


class StackConfig(Model):
    """Everything one stack deploys, validated as a whole."""

    # Names the stack's objects (tags, dev folders and clusters): lowercase, digits and '-'.
    pipeline_name: StrictStr = Field(default="etl-pipeline", pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    # The workspace folder holding releases/<version>/, e.g. /Production/etl-pipeline.
    workspace_root: StrictStr
    # Where the releases' libraries go (releases/<version>/ below its root).
    artifact_store: ArtifactStore
    # The kept releases, the live one, the rollback target (and the gate's candidate).
    releases: Releases
    # The main job (key `main`): the stack's one job before `jobs` existed; it may gain tasks.
    job: JobSettings | None = None
    # Further jobs by key (a stable id: renaming a key replaces the job).
    jobs: dict[str, JobSettings] = Field(default_factory=dict)
    # Lakeflow Declarative Pipelines by key.
    pipelines: dict[str, PipelineSettings] = Field(default_factory=dict)
    # Which jobs the production gate runs before the switch (default: all of them).
    gate: GateSettings | None = None
    # Who manages, runs and reads the stack's objects (admin group, deploy identity, ...).
    access: Access | None = None
    # Per-engineer dev environments; any stack may have them (staging does).
    developers: Developers | None = None

    @field_validator("workspace_root")
    @classmethod
    def _workspace_root(cls, value: str) -> str:
        return check_workspace_path(value, "workspaceRoot")

    @field_validator("jobs", "pipelines")
    @classmethod
    def _keys(cls, value: dict[str, object]) -> dict[str, object]:
        for key in value:
            check_key(key, "key")
        return value

    def all_jobs(self) -> dict[str, JobSettings]:
        """Every job by key: `main` (databricks-cicd:job) first, then the others sorted."""
        found = {MAIN: self.job} if self.job is not None else {}
        found.update(sorted(self.jobs.items()))
        return found

    def gated_jobs(self) -> list[str]:
        """The keys of the jobs the production gate runs (default: every job)."""
        if self.gate is not None and self.gate.jobs is not None:
            return list(self.gate.jobs)
        return list(self.all_jobs())

    @staticmethod
    def job_location(key: str) -> tuple[str, ...]:
        """Where a job is written in the stack config: ("job",) or ("jobs", key)."""
        return ("job",) if key == MAIN else ("jobs", key)

    @model_validator(mode="after")
    def _cross_checks(self) -> Self:
        problems: list[InitErrorDetails] = []
        if self.job is None and not self.jobs and not self.pipelines:
            problems.append(
                problem(
                    ("job",),
                    None,
                    f"is missing: the stack runs nothing; add {NAMESPACE}:job (the main job),"
                    f" {NAMESPACE}:jobs or {NAMESPACE}:pipelines",
                )
            )
        if self.job is not None and MAIN in self.jobs:
            problems.append(
                problem(
                    ("jobs", MAIN),
                    MAIN,
                    f"the key {MAIN!r} is the main job ({NAMESPACE}:job): name this job otherwise",
                )
            )
        jobs = self.all_jobs()
        names: dict[str, str] = {}
        for key, job in jobs.items():
            where = self.job_location(key)
            if job.name in names:
                problems.append(
                    problem(
                        (*where, "name"),
                        job.name,
                        f"{job.name!r} is also the name of {names[job.name]}: jobs are found by"
                        " name (drift check, provenance), so give each its own",
                    )
                )
            names.setdefault(job.name, ".".join(map(str, where)))
            problems.extend(self._job_problems(where, job, jobs))
        for key in (self.gate.jobs or []) if self.gate else []:
            if key not in jobs:
                problems.append(
                    problem(
                        ("gate", "jobs"),
                        key,
                        f"{key!r} is not a job of this stack (jobs: {', '.join(jobs) or 'none'})",
                    )
                )
        runs = {
            key: sorted(
                {t.run_job.job for t in (job.tasks or []) if t.run_job and t.run_job.job in jobs}
            )
            for key, job in jobs.items()
        }
        cycle = find_cycle(runs)
        if cycle:
            problems.append(
                problem(
                    ("jobs",),
                    None,
                    "jobs run each other in a cycle (runJob tasks): " + " -> ".join(cycle),
                )
            )
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, problems)
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
        if self.developers is not None:
            # Admin group and DBFS-vs-runtime checks for dev clusters, each naming the engineer.
            self.developers.check_in_stack(self.artifact_store, self.access)
        return self

    def _job_problems(
        self, where: tuple[str, ...], job: JobSettings, jobs: dict[str, JobSettings]
    ) -> list[InitErrorDetails]:
        problems: list[InitErrorDetails] = []
        dbfs = self.artifact_store.kind is ArtifactStoreKind.DBFS
        for cluster_key, cluster in job.clusters().items():
            at = (
                (*where, "cluster")
                if cluster_key == MAIN and job.cluster is not None
                else (*where, "jobClusters", cluster_key)
            )
            if dbfs and cluster.runtime_major >= FIRST_RUNTIME_WITHOUT_DBFS_LIBRARIES:
                problems.append(
                    problem(
                        (*at, "sparkVersion"),
                        cluster.spark_version,
                        f"artifactStore.kind 'dbfs' cannot serve sparkVersion"
                        f" {cluster.spark_version!r}: runtime 15 and later refuse libraries"
                        " installed from DBFS. Switch artifactStore to kind: volume"
                        " (root /Volumes/<catalog>/<schema>/<volume>) or kind: workspace,"
                        " or use a runtime below 15",
                    )
                )
            if cluster.data_security_mode is DataSecurityMode.SINGLE_USER and not job.run_as:
                problems.append(
                    problem(
                        (*at, "dataSecurityMode"),
                        "SINGLE_USER",
                        f"SINGLE_USER needs {'.'.join(where)}.runAs: the single user of a job"
                        " cluster is the identity the job runs as; set runAs to a service"
                        " principal",
                    )
                )
        if dbfs and job.environments:
            problems.append(
                problem(
                    (*where, "environments"),
                    sorted(job.environments),
                    "serverless environments cannot install libraries from DBFS; switch"
                    " artifactStore to kind: volume or kind: workspace",
                )
            )
        for index, task in enumerate(job.tasks or []):
            body = task.runs()
            if body.run_job and body.run_job.job not in jobs:
                problems.append(
                    problem(
                        (*where, "tasks", index, "runJob", "job"),
                        body.run_job.job,
                        f"task {body.task_key!r} runs job {body.run_job.job!r}, which is not a"
                        f" job of this stack (jobs: {', '.join(jobs)})",
                    )
                )
            if body.pipeline and body.pipeline.pipeline not in self.pipelines:
                problems.append(
                    problem(
                        (*where, "tasks", index, "pipeline", "pipeline"),
                        body.pipeline.pipeline,
                        f"task {body.task_key!r} runs pipeline {body.pipeline.pipeline!r}, which"
                        " is not a pipeline of this stack (pipelines:"
                        f" {', '.join(sorted(self.pipelines)) or 'none'})",
                    )
                )
        return problems


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
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such stack file"]) from None
    return stack_text_config_map(text, str(path))


def stack_text_config_map(text: str, where: str) -> dict[str, str]:
    """`pulumi_config_map` of a stack file's text (`where` names it in errors): how an edit is
    checked by this one reader before it is written."""
    path = where
    try:
        document = safe_load(text) or {}
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
