"""Everything a stack deploys, read and checked before a single resource is registered.

Combines the typed stack config with each kept release's content on disk and the release lock.
Every problem found is reported at once, each naming the config key or file, what is wrong and
the fix; the Pulumi program registers nothing unless all of it is right.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cicd.config import ConfigError, StackConfig, read_stack_config
from cicd.releases.content import ReleaseContent, ReleaseContentError, scan_release
from cicd.releases.lock import LOCK_FILE, LockError, read_lock, verify


class StackInputError(Exception):
    """Bad stack config or release content; the message lists every problem found."""


@dataclass(frozen=True)
class StackInputs:
    config: StackConfig
    releases: dict[str, ReleaseContent]  # version -> content, every kept release

    @property
    def live(self) -> ReleaseContent:
        return self.releases[self.config.releases.live]


def check_releases(config: StackConfig, project_dir: Path) -> dict[str, ReleaseContent]:
    """Scan every kept release and compare it with the lock; raise with every problem found."""
    problems: list[str] = []
    try:
        lock = read_lock(project_dir / LOCK_FILE)
    except LockError as exc:
        raise StackInputError(str(exc)) from None
    contents: dict[str, ReleaseContent] = {}
    for version in config.releases.versions:
        source = Path(config.releases.entry(version).source_dir)
        try:
            content = scan_release(source)
            verify(version, lock, content)
        except (ReleaseContentError, LockError) as exc:
            problems.append(str(exc))
            continue
        contents[version] = content
    entry = config.job.entry_notebook
    # The job runs the live release, and the production gate runs the candidate the same way.
    roles = {"live": config.releases.live, "candidate": config.releases.candidate}
    for role, run_version in roles.items():
        run_content = contents.get(run_version) if run_version is not None else None
        if run_content is not None and entry not in run_content.notebook_names():
            problems.append(
                f"databricks-cicd:job.entryNotebook: {entry!r} is not a notebook of {role} release"
                f" {run_version} (it has: {', '.join(run_content.notebook_names())}); name one of"
                " those, without extension"
            )
    if problems:
        raise StackInputError(
            f"{len(problems)} problem(s) with the kept releases; nothing was deployed:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    return contents


def load_stack_inputs(project_dir: Path) -> StackInputs:
    """Read this stack's config from Pulumi and its releases from disk (relative to the project)."""
    try:
        config = read_stack_config()
    except ConfigError as exc:
        raise StackInputError(str(exc)) from None
    return StackInputs(config, check_releases(config, project_dir))
