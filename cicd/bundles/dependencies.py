"""A bundle's library dependencies as release library patterns.

A job or pipeline here installs only wheels the release published (a package index serves
whatever it holds today; see the policy pack's job-runs-released-code). So each dependency must
come down to wheels given with `--library` (or built from the bundle's `artifacts`):

- a local wheel path or glob (`../dist/*.whl`): its file-name part, matched against those wheels;
- `--editable <folder>` (e.g. `${workspace.file_path}`): the wheel of the project in that folder
  (its pyproject.toml's name);
- a requirement (`cowsay`, `pandas==2.2.3`): a given wheel of that distribution and version.

Anything else (URLs, absolute workspace or volume paths, `-r` files) is not converted.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path, PurePosixPath

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from cicd.bundles.interpolation import BUNDLE_ROOT
from cicd.bundles.paths import bundle_relative


def _wheel_parts(file_name: str) -> tuple[str, str]:
    parts = file_name.removesuffix(".whl").split("-")
    return parts[0], parts[1] if len(parts) > 1 else ""


def _by_distribution(wheels: list[str], name: str) -> list[str]:
    return [w for w in wheels if canonicalize_name(_wheel_parts(w)[0]) == canonicalize_name(name)]


def wheel_pattern(
    value: str, file: PurePosixPath, root: Path, wheels: list[str]
) -> tuple[str | None, str]:
    """(the release library pattern for one dependency, or None and why)."""
    pattern, why = _pattern(value.strip(), file, root, wheels)
    return pattern, why.replace(BUNDLE_ROOT, "${workspace.file_path}")


def _pattern(
    text: str, file: PurePosixPath, root: Path, wheels: list[str]
) -> tuple[str | None, str]:
    given = ", ".join(wheels) or "none"
    if text.startswith(("--editable", "-e ")):
        folder = text.removeprefix("--editable").removeprefix("-e").strip().lstrip("=").strip()
        relative, why = (
            bundle_relative(folder, file, allow_root=True) if folder else (None, "names no folder")
        )
        if relative is None:
            return None, f"{text!r}: {why}"
        project = root / relative / "pyproject.toml"
        try:
            name = tomllib.loads(project.read_text(encoding="utf-8"))["project"]["name"]
        except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError):
            return None, (
                f"{text!r} installs a project, and {project.relative_to(root)} names none"
                " ([project] name): build its wheel and give it with --library"
            )
        found = _by_distribution(wheels, str(name))
        if not found:
            return None, (
                f"{text!r} installs the project {name!r} from the bundle's files; a release"
                f" installs its wheel instead: build it (`python -m build --wheel`) and give it"
                f" with --library (wheels given: {given})"
            )
        return f"{_wheel_parts(found[0])[0]}-*.whl", ""
    if text.endswith(".whl") or "/" in text or text.startswith("."):
        if text.startswith("/") or "://" in text or text.startswith("dbfs:"):
            return None, (
                f"{text!r} is installed from outside the bundle: a release installs only the"
                " wheels it published; give that wheel with --library and name it relative"
                " to the bundle"
            )
        pattern = PurePosixPath(text).name
        if not any(fnmatch.fnmatchcase(w, pattern) for w in wheels):
            return None, (
                f"{text!r} matches none of the wheels given with --library or built from the"
                f" bundle's artifacts ({given})"
            )
        return pattern, ""
    try:
        requirement = Requirement(text)
    except InvalidRequirement:
        return None, f"{text!r} is neither a wheel path nor a requirement this tool can convert"
    if requirement.url or requirement.marker:
        return None, f"{text!r}: requirements with a URL or a marker are not converted"
    for wheel in _by_distribution(wheels, requirement.name):
        try:
            version = Version(_wheel_parts(wheel)[1])
        except InvalidVersion:
            continue
        if requirement.specifier.contains(version, prereleases=True):
            return f"{_wheel_parts(wheel)[0]}-*.whl", ""
    return None, (
        f"{text!r} comes from a package index, and a release installs only wheels it published:"
        f" download the wheel (`pip download {text} --no-deps -d wheels/`) and give it with"
        f" --library (wheels given: {given})"
    )
