"""`releases.lock.yaml`: the content digest of every published release, reviewed with the code.

`python -m cicd.release build|publish <version>` records a new version; nothing else adds to the
file. At every preview each kept release's files are compared with their recorded digests, so
content that changed under an already-published version fails with the file named instead of
silently replacing what production runs.

Besides the digests (`releases`, read by `read_lock`) and the git tree each build came from
(`sources`), the lock records per release (`metadata`, read by `read_release_metadata`) its entry
notebook and its origin: `build` (from pipeline/) or `publish` (content built elsewhere, kept in
a tracked folder of the repository, and where it was published from). Entries written before
metadata existed read as `{entryNotebook: main, origin: build}`: what they were.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cicd.releases.content import ReleaseContent
from cicd.sharedfile import SharedFileError, check_writable, read_bytes, replace_file
from cicd.yamltext import safe_load

LOCK_FILE = "releases.lock.yaml"
HEADER = (
    "# Content digests of every published release, written by `python -m cicd.release build`\n"
    "# and `publish`. Reviewed with the code; never edit by hand. A release's files may never\n"
    "# change once recorded here: publish a new version instead. `sources` names the git tree of\n"
    "# pipeline/ each built release came from, so that it can be rebuilt on any clone of the repo;\n"
    "# `metadata` records each release's entry notebook and origin (`build` from pipeline/, or\n"
    "# `publish`: content built elsewhere, kept in the folder named by `content`).\n"
)
BUILD, PUBLISH = "build", "publish"
# The entry notebook of a published release that has none (a bundle whose jobs all name their
# tasks, e.g. SQL files or Python files only): only a job without tasks needs an entry notebook,
# and such a job refuses a release that records none (cicd.releases.inputs).
NO_ENTRY = ""


@dataclass(frozen=True)
class ReleaseMetadata:
    """What a release records besides its digests; immutable once published, like them."""

    entry_notebook: str = "main"  # workspace name of the notebook the job runs
    origin: str = BUILD  # BUILD (from pipeline/) or PUBLISH (content built elsewhere)
    content: str | None = None  # PUBLISH: the tracked folder holding it, relative to the project
    # PUBLISH: where its parts came from on the publishing machine ("notebooks/" -> the tree,
    # "libraries/<file>" -> the file given), for the reviewer; never read back.
    published_from: dict[str, str] = field(default_factory=dict)

    def document(self) -> dict[str, object]:
        document: dict[str, object] = {"entryNotebook": self.entry_notebook, "origin": self.origin}
        if self.content is not None:
            document["content"] = self.content
        if self.published_from:
            document["publishedFrom"] = dict(sorted(self.published_from.items()))
        return document


def _metadata(path: Path, version: str, raw: object) -> ReleaseMetadata:
    if raw is None:
        return ReleaseMetadata()  # recorded before metadata existed: built, entry `main`
    where = f"{path}: metadata of {version}"
    if not isinstance(raw, Mapping) or set(raw) - {
        "entryNotebook",
        "origin",
        "content",
        "publishedFrom",
    }:
        raise LockError(
            f"{where}: expected entryNotebook, origin, content, publishedFrom; restore it from git"
        )
    entry, origin, content = raw.get("entryNotebook"), raw.get("origin"), raw.get("content")
    published_from = raw.get("publishedFrom") or {}
    if (
        not isinstance(entry, str)
        or (entry == NO_ENTRY and origin != PUBLISH)
        or origin not in (BUILD, PUBLISH)
        or (origin == PUBLISH) != isinstance(content, str)
        or not isinstance(published_from, Mapping)
    ):
        raise LockError(
            f"{where}: needs entryNotebook (a notebook name), origin 'build' or 'publish', and"
            " for 'publish' the content folder; restore it from git"
        )
    return ReleaseMetadata(
        entry, str(origin), content, {str(k): str(v) for k, v in published_from.items()}
    )


class LockError(Exception):
    """The lock file is unreadable, or a release does not match what it records."""


def _load(path: Path, raw: bytes) -> Any:
    try:
        data = safe_load(raw.decode("utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise LockError(f"{path}: is not valid YAML ({exc}); restore it from git") from None
    return data


LockDocument = tuple[dict[str, dict[str, str]], dict[str, str], dict[str, ReleaseMetadata]]


def _read(path: Path) -> bytes | None:
    try:
        return read_bytes(path)
    except SharedFileError as exc:
        raise LockError(str(exc)) from None


def read_lock_document(path: Path) -> LockDocument:
    """The whole lock, parsed once: releases (version -> file -> digest), sources (version ->
    git tree id) and metadata (version -> ReleaseMetadata, defaults filled in)."""
    return read_lock_snapshot(path)[0]


def read_lock_snapshot(path: Path) -> tuple[LockDocument, bytes | None]:
    """The lock parsed, and the exact bytes it was parsed from (None: no lock yet), which a
    command that records a release hands back to `replace_lock`. The file is read once, so a
    pipe or process substitution (`<(git show main:releases.lock.yaml)`) works too."""
    raw = _read(path)
    return ({}, {}, {}) if raw is None else _parse(path, raw), raw


def _parse(path: Path, raw: bytes) -> LockDocument:
    data = _load(path, raw)
    releases = data.get("releases") if isinstance(data, Mapping) else None
    if not isinstance(releases, Mapping) or not all(
        isinstance(v, str) and isinstance(files, Mapping) for v, files in releases.items()
    ):
        raise LockError(
            f"{path}: expected 'releases: {{<version>: {{<file>: sha256:...}}}}' with quoted"
            " versions; restore it from git"
        )
    digests = {str(v): {str(f): str(d) for f, d in files.items()} for v, files in releases.items()}
    sources = data.get("sources")
    section = data.get("metadata")
    section = section if isinstance(section, Mapping) else {}
    orphans = sorted(str(v) for v in section if str(v) not in digests)
    if orphans:
        raise LockError(
            f"{path}: metadata for {', '.join(orphans)}, which has no digests; restore it from git"
        )
    return (
        digests,
        {str(v): str(t) for v, t in sources.items()} if isinstance(sources, Mapping) else {},
        {v: _metadata(path, v, section.get(v)) for v in digests},
    )


def read_lock_file(path: Path) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """The lock's releases (version -> file -> digest) and sources (version -> git tree id)."""
    releases, sources, _ = read_lock_document(path)
    return releases, sources


