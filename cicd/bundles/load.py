"""Reading a bundle: `databricks.yml`, the files its `include` globs name, and the chosen target
merged over the top level, as plain data whose strings remember the file they came from (bundle
paths are relative to the file that names them).

YAML only: resources defined in Python (`python:` / `experimental.python`, or `.py` includes)
are listed as unsupported, never run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from cicd.bundles.problems import ConversionError, Findings
from cicd.yamltext import safe_load

BUNDLE_FILE = "databricks.yml"
# Top-level sections of a bundle; the ones besides resources, variables and artifacts are
# deployment settings the stack decides itself (said in the report, not converted).
TOP_LEVEL = {
    "bundle",
    "include",
    "variables",
    "targets",
    "resources",
    "artifacts",
    "workspace",
    "run_as",
    "permissions",
    "presets",
    "sync",
    "experimental",
    "python",
    "scripts",
}
STACK_DECIDES = {
    "permissions": "the stack's databricks-cicd:access decides who may manage and run jobs",
    "presets": "names, tags and pauses come from the stack, not bundle presets",
    "sync": "the release holds exactly the files the jobs and pipelines use",
    "mode": "a stack deploys as itself (no development-mode name prefix or paused triggers)",
    "workspace": "the stack's databricks:host and workspaceRoot say where it deploys",
    "scripts": "bundle scripts are not run",
    "git": "the release records its own provenance",
}
# Lists a target merges into the top level by item key, as the bundle CLI does.
LIST_KEYS = ("task_key", "job_cluster_key", "environment_key", "name")


class Sourced(str):
    """A string read from a bundle file; `origin` is that file, relative to the bundle root."""

    origin: PurePosixPath

    def __new__(cls, value: str, origin: PurePosixPath) -> Sourced:
        made = super().__new__(cls, value)
        made.origin = origin
        return made


def _tag(value: Any, origin: PurePosixPath) -> Any:
    if isinstance(value, str):
        return Sourced(value, origin)
    if isinstance(value, Mapping):
        return {str(k): _tag(v, origin) for k, v in value.items()}
    if isinstance(value, list):
        return [_tag(v, origin) for v in value]
    return value


@dataclass(frozen=True)
class Resource:
    kind: str  # jobs, pipelines, apps, ...
    key: str
    file: PurePosixPath  # where it is defined
    data: dict[str, Any]

    @property
    def where(self) -> str:
        return f"resources.{self.kind}.{self.key}"


@dataclass
class Bundle:
    """One target of a bundle, merged: what the translation reads."""

    root: Path
    name: str
    target: str
    variables: dict[str, dict[str, Any]]  # name -> declaration (default, lookup, ...)
    target_values: dict[str, Any]  # name -> the target's value
    workspace: dict[str, Any]
    run_as: dict[str, Any] | None
    resources: dict[str, dict[str, Resource]]
    artifacts: dict[str, tuple[PurePosixPath, dict[str, Any]]]
    files: list[PurePosixPath] = field(default_factory=list)


def _read(root: Path, relative: PurePosixPath, findings: Findings) -> dict[str, Any] | None:
    path = root / relative
    try:
        data = safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        findings.error(relative, "(file)", f"cannot be read ({exc.strerror})")
        return None
    except yaml.YAMLError as exc:
        findings.error(relative, "(file)", f"is not valid YAML ({' '.join(str(exc).split())})")
        return None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        findings.error(relative, "(file)", "is not a YAML mapping of bundle sections")
        return None
    tagged: dict[str, Any] = _tag(data, relative)
    return tagged


def _included(root: Path, patterns: Any, findings: Findings) -> list[PurePosixPath]:
    if patterns is None:
        return []
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        findings.error(BUNDLE_FILE, "include", "must be a list of glob patterns")
        return []
    found: list[PurePosixPath] = []
    for index, pattern in enumerate(patterns):
        matches = sorted(p for p in root.glob(pattern) if p.is_file())
        if not matches:
            findings.error(
                BUNDLE_FILE, f"include[{index}]", f"{pattern!r} matches no file in the bundle"
            )
        for match in matches:
            relative = PurePosixPath(match.relative_to(root).as_posix())
            if relative.suffix not in (".yml", ".yaml"):
                findings.unsupported_item(
                    BUNDLE_FILE,
                    f"include[{index}]",
                    f"{relative} is not YAML: resources defined in Python are not converted"
                    " (define them in YAML)",
                )
            elif relative not in found and relative != PurePosixPath(BUNDLE_FILE):
                found.append(relative)
    return found


def _merge(base: Any, override: Any) -> Any:
    """A target's value over the top level's: mappings key by key, lists of keyed items (tasks,
    job clusters, environments, parameters) item by item, anything else replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(override, list):
        for list_key in LIST_KEYS:
            if all(isinstance(i, dict) and list_key in i for i in (*base, *override)):
                items = {str(i[list_key]): i for i in base}
                for item in override:
                    name = str(item[list_key])
                    items[name] = _merge(items[name], item) if name in items else item
                return list(items.values())
    return override


