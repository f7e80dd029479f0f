"""`${...}` references of a bundle, resolved as the bundle CLI would for one target.

- `${var.NAME}`: `--var NAME=VALUE`, else the target's value, else the variable's default;
- `${bundle.name}`, `${bundle.target}`; `${workspace.host}` and `${workspace.root_path}` when
  the bundle sets them; `${workspace.file_path}` only at the start of a path (the bundle root);
- `${resources.jobs.X.id}` / `${resources.pipelines.X.id}`: a `ResourceRef`, which the
  translation turns into this stack's job or pipeline key (runJob and pipeline tasks only).

What is only known at deploy time (`${workspace.current_user.*}`, lookup variables) is an error
that says to give the value with `--var`. `{{job.parameters.x}}` references are the job's own
and left as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from cicd.bundles.load import Bundle, Sourced
from cicd.bundles.problems import Findings

REFERENCE = re.compile(r"\$\{([A-Za-z0-9_.\-\[\]]+)\}")
FILE_PATH = "workspace.file_path"
# Stands for the bundle root in a resolved path; never leaves the translation.
BUNDLE_ROOT = "\x00bundle-root\x00"
MAX_DEPTH = 10


@dataclass(frozen=True)
class ResourceRef:
    """`${resources.<kind>.<key>.id}`: the id of another job or pipeline of the bundle."""

    kind: str
    key: str


class Resolver:
    """Resolves references in values of one bundle target; problems go to `findings`."""

    def __init__(self, bundle: Bundle, overrides: dict[str, str], findings: Findings) -> None:
        self.bundle = bundle
        self.overrides = overrides
        self.findings = findings

    def resolve(self, value: Any, file: PurePosixPath, key: str, *, path: bool = False) -> Any:
        """`value` with every reference resolved (recursively through mappings and lists).
        With `path`, `${workspace.file_path}` at the start stands for the bundle root."""
        if isinstance(value, dict):
            return {k: self.resolve(v, file, f"{key}.{k}", path=path) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v, file, f"{key}[{i}]", path=path) for i, v in enumerate(value)]
        if not isinstance(value, str):
            return value
        return self._text(value, file, key, path, 0)

    def _text(self, value: str, file: PurePosixPath, key: str, path: bool, depth: int) -> Any:
        origin = value.origin if isinstance(value, Sourced) else file
        whole = REFERENCE.fullmatch(value)
        if whole:
            found = self._lookup(whole.group(1), file, key, path, depth)
            if isinstance(found, str) and not isinstance(found, Sourced):
                return Sourced(found, origin)
            return found

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == FILE_PATH and not (path and match.start() == 0):
                self.findings.unsupported_item(
                    file,
                    key,
                    f"${{{name}}} is the bundle's folder in the workspace: only a path may"
                    " start with it (the release holds the bundle's files)",
                )
                return match.group(0)
            found = self._lookup(name, file, key, path, depth)
            if isinstance(found, (ResourceRef, dict, list)):
                self.findings.unsupported_item(
                    file, key, f"${{{name}}} can only be a whole value, not part of {value!r}"
                )
                return match.group(0)
            return str(found) if not isinstance(found, bool) else str(found).lower()

        return Sourced(REFERENCE.sub(one, value), origin)

    def _lookup(self, name: str, file: PurePosixPath, key: str, path: bool, depth: int) -> Any:
        parts = name.split(".")
        if depth > MAX_DEPTH:
            self.findings.error(file, key, f"${{{name}}}: variables refer to each other in a loop")
            return ""
        if parts[0] == "var" and len(parts) == 2:
            return self._variable(parts[1], file, key, path, depth)
        if name == "bundle.name":
            return self.bundle.name
        if name == "bundle.target":
            return self.bundle.target
        if name == FILE_PATH and path:
            return BUNDLE_ROOT
        if parts[0] == "workspace" and len(parts) == 2 and parts[1] in ("host", "root_path"):
            known = self.bundle.workspace.get(parts[1])
            if isinstance(known, str):
                return self._text(known, file, key, False, depth + 1)
        if parts[0] == "resources" and len(parts) == 4 and parts[3] == "id":
            kind, ref_key = parts[1], parts[2]
            if kind in ("jobs", "pipelines") and ref_key in self.bundle.resources.get(kind, {}):
                return ResourceRef(kind, ref_key)
            if kind in ("jobs", "pipelines"):
                self.findings.error(
                    file, key, f"${{{name}}}: the bundle has no {kind[:-1]} {ref_key!r}"
                )
                return ""
            self.findings.unsupported_item(
                file, key, f"${{{name}}}: only jobs and pipelines of the bundle are converted"
            )
            return ""
        if parts[0] == "workspace" or parts[0] == "bundle":
            self.findings.error(
                file,
                key,
                f"${{{name}}} is only known when the bundle CLI deploys: put the value in a"
                " variable and give it with --var NAME=VALUE",
            )
            return ""
        self.findings.error(file, key, f"${{{name}}} is not a reference this tool knows")
        return ""

    def _variable(self, var: str, file: PurePosixPath, key: str, path: bool, depth: int) -> Any:
        if var in self.overrides:
            return self.overrides[var]
        declaration = self.bundle.variables.get(var)
        if declaration is None:
            self.findings.error(
                file, key, f"${{var.{var}}}: no variable {var!r} is declared under variables"
            )
            return ""
        if var in self.bundle.target_values and self.bundle.target_values[var] is not None:
            value = self.bundle.target_values[var]
            where = f"targets.{self.bundle.target}.variables.{var}"
        else:
            value = declaration.get("default")
            where = f"variables.{var}.default"
            if value is None and "lookup" in declaration:
                value = {"lookup": declaration["lookup"]}
        if isinstance(value, dict) and "lookup" in value:
            self.findings.unsupported_item(
                file,
                key,
                f"${{var.{var}}} is a lookup, resolved only when the bundle CLI deploys: give"
                f" its value with --var {var}=VALUE",
            )
            return ""
        if value is None:
            self.findings.error(
                file,
                key,
                f"${{var.{var}}} has no value for target {self.bundle.target!r}: set it under"
                f" targets.{self.bundle.target}.variables or give --var {var}=VALUE",
            )
            return ""
        origin = value.origin if isinstance(value, Sourced) else PurePosixPath("databricks.yml")
        if isinstance(value, str):
            return self._text(value, origin, where, path, depth + 1)
        return self.resolve(value, origin, where, path=path)