def read_lock(path: Path) -> dict[str, dict[str, str]]:
    return read_lock_document(path)[0]


def read_release_metadata(path: Path) -> dict[str, ReleaseMetadata]:
    """Every recorded release's metadata (version -> metadata); defaults for entries recorded
    before metadata existed."""
    return read_lock_document(path)[2]


def content_digest(files: Mapping[str, str]) -> str:
    """One digest for a release's whole content: sha256 over its sorted "<file> <digest>" lines.

    Equal for equal lock entries wherever it is computed (staging records it with every run of
    the job; production's gate compares it), and independent of the order files are listed in.
    """
    lines = "".join(f"{name} {files[name]}\n" for name in sorted(files))
    return "sha256:" + hashlib.sha256(lines.encode("utf-8")).hexdigest()


def lock_text(
    releases: Mapping[str, Mapping[str, str]],
    sources: Mapping[str, str] | None = None,
    metadata: Mapping[str, ReleaseMetadata] | None = None,
) -> str:
    """The whole lock's text. Every release gets its metadata written out (the default for one
    not given), so the file says what each release is."""
    ordered = {v: dict(sorted(releases[v].items())) for v in sorted(releases)}
    document: dict[str, object] = {"releases": ordered}
    if sources:
        document["sources"] = {v: sources[v] for v in sorted(sources)}
    given = metadata or {}
    document["metadata"] = {v: given.get(v, ReleaseMetadata()).document() for v in sorted(releases)}
    return HEADER + yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


def write_lock(
    path: Path,
    releases: Mapping[str, Mapping[str, str]],
    sources: Mapping[str, str] | None = None,
    metadata: Mapping[str, ReleaseMetadata] | None = None,
) -> None:
    """Write the whole lock unconditionally: for a file nobody else holds (test fixtures, a
    scratch copy). Commands use `replace_lock`."""
    path.write_text(lock_text(releases, sources, metadata), encoding="utf-8")


def check_lock_writable(path: Path) -> None:
    """Refuse a read-only lock before a command builds or copies anything."""
    try:
        check_writable(path)
    except SharedFileError as exc:
        raise LockError(str(exc)) from None


def replace_lock(
    path: Path,
    expected: bytes | None,
    command: str,
    releases: Mapping[str, Mapping[str, str]],
    sources: Mapping[str, str] | None = None,
    metadata: Mapping[str, ReleaseMetadata] | None = None,
) -> None:
    """Write the whole lock if it still holds `expected` (the bytes `read_lock_snapshot` gave);
    else LockError naming the other change (another build or publish recorded a release
    meanwhile): run the command again, which then records both."""
    new = lock_text(releases, sources, metadata).encode("utf-8")
    try:
        replace_file(path, expected, new, command)
    except SharedFileError as exc:
        raise LockError(str(exc)) from None


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
            f"release {version} is not in {LOCK_FILE}: record it with `python -m cicd.release"
            f" build {version}` if it is built from pipeline/, or `python -m cicd.release publish"
            f" {version} --notebooks DIR --library FILE` if it was built elsewhere; then commit"
            " the lock file with the config"
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
    branch's lock is still recorded, with the same files, digests and metadata (CI runs this on
    pull requests, so a published release cannot be rewritten together with its lock entry).
    Writing out the metadata an older entry implied (entry `main`, built) changes nothing."""
    if not base.exists():
        raise LockError(
            f"--base {base}: no such file; give the base branch's lock, e.g."
            f" `--base <(git show origin/main:{LOCK_FILE})`"
        )
    # Each file read once: the base is often a pipe (`<(git show ...)`) that cannot be re-read.
    before, _, meta_before = read_lock_document(base)
    after, _, meta_after = read_lock_document(current)
    problems = []
    for version in sorted(before):
        if version not in after:
            problems.append(f"release {version} was removed from {LOCK_FILE}; restore its entry")
            continue
        problems += differences(version, before[version], _as_content(after[version]))
        old, new = meta_before[version].document(), meta_after[version].document()
        problems += [
            f"release {version}: {key} changed since it was published ({old.get(key)!r} ->"
            f" {new.get(key)!r})"
            for key in sorted(set(old) | set(new))
            if old.get(key) != new.get(key)
        ]
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
