"""Everything a stack deploys, read and checked before a single resource is registered.

Combines the typed stack config with each kept release's content on disk and the release lock.
Every problem found is reported at once, each naming the config key or file, what is wrong and
the fix; the Pulumi program registers nothing unless all of it is right.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cicd.config import MAIN, ConfigError, StackConfig, read_stack_config
from cicd.releases.content import ReleaseContent, ReleaseContentError, entry_problem, scan_release
from cicd.releases.lock import (
    LOCK_FILE,
    NO_ENTRY,
    LockError,
    ReleaseMetadata,
    read_lock_document,
    verify,
)
from cicd.releases.problems import MAX_SHOWN
from cicd.releases.publish import release_folder
from cicd.releases.references import reference_problems


class StackInputError(Exception):
    """Bad stack config or release content; the message lists every problem found."""


@dataclass(frozen=True)
class StackInputs:
    config: StackConfig
    releases: dict[str, ReleaseContent]  # version -> content, every kept release
    # version -> the notebook its job runs (workspace name): the stack's job.entryNotebook if
    # set, else what the release recorded. Checked to be a notebook of that release.
    entry_notebooks: dict[str, str]
    # version -> the entry notebook releases.lock.yaml records for it (what a job without tasks
    # and without its own entryNotebook runs).
    recorded_entries: dict[str, str] = field(default_factory=dict)

    @property
    def live(self) -> ReleaseContent:
        return self.releases[self.config.releases.live]


def check_releases(
    config: StackConfig, project_dir: Path
) -> tuple[dict[str, ReleaseContent], dict[str, str], dict[str, str]]:
    """Scan every kept release, compare it with the lock, resolve its entry notebook and check
    that it holds everything the jobs and pipelines use; raise with every problem found.
    Returns (version -> content, version -> main job's entry notebook, version -> recorded
    entry notebook)."""
    problems: list[str] = []
    try:
        lock, _, metadata = read_lock_document(project_dir / LOCK_FILE)
    except LockError as exc:
        raise StackInputError(str(exc)) from None
    contents: dict[str, ReleaseContent] = {}
    entries: dict[str, str] = {}
    recorded: dict[str, str] = {}
    for version in config.releases.versions:
        meta = metadata.get(version)
        source = Path(release_folder(version, config.releases.entry(version).source, meta))
        try:
            content = scan_release(source)
            verify(version, lock, content)
        except (ReleaseContentError, LockError) as exc:
            problems.append(str(exc))
            continue
        contents[version] = content
        recorded[version] = (meta or ReleaseMetadata()).entry_notebook
        live = _role(config, version)
        for key, job in config.all_jobs().items():
            if job.tasks is not None:
                continue
            entry, problem = _entry_notebook(config, key, version, content, meta)
            if problem:
                problems.append(problem)
            elif key == MAIN:
                entries[version] = entry
        problems.extend(
            f"kept release {version}{live}: {p}"
            for p in reference_problems(config, content, recorded[version])
        )
        if MAIN not in config.all_jobs() or config.all_jobs()[MAIN].tasks is not None:
            entries.setdefault(version, recorded[version])
    if problems:
        shown = problems[:MAX_SHOWN]
        more = f"\n  - and {len(problems) - MAX_SHOWN} more" if len(problems) > MAX_SHOWN else ""
        raise StackInputError(
            f"{len(problems)} problem(s) with the kept releases; nothing was deployed. Every"
            " kept release must hold what the jobs and pipelines run, so that a rollback stays"
            " one edit:\n" + "\n".join(f"  - {p}" for p in shown) + more
        )
    return contents, entries, recorded


def _role(config: StackConfig, version: str) -> str:
    # The job runs the live release, and the production gate runs the candidate the same way.
    if version == config.releases.live:
        return " (live)"
    if version == config.releases.candidate:
        return " (candidate)"
    return ""


def _entry_notebook(
    config: StackConfig,
    key: str,
    version: str,
    content: ReleaseContent,
    meta: ReleaseMetadata | None,
) -> tuple[str, str | None]:
    """The notebook job `key` (one without tasks) runs when `version` is live, and why it
    cannot be, if so.

    Every kept release is checked, not only the live one: a rollback must stay one edit."""
    job = config.all_jobs()[key]
    where = "databricks-cicd:" + ".".join(config.job_location(key))
    live = _role(config, version)
    override = job.entry_notebook
    if override is not None:
        problem = entry_problem(content, override)
        return override, problem and (
            f"{where}.entryNotebook: kept release {version}{live} {problem}."
            " The override applies to every kept release, so rolling back would need a second"
            " edit: remove it to run each release's own entry notebook (recorded in"
            f" {LOCK_FILE}), or name a notebook every kept release has"
        )
    entry = (meta or ReleaseMetadata()).entry_notebook
    if entry == NO_ENTRY:
        return entry, (
            f"{where}: release {version}{live} was published without an entry notebook (its"
            f" jobs name their tasks), and {where} has no tasks: give {where} tasks, or set"
            f" {where}.entryNotebook to a notebook every kept release has"
        )
    problem = entry_problem(content, entry)
    return entry, problem and (
        f"release {version}{live} {problem}, the entry notebook {LOCK_FILE} records for it;"
        f" restore {LOCK_FILE} from git, or set {where}.entryNotebook"
    )


def load_stack_inputs(project_dir: Path) -> StackInputs:
    """Read this stack's config from Pulumi and its releases from disk (relative to the project)."""
    try:
        config = read_stack_config()
    except ConfigError as exc:
        raise StackInputError(str(exc)) from None
    return StackInputs(config, *check_releases(config, project_dir))
