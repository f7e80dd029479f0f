"""One conversion, start to end: read the bundle target, build or take its wheels, translate
its jobs and pipelines, stage and check the release, check the whole resulting stack as the
preview would, then publish the release and write the stack file.

Nothing is written until every check passed; the stack file is written only if its bytes are
still those read at the start (an edit made meanwhile is never overwritten) and only if the
conversion changes it (converting the same version again changes nothing).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cicd.bundles.artifacts import build_artifacts
from cicd.bundles.content import stage_tree
from cicd.bundles.interpolation import Resolver
from cicd.bundles.load import load_bundle
from cicd.bundles.problems import ConversionError, Finding, Findings, capped
from cicd.bundles.stack_file import StackChange, add_bundle
from cicd.bundles.translate import translate
from cicd.config import (
    ConfigError,
    StackConfig,
    check_version,
    namespace_values,
    parse_stack_config,
    stack_text_config_map,
)
from cicd.project import stack_file
from cicd.releases.content import ReleaseContentError, scan_release
from cicd.releases.lock import LOCK_FILE, NO_ENTRY, LockError, read_lock_document
from cicd.releases.placement import ForeignContentError
from cicd.releases.publish import PublishError, publish, release_folder
from cicd.releases.references import reference_problems


@dataclass(frozen=True)
class Request:
    bundle_dir: Path
    target: str
    stack: str
    version: str
    variables: dict[str, str] = field(default_factory=dict)
    libraries: tuple[Path, ...] = ()
    skip_unsupported: bool = False


def _unique(findings: list[Finding]) -> list[Finding]:
    return list(dict.fromkeys(findings))


def _refuse(findings: Findings, skip: bool) -> None:
    errors = _unique(findings.errors)
    unsupported = _unique(findings.unsupported)
    if errors:
        lines = [f"{len(errors)} problem(s) in the bundle; nothing was written:", *capped(errors)]
        if unsupported and not skip:
            lines += [f"and {len(unsupported)} item(s) this tool does not convert:"]
            lines += capped(unsupported)
        raise ConversionError("\n".join(lines))
    if unsupported and not skip:
        raise ConversionError(
            "\n".join(
                [
                    f"{len(unsupported)} item(s) of the bundle cannot be converted; nothing was"
                    " written:",
                    *capped(unsupported),
                    "Change the bundle, or give --skip-unsupported to convert the rest and"
                    " leave these out.",
                ]
            )
        )


def _stack_problems(
    project_dir: Path, config: StackConfig, version: str, staged: Path
) -> list[str]:
    """What the preview would refuse about the kept releases once the bundle is added."""
    try:
        _, _, metadata = read_lock_document(project_dir / LOCK_FILE)
    except LockError as exc:
        return [str(exc)]
    problems: list[str] = []
    for kept in config.releases.versions:
        if kept == version:
            content, entry = scan_release(staged), NO_ENTRY
        else:
            meta = metadata.get(kept)
            folder = project_dir / release_folder(kept, config.releases.entry(kept).source, meta)
            try:
                content = scan_release(folder)
            except ReleaseContentError as exc:
                problems.append(f"kept release {kept}: {exc}")
                continue
            entry = meta.entry_notebook if meta else "main"
        if config.job is not None and config.job.tasks is None and entry == NO_ENTRY:
            problems.append(
                f"databricks-cicd:job runs each kept release's entry notebook, and release"
                f" {kept} (a converted bundle) has none: give the main job tasks, or convert"
                " into a stack without it"
            )
        problems.extend(
            f"kept release {kept}: {p}" for p in reference_problems(config, content, entry)
        )
    return problems


def convert(project_dir: Path, request: Request) -> list[str]:
    """Convert; the lines to print. Raises ConversionError, with nothing written, on any problem."""
    try:
        check_version(request.version)
    except ValueError as exc:
        raise ConversionError(f"--version: {exc}") from None
    path = stack_file(project_dir, request.stack)
    try:
        original = path.read_bytes()
    except FileNotFoundError:
        raise ConversionError(
            f"{path}: no such stack file. Create it with workspaceRoot and artifactStore (see"
            " docs/convert-bundle.md), or name another with --stack"
        ) from None
    root = request.bundle_dir.resolve()
    findings = Findings()
    bundle = load_bundle(root, request.target, findings)
    with tempfile.TemporaryDirectory(prefix="convert-bundle-") as scratch_name:
        scratch = Path(scratch_name)
        if request.libraries:
            wheels = list(request.libraries)
            missing = [str(p) for p in wheels if not p.is_file()]
            if missing:
                raise ConversionError(f"--library: no such file: {', '.join(missing)}")
            if bundle.artifacts:
                findings.note(
                    "databricks.yml", "artifacts", "not built: the wheels given with --library"
                )
        elif bundle.artifacts and not findings.errors:
            wheels = build_artifacts(root, bundle.artifacts, scratch, findings)
        else:
            wheels = []
        resolver = Resolver(bundle, request.variables, findings)
        translation = translate(bundle, resolver, findings, [w.name for w in wheels])
        _refuse(findings, request.skip_unsupported)
        if not translation.jobs and not translation.pipelines:
            raise ConversionError(
                f"{root}: target {request.target!r} has no job or pipeline to convert;"
                " nothing was written"
            )
        staged = scratch / "release"
        count = stage_tree(root, translation, staged / "notebooks")
        (staged / "libraries").mkdir(parents=True)
        for wheel in wheels:
            (staged / "libraries" / wheel.name).write_bytes(wheel.read_bytes())
        try:
            scan_release(staged)
        except ReleaseContentError as exc:
            raise ConversionError(str(exc).replace(str(staged), str(root))) from None

        text = original.decode("utf-8")
        change = add_bundle(
            text, path.name, request.version, translation.jobs, translation.pipelines
        )
        if change.problems:
            raise ConversionError("\n".join(["nothing was written:", *capped(change.problems)]))
        try:
            config = parse_stack_config(
                namespace_values(stack_text_config_map(change.after, path.name))
            )
        except ConfigError as exc:
            raise ConversionError(
                f"{path.name}: the converted stack would not be valid; nothing was written: {exc}"
            ) from None
        problems = _stack_problems(project_dir, config, request.version, staged)
        if problems:
            raise ConversionError(
                "\n".join(
                    [
                        f"{path.name}: every kept release must hold what every job and pipeline"
                        " runs (a rollback is one edit); nothing was written:",
                        *capped(problems),
                    ]
                )
            )
        if path.read_bytes() != original:
            raise ConversionError(
                f"{path} changed while converting: nothing was written; run again"
            )
        published_from = {
            "notebooks/": f"bundle {request.bundle_dir} (target {request.target})",
            **{
                f"libraries/{w.name}": str(w) if request.libraries else "the bundle's artifacts"
                for w in wheels
            },
        }
        try:
            published = publish(
                project_dir,
                request.version,
                staged / "notebooks",
                wheels,
                None,
                no_entry=True,
                published_from=published_from,
            )
        except (PublishError, ReleaseContentError, LockError, ForeignContentError) as exc:
            raise ConversionError(f"publishing {request.version}: {exc}") from None
    if change.after != text:
        if path.read_bytes() != original:
            raise ConversionError(
                f"{path} changed while converting: not overwritten. Release {request.version}"
                " is published; run the command again to add it to the stack"
            )
        path.write_text(change.after, encoding="utf-8")
    return _report(
        request,
        path.name,
        translation.jobs,
        translation.pipelines,
        count,
        change,
        published,
        findings,
    )


def _before_deploying(jobs: Mapping[str, Mapping[str, object]]) -> list[str]:
    """What the converted jobs lack that the guardrails require and no bundle field gives."""
    todo = []
    for key, job in sorted(jobs.items()):
        where = f"databricks-cicd:jobs.{key}"
        if "runAs" not in job:
            todo.append(
                f"{where}.runAs: set the application id of the service principal it runs as"
            )
        notes = job.get("emailNotifications")
        if not (isinstance(notes, Mapping) and notes.get("onFailure")) and not job.get(
            "failureEmails"
        ):
            todo.append(f"{where}.failureEmails: name who hears when it fails")
    return todo


def _report(
    request: Request,
    stack_name: str,
    jobs: Mapping[str, Mapping[str, object]],
    pipelines: Mapping[str, object],
    count: int,
    change: StackChange,
    published: list[str],
    findings: Findings,
) -> list[str]:
    lines = [
        f"{request.bundle_dir} (target {request.target}) -> stack {request.stack}, release"
        f" {request.version}: {len(jobs)} job(s) ({', '.join(sorted(jobs)) or 'none'}),"
        f" {len(pipelines)} pipeline(s) ({', '.join(sorted(pipelines)) or 'none'}),"
        f" {count} file(s)",
        published[0],
    ]
    if change.lines:
        lines.append(f"{stack_name}:")
        lines += [f"  {line}" for line in change.lines]
    else:
        lines.append(f"{stack_name}: nothing to change")
    unsupported = _unique(findings.unsupported)
    if unsupported:
        lines.append(f"left out (--skip-unsupported), {len(unsupported)} item(s):")
        lines += capped(unsupported)
    notes = _unique(findings.notes)
    if notes:
        lines.append("not converted (the stack decides these):")
        lines += capped(notes)
    todo = _before_deploying(jobs)
    if todo:
        lines.append("before deploying (the policy pack refuses a job without these):")
        lines += capped(todo)
    if change.made_live:
        lines.append(f"{request.version} is live: the stack had no release yet.")
    elif change.lines:
        lines.append(
            f"{request.version} is kept, not live: make it live with `python -m cicd.promote"
            f" {request.version} --stack {request.stack}`."
        )
    lines.append(f"Commit {stack_name}, releases/{request.version} and {LOCK_FILE} together.")
    return lines
