"""`releases.lock.yaml`: the content digest of every published release, reviewed with the code.

`python -m cicd.release build <version>` records a new version; nothing else writes the file. At
every preview each kept release's files are compared with their recorded digests, so content
that changed under an already-published version fails with the file named instead of silently
replacing what production runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import yaml

from cicd.releases.content import ReleaseContent

LOCK_FILE = "releases.lock.yaml"
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
HEADER = (
    "# Content digests of every published release, written by `python -m cicd.release build`.\n"
    "# Reviewed with the code; never edit by hand. A release's files may never change once\n"
    "# recorded here: publish a new version instead. `sources` names the git tree of pipeline/\n"
    "# each release was built from, so that it can be rebuilt on any clone of the repo.\n"
)


class LockError(Exception):
    """The lock file is unreadable, or a release does not match what it records."""


def read_lock_file(path: Path) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """The lock's releases (version -> file -> digest) and sources (version -> git tree id)."""
    if not path.exists():
        return {}, {}
    try:
        # The C loader when PyYAML has it: the lock grows with every file of every release.
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER) or {}
    except yaml.YAMLError as exc:
        raise LockError(f"{path}: is not valid YAML ({exc}); restore it from git") from None
    releases = data.get("releases") if isinstance(data, Mapping) else None
    if not isinstance(releases, Mapping) or not all(
        isinstance(v, str) and isinstance(files, Mapping) for v, files in releases.items()
    ):
        raise LockError(
            f"{path}: expected 'releases: {{<version>: {{<file>: sha256:...}}}}' with quoted"
            " versions; restore it from git"
        )
    sources = data.get("sources")
    return (
        {str(v): {str(f): str(d) for f, d in files.items()} for v, files in releases.items()},
        {str(v): str(t) for v, t in sources.items()} if isinstance(sources, Mapping) else {},
    )


def read_lock(path: Path) -> dict[str, dict[str, str]]:
    return read_lock_file(path)[0]


def content_digest(files: Mapping[str, str]) -> str:
    """One digest for a release's whole content: sha256 over its sorted "<file> <digest>" lines.

    Equal for equal lock entries wherever it is computed (staging records it with every run of
    the job; production's gate compares it), and independent of the order files are listed in.
    """
    lines = "".join(f"{name} {files[name]}\n" for name in sorted(files))
    return "sha256:" + hashlib.sha256(lines.encode("utf-8")).hexdigest()


def write_lock(
    path: Path,
    releases: Mapping[str, Mapping[str, str]],
    sources: Mapping[str, str] | None = None,
) -> None:
    ordered = {v: dict(sorted(releases[v].items())) for v in sorted(releases)}
    document: dict[str, object] = {"releases": ordered}
    if sources:
        document["sources"] = {v: sources[v] for v in sorted(sources)}
    body = yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
    path.write_text(HEADER + body, encoding="utf-8")


def differences(version: str, recorded: Mapping[str, str], content: ReleaseContent) -> list[str]:
    """What differs between a release folder and its recorded digests, one line per file."""
    problems = []
    for name in sorted(set(recorded) | set(content.digests)):
        if name not in content.digests:
            problems.append(
                f"release {version}: {name} was published but is missing from {content.root}"
            )
        elif name not in recorded:
            problems.append(
                f"release {version}: {name} is new in {content.root}; it was not published with {version}"
            )
        elif recorded[name] != content.digests[name]:
            problems.append(
                f"release {version}: {name} changed since it was published"
                f" (recorded {recorded[name][:19]}..., now {content.digests[name][:19]}...)"
            )
    return problems


def verify(version: str, lock: Mapping[str, Mapping[str, str]], content: ReleaseContent) -> None:
    """Refuse a kept release whose content is not exactly what was published."""
    if version not in lock:
        raise LockError(
            f"release {version} is not in {LOCK_FILE}: publish it with"
            f" `python -m cicd.release build {version}` and commit the lock file with the config"
        )
    problems = differences(version, lock[version], content)
    if problems:
        raise LockError(
            "\n".join(problems)
            + "\nReleases are immutable: bring back the published bytes with `python -m"
            " cicd.release ensure --stack <stack>`, or publish the change as a new version."
        )


def check_lock_grows(base: Path, current: Path) -> list[str]:
    """`check-lock --base FILE`: the lock only grows. Every release recorded in the base
    branch's lock is still recorded, with the same files and digests (CI runs this on pull
    requests, so a published release cannot be rewritten together with its lock entry)."""
    before, after = read_lock(base), read_lock(current)
    problems = []
    for version in sorted(before):
        if version not in after:
            problems.append(f"release {version} was removed from {LOCK_FILE}; restore its entry")
            continue
        problems += differences(version, before[version], _as_content(after[version]))
    if problems:
        raise LockError(
            "\n".join(problems)
            + f"\n{LOCK_FILE} may only gain releases: published content never changes"
        )
    added = sorted(set(after) - set(before))
    return [
        f"{LOCK_FILE}: {len(before)} published release(s) unchanged"
        + (f"; new: {', '.join(added)}" if added else "")
    ]


def _as_content(digests: Mapping[str, str]) -> ReleaseContent:
    return ReleaseContent(Path(LOCK_FILE), (), (), (), dict(digests))
