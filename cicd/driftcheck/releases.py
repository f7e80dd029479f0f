"""Each kept release's files in the workspace against what was published (the lock's digests).

Every notebook and workspace file under the release's workspace folder and every library in its
artifact folder is read back: a file whose bytes (normalised only as `normalise` documents) are
not the published ones is **changed**, a published file that is gone is **missing**, and a file
nobody published is **added**.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from databricks.sdk import WorkspaceClient

from cicd.driftcheck import objects
from cicd.driftcheck.expected import ExpectedObject, ExpectedRelease, Store
from cicd.driftcheck.findings import Finding
from cicd.driftcheck.normalise import same_notebook


@dataclass(frozen=True)
class ReleaseDrift:
    """One release's findings, with what a restore needs: the objects to put back and the
    objects nobody published (path -> (store, kind))."""

    release: ExpectedRelease
    findings: list[Finding]
    to_write: list[ExpectedObject]
    found_kinds: dict[str, str]
    added: dict[str, tuple[Store, str]]


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


def check_release(client: WorkspaceClient, release: ExpectedRelease) -> ReleaseDrift:
    """Raises objects.FolderMissing when the release or artifact folder does not exist."""
    group = f"release {release.version}"
    found = objects.list_workspace(client, release.folder)
    stores = {path: Store.WORKSPACE for path in found}
    artifacts = objects.list_artifacts(client, release.artifact_store, release.artifact_folder)
    found.update(artifacts)
    stores.update({path: release.artifact_store for path in artifacts})
    findings: list[Finding] = []
    to_write: list[ExpectedObject] = []
    expected_paths = set()
    for expected in release.objects:
        expected_paths.add(expected.path)
        actual_kind = found.get(expected.path)
        if actual_kind is None:
            findings.append(
                Finding(group, "missing", expected.path, expected.digest, None, expected.kind)
            )
            to_write.append(expected)
            continue
        if expected.kind != "library" and actual_kind != expected.kind:
            findings.append(
                Finding(
                    group,
                    "changed",
                    expected.path,
                    expected.kind,
                    actual_kind,
                    f"published as a {expected.kind}, now a {actual_kind}",
                )
            )
            to_write.append(expected)
            continue
        data = objects.read(client, expected, actual_kind)
        if not _matches(expected, data):
            now = _digest(data)
            findings.append(
                Finding(
                    group,
                    "changed",
                    expected.path,
                    expected.digest,
                    now,
                    f"recorded {expected.digest[:19]}..., now {now[:19]}...",
                )
            )
            to_write.append(expected)
    added = {
        path: (stores[path], kind)
        for path, kind in sorted(found.items())
        if path not in expected_paths
    }
    for path, (_store, kind) in added.items():
        findings.append(Finding(group, "added", path, None, kind, f"{kind} nobody published"))
    order = {"changed": 0, "missing": 1, "added": 2}
    findings.sort(key=lambda f: (order[f.kind], f.path))
    return ReleaseDrift(release, findings, to_write, found, added)
