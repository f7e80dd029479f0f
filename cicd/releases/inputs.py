"""Everything a stack deploys, read and checked before a single resource is registered.

Combines the typed stack config with each kept release's content on disk and the release lock.
Every problem found is reported at once, each naming the config key or file, what is wrong and
the fix; the Pulumi program registers nothing unless all of it is right.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cicd.config import ConfigError, StackConfig, read_stack_config
from cicd.releases.content import ReleaseContent, ReleaseContentError, entry_problem, scan_release
from cicd.releases.lock import LOCK_FILE, LockError, ReleaseMetadata, read_lock_document, verify
from cicd.releases.publish import release_folder


class StackInputError(Exception):
    """Bad stack config or release content; the message lists every problem found."""


@dataclass(frozen=True)
class StackInputs:
    config: StackConfig
    releases: dict[str, ReleaseContent]  # version -> content, every kept release
    # version -> the notebook its job runs (workspace name): the stack's job.entryNotebook if
    # set, else what the release recorded. Checked to be a notebook of that release.
    entry_notebooks: dict[str, str]

    @property
    def live(self) -> ReleaseContent:
        return self.releases[self.config.releases.live]


def check_releases(
    config: StackConfig, project_dir: Path
) -> tuple[dict[str, ReleaseContent], dict[str, str]]:
    """Scan every kept release, compare it with the lock and resolve its entry notebook; raise
    with every problem found. Returns (version -> content, version -> entry notebook)."""
    problems: list[str] = []
    try:
        lock, _, metadata = read_lock_document(project_dir / LOCK_FILE)
    except LockError as exc:
        raise StackInputError(str(exc)) from None
    contents: dict[str, ReleaseContent] = {}
    entries: dict[str, str] = {}
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
        entry, problem = _entry_notebook(config, version, content, meta)
        if problem:
            problems.append(problem)
        else:
            entries[version] = entry
    if problems:
        raise StackInputError(
            f"{len(problems)} problem(s) with the kept releases; nothing was deployed:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    return contents, entries


def _entry_notebook(
    config: StackConfig, version: str, content: ReleaseContent, meta: ReleaseMetadata | None
) -> tuple[str, str | None]:
    """The notebook the job runs when `version` is live, and why it cannot be, if so.

    Every kept release is checked, not only the live one: a rollback must stay one edit."""
    override = config.job.entry_notebook
    # The job runs the live release, and the production gate runs the candidate the same way.
    live = (
        " (live)"
        if version == config.releases.live
        else " (candidate)"
        if version == config.releases.candidate
        else ""
    )
    if override is not None:
        problem = entry_problem(content, override)
        return override, problem and (
            f"databricks-cicd:job.entryNotebook: kept release {version}{live} {problem}."
            " The override applies to every kept release, so rolling back would need a second"
            " edit: remove it to run each release's own entry notebook (recorded in"
            f" {LOCK_FILE}), or name a notebook every kept release has"
        )
    entry = (meta or ReleaseMetadata()).entry_notebook
    problem = entry_problem(content, entry)
    return entry, problem and (
        f"release {version}{live} {problem}, the entry notebook {LOCK_FILE} records for it;"
        f" restore {LOCK_FILE} from git, or set databricks-cicd:job.entryNotebook"
    )


def load_stack_inputs(project_dir: Path) -> StackInputs:
    """Read this stack's config from Pulumi and its releases from disk (relative to the project)."""
    try:
        config = read_stack_config()
    except ConfigError as exc:
        raise StackInputError(str(exc)) from None
    return StackInputs(config, *check_releases(config, project_dir))
