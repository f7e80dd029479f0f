"""Each kept release's files in the workspace against what was published (the lock's digests).

Every notebook and workspace file under the release's workspace folder and every library in its
artifact folder is read back: a file whose bytes (normalised only as `normalise` documents) are
not the published ones is **changed**, a published file that is gone is **missing**, and a file
nobody published is **added**. A release without libraries may have no artifact folder at all.

Reading is concurrent: the folders of one depth, then every object to read, on a bounded pool of
threads sharing one SDK client (it is thread-safe), so a check costs about one request per object
plus one per folder. With the records of an earlier report (`--since`), an object whose listing
proves it unchanged (same object id and `modified_at`, or same last-modified time and size) is
not read again: the earlier verdict on its bytes stands.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from databricks.sdk import WorkspaceClient

from cicd.driftcheck import objects
from cicd.driftcheck.expected import ExpectedObject, ExpectedRelease, Store
from cicd.driftcheck.findings import Finding
from cicd.driftcheck.normalise import same_notebook
from cicd.driftcheck.objects import Found

# Requests in flight at once: enough to hide the round trip, few enough for the SDK's connection
# pool (20 per host over https, 10 over http) and a workspace's rate limits.
READERS = 8


@dataclass(frozen=True)
class Record:
    """What a check learned about one object it read: the report keeps it for `--since`."""

    stamp: str  # Found.stamp when it was read
    expected: str  # the published digest it was compared with
    actual: str  # digest of the bytes read
    same: bool  # the bytes are the published ones (normalised as `normalise` says)

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Record:
        return Record(
            str(data["stamp"]), str(data["expected"]), str(data["actual"]), data["same"] is True
        )


@dataclass(frozen=True)
class ReleaseDrift:
    """One release's findings, with what a restore needs: the objects to put back and the
    objects nobody published (path -> (store, kind)), and the records of what was read."""

    release: ExpectedRelease
    findings: list[Finding]
    to_write: list[ExpectedObject]
    found_kinds: dict[str, str]
    added: dict[str, tuple[Store, str]]
    records: dict[str, Record]


def _digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def _matches(expected: ExpectedObject, data: bytes) -> bool:
    if _digest(data) == expected.digest:
        return True
    if expected.kind == "notebook":
        return same_notebook(
            data, expected.data(), expected.language or "PYTHON", expected.format or "SOURCE"
        )
    return False


def _read(client: WorkspaceClient, item: tuple[ExpectedObject, Found]) -> Record:
    expected, found = item
    data = objects.read(client, expected, found.kind)
    return Record(found.stamp, expected.digest, _digest(data), _matches(expected, data))


def _listings(
    client: WorkspaceClient, releases: Sequence[ExpectedRelease], pool: Executor
) -> tuple[list[dict[str, Found]], list[str]]:
    """Per release, every object in its folder and artifact folder; the release folders that
    do not exist."""
    workspace_roots = [r.folder for r in releases] + [
        r.artifact_folder for r in releases if r.artifact_store is Store.WORKSPACE
    ]
    trees = objects.list_workspace_trees(client, workspace_roots, pool)
    files = dict(
        zip(
            [r.version for r in releases if r.artifact_store is not Store.WORKSPACE],
            pool.map(
                lambda r: objects.list_files(client, r.artifact_store, r.artifact_folder),
                [r for r in releases if r.artifact_store is not Store.WORKSPACE],
            ),
            strict=True,
        )
    )
    listings, missing = [], []
    for release in releases:
        tree = trees[release.folder]
        if tree is None:
            missing.append(release.folder)
            tree = {}
        if release.artifact_store is Store.WORKSPACE:
            artifacts = trees[release.artifact_folder]
        else:
            artifacts = files[release.version]
        # No artifact folder: the release publishes no library (or lost them all: each is missing).
        for path, found in (artifacts or {}).items():
            tree[path] = Found("library", found.stamp)
        listings.append(tree)
    return listings, missing


def check_releases(
    client: WorkspaceClient,
    releases: Sequence[ExpectedRelease],
    since: Mapping[str, Record] | None = None,
    readers: int | None = None,
) -> tuple[list[ReleaseDrift], list[str]]:
    """Every release's drift, and the release folders that do not exist (no drift of theirs is
    reported). `since`: records of an earlier check (path -> Record)."""
    since = since or {}
    with ThreadPoolExecutor(readers or READERS, thread_name_prefix="drift-read") as pool:
        listings, missing = _listings(client, releases, pool)
        to_read: list[tuple[ExpectedObject, Found]] = []
        records: dict[str, Record] = {}
        for release, found in zip(releases, listings, strict=True):
            if release.folder in missing:
                continue
            for expected in release.objects:
                actual = found.get(expected.path)
                if actual is None or (expected.kind != "library" and actual.kind != expected.kind):
                    continue
                earlier = since.get(expected.path)
                if (
                    earlier is not None
                    and actual.stamp
                    and earlier.stamp == actual.stamp
                    and earlier.expected == expected.digest
                ):
                    records[expected.path] = earlier  # provably the bytes judged last time
                else:
                    to_read.append((expected, actual))
        for (expected, _), record in zip(
            to_read, pool.map(lambda item: _read(client, item), to_read), strict=True
        ):
            records[expected.path] = record
    drifts = [
        _release_drift(release, found, records)
        for release, found in zip(releases, listings, strict=True)
        if release.folder not in missing
    ]
    return drifts, missing


def _release_drift(
    release: ExpectedRelease, found: dict[str, Found], records: Mapping[str, Record]
) -> ReleaseDrift:
    group = f"release {release.version}"
    findings: list[Finding] = []
    to_write: list[ExpectedObject] = []
    kept: dict[str, Record] = {}
    for expected in release.objects:
        actual = found.get(expected.path)
        if actual is None:
            findings.append(
                Finding(group, "missing", expected.path, expected.digest, None, expected.kind)
            )
            to_write.append(expected)
            continue
        if expected.kind != "library" and actual.kind != expected.kind:
            findings.append(
                Finding(
                    group,
                    "changed",
                    expected.path,
                    expected.kind,
                    actual.kind,
                    f"published as a {expected.kind}, now a {actual.kind}",
                )
            )
            to_write.append(expected)
            continue
        record = kept[expected.path] = records[expected.path]
        if not record.same:
            findings.append(
                Finding(
                    group,
                    "changed",
                    expected.path,
                    expected.digest,
                    record.actual,
                    f"recorded {expected.digest[:19]}..., now {record.actual[:19]}...",
                )
            )
            to_write.append(expected)
    expected_paths = {expected.path for expected in release.objects}
    stores = {
        path: release.artifact_store if found[path].kind == "library" else Store.WORKSPACE
        for path in found
    }
    added = {
        path: (stores[path], item.kind)
        for path, item in sorted(found.items())
        if path not in expected_paths
    }
    for path, (_store, kind) in added.items():
        findings.append(Finding(group, "added", path, None, kind, f"{kind} nobody published"))
    order = {"changed": 0, "missing": 1, "added": 2}
    findings.sort(key=lambda f: (order[f.kind], f.path))
    found_kinds = {path: item.kind for path, item in found.items()}
    return ReleaseDrift(release, findings, to_write, found_kinds, added, kept)
