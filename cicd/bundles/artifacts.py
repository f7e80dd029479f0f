"""The bundle's wheels: given with `--library`, or built as its `artifacts` say.

A build runs the artifact's own `build` command (default `python -m build --wheel`) in a scratch
copy of the artifact's folder, so nothing is written into the user's bundle, with a scrubbed
environment: only PATH and locale variables, a scratch HOME (no ~/.databrickscfg, no tokens),
and a fixed SOURCE_DATE_EPOCH. Credentials never reach a build.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

from cicd.bundles.problems import ConversionError, Findings

# Kept from the caller's environment: what finds the tools and decodes text, nothing that
# authenticates (DATABRICKS_*, ARM_*, AWS_*, GOOGLE_*, tokens, HOME and its config files).
KEPT_VARIABLES = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "SYSTEMROOT")
SOURCE_DATE_EPOCH = "315532800"
IGNORED = shutil.ignore_patterns(".git", ".venv", "dist", "build", "*.egg-info", "__pycache__")
BUILD_TIMEOUT_SECONDS = 900


def build_environment(scratch: Path) -> dict[str, str]:
    """The environment a build runs with: nothing that could hold a credential."""
    env = {name: os.environ[name] for name in KEPT_VARIABLES if name in os.environ}
    home = scratch / "home"
    home.mkdir(exist_ok=True)
    env.update(
        HOME=str(home),
        TMPDIR=str(scratch),
        SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH,
        PIP_NO_INPUT="1",
    )
    return env


def build_artifacts(
    root: Path,
    artifacts: dict[str, tuple[PurePosixPath, dict[str, Any]]],
    scratch: Path,
    findings: Findings,
) -> list[Path]:
    """Build every `whl` artifact in a scratch copy; the wheels it made (in `scratch`)."""
    wheels: list[Path] = []
    for name, (file, spec) in sorted(artifacts.items()):
        where = f"artifacts.{name}"
        kind = spec.get("type", "whl")
        if kind != "whl":
            findings.unsupported_item(
                file, f"{where}.type", f"{kind!r}: only whl artifacts are built"
            )
            continue
        folder = (root / file.parent / str(spec.get("path", "."))).resolve()
        if not folder.is_dir() or not folder.is_relative_to(root.resolve()):
            findings.error(file, f"{where}.path", f"{folder}: no such folder in the bundle")
            continue
        source = scratch / "artifacts" / name
        shutil.copytree(folder, source, ignore=IGNORED)
        command = spec.get("build")
        argv = (
            ["/bin/sh", "-c", str(command)]
            if command
            else [sys.executable, "-m", "build", "--wheel", "--no-isolation"]
        )
        shown = str(command) if command else shlex.join(argv[1:])
        try:
            result = subprocess.run(
                argv,
                cwd=source,
                env=build_environment(scratch),
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConversionError(
                f"{file}: {where}.build: {shown!r} could not run ({exc}); build the wheel"
                " yourself and give it with --library"
            ) from None
        if result.returncode != 0:
            raise ConversionError(
                f"{file}: {where}.build: {shown!r} failed (exit {result.returncode}); nothing"
                " was written. Build the wheel yourself and give it with --library. Its output:\n"
                + (result.stderr or result.stdout)[-2000:]
            )
        patterns = [
            str(entry.get("source"))
            for entry in spec.get("files") or []
            if isinstance(entry, dict) and entry.get("source")
        ] or ["dist/*.whl"]
        built = sorted({p for pattern in patterns for p in source.glob(pattern) if p.is_file()})
        if not built:
            raise ConversionError(
                f"{file}: {where}: {shown!r} made no file matching {', '.join(patterns)};"
                " nothing was written"
            )
        wheels.extend(built)
    return wheels