def load_bundle(root: Path, target: str, findings: Findings) -> Bundle:
    """The bundle in `root` for `target`; problems go to `findings` (a missing databricks.yml
    or target raises at once: nothing else can be read)."""
    main_file = PurePosixPath(BUNDLE_FILE)
    if not (root / BUNDLE_FILE).is_file():
        raise ConversionError(
            f"{root}: no {BUNDLE_FILE}; give the folder that holds the bundle's {BUNDLE_FILE}"
        )
    main = _read(root, main_file, findings)
    if main is None:
        raise ConversionError("\n".join(f.line() for f in findings.errors))
    documents = [(main_file, main)]
    for relative in _included(root, main.get("include"), findings):
        data = _read(root, relative, findings)
        if data is not None:
            documents.append((relative, data))
    variables: dict[str, dict[str, Any]] = {}
    resources: dict[str, dict[str, Resource]] = {}
    artifacts: dict[str, tuple[PurePosixPath, dict[str, Any]]] = {}
    workspace: dict[str, Any] = {}
    run_as: dict[str, Any] | None = None
    targets: dict[str, Any] = {}
    name = ""
    for relative, data in documents:
        for section, value in data.items():
            if section not in TOP_LEVEL:
                findings.error(
                    relative,
                    section,
                    f"is not a bundle section (known: {', '.join(sorted(TOP_LEVEL))})",
                )
            elif section in ("python", "experimental") and (
                section == "python" or isinstance(value, dict) and "python" in value
            ):
                findings.unsupported_item(
                    relative,
                    section if section == "python" else "experimental.python",
                    "resources defined in Python are not converted (define them in YAML)",
                )
            elif section in STACK_DECIDES:
                findings.note(relative, section, f"not converted: {STACK_DECIDES[section]}")
        bundle_section = data.get("bundle")
        if isinstance(bundle_section, dict) and bundle_section.get("name"):
            name = str(bundle_section["name"])
        for var, declaration in (data.get("variables") or {}).items():
            variables[var] = (
                declaration if isinstance(declaration, dict) else {"default": declaration}
            )
        for art, spec in (data.get("artifacts") or {}).items():
            artifacts[art] = (relative, spec if isinstance(spec, dict) else {})
        if isinstance(data.get("workspace"), dict):
            workspace.update(data["workspace"])
        if isinstance(data.get("run_as"), dict):
            run_as = data["run_as"]
        if isinstance(data.get("targets"), dict):
            targets.update(data["targets"])
        _add_resources(resources, relative, data.get("resources"), findings)
    if not name:
        findings.error(BUNDLE_FILE, "bundle.name", "is missing: a bundle has a name")
    if target not in targets:
        raise ConversionError(
            f"{root / BUNDLE_FILE}: targets: has no target {target!r}; its targets are:"
            f" {', '.join(sorted(targets)) or 'none'}. Give one with --target"
        )
    chosen = targets[target] if isinstance(targets[target], dict) else {}
    values: dict[str, Any] = {}
    for key, value in chosen.items():
        where = f"targets.{target}.{key}"
        if key == "variables":
            for var, given in (value or {}).items():
                values[var] = given.get("default") if isinstance(given, dict) else given
                if isinstance(given, dict) and "lookup" in given:
                    values[var] = {"lookup": given["lookup"]}
        elif key == "workspace" and isinstance(value, dict):
            workspace.update(value)
        elif key == "run_as" and isinstance(value, dict):
            run_as = value
        elif key == "resources" and isinstance(value, dict):
            for kind, entries in value.items():
                for res_key, override in (entries or {}).items():
                    existing = resources.get(kind, {}).get(res_key)
                    if existing is None:
                        _add_resources(resources, main_file, {kind: {res_key: override}}, findings)
                    else:
                        resources[kind][res_key] = Resource(
                            kind, res_key, existing.file, _merge(existing.data, override)
                        )
        elif key == "artifacts" and isinstance(value, dict):
            for art, spec in value.items():
                old = artifacts.get(art, (main_file, {}))
                artifacts[art] = (old[0], _merge(old[1], spec))
        elif key in STACK_DECIDES:
            findings.note(main_file, where, f"not converted: {STACK_DECIDES[key]}")
        elif key in ("cluster_id", "compute_id"):
            findings.unsupported_item(
                main_file, where, "runs every task on an existing cluster: jobs run on job clusters"
            )
        elif key not in ("default", "bundle"):
            findings.note(main_file, where, "not converted: a deployment setting of the target")
    return Bundle(
        root,
        name,
        target,
        variables,
        values,
        workspace,
        run_as,
        resources,
        artifacts,
        [relative for relative, _ in documents],
    )


def _add_resources(
    resources: dict[str, dict[str, Resource]],
    relative: PurePosixPath,
    section: Any,
    findings: Findings,
) -> None:
    if section is None:
        return
    if not isinstance(section, dict):
        findings.error(relative, "resources", "must be a mapping of resource kinds")
        return
    for kind, entries in section.items():
        if not isinstance(entries, dict):
            findings.error(relative, f"resources.{kind}", "must be a mapping of resources by key")
            continue
        for key, data in entries.items():
            if key in resources.get(kind, {}):
                findings.error(
                    relative,
                    f"resources.{kind}.{key}",
                    f"is also defined in {resources[kind][key].file}: a key is defined once",
                )
                continue
            if not isinstance(data, dict):
                findings.error(relative, f"resources.{kind}.{key}", "must be a mapping")
                continue
            resources.setdefault(kind, {})[key] = Resource(kind, str(key), relative, data)
