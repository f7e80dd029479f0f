"""Reading and writing a release's objects in a workspace, per store, with the Databricks SDK.

Listings record what proves an object unchanged (`Found.stamp`); the folders of a depth are listed
concurrently on the caller's pool. Notebooks: workspace export/import (format SOURCE or JUPYTER, with the language). Workspace
files: exported as stored, written back through the workspace-files import endpoint the
Databricks CLI uses for them (a JSON import with format AUTO could turn a `.py` file into a
notebook). Libraries: the Files API for a volume, DBFS, or workspace files.
"""

from __future__ import annotations

import base64
import io
import posixpath
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from urllib.parse import quote

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound
from databricks.sdk.service.workspace import (
    ExportFormat,
    ImportFormat,
    Language,
    ObjectInfo,
    ObjectType,
)

from cicd.driftcheck.expected import ExpectedObject, Store


@dataclass(frozen=True)
class Found:
    """An object a listing returned: its kind and what proves its content unchanged since.

    `stamp` is the workspace's object id and `modified_at` (a re-import moves modified_at, a
    delete and re-create gives a new id), or a file's last-modified time and size (Files API,
    DBFS); "" when the listing gave neither, which proves nothing."""

    kind: str  # "notebook", "file" or "library"
    stamp: str = ""


def _workspace_stamp(info: ObjectInfo) -> str:
    if info.object_id is None or info.modified_at is None:
        return ""
    return f"id {info.object_id} at {info.modified_at}"


def _file_stamp(modified: int | None, size: int | None) -> str:
    return "" if modified is None or size is None else f"modified {modified} size {size}"


def _list_folder(client: WorkspaceClient, folder: str) -> list[ObjectInfo] | None:
    """A release's (or artifact) folder's entries, or None when no folder is at that path. No
    get-status first: `workspace/list` answers RESOURCE_DOES_NOT_EXIST for a path that does not
    exist and the object itself for one that is not a folder (Workspace API reference)."""
    try:
        infos = list(client.workspace.list(folder))
    except NotFound:
        return None
    if any(info.path == folder and info.object_type != ObjectType.DIRECTORY for info in infos):
        return None
    return infos


def list_workspace_trees(
    client: WorkspaceClient, folders: Sequence[str], pool: Executor
) -> dict[str, dict[str, Found] | None]:
    """Every object below each workspace folder (None for a folder that does not exist): the
    folders of one depth are listed concurrently, one request each (the API lists one level)."""
    roots = list(dict.fromkeys(folders))
    first = dict(zip(roots, pool.map(partial(_list_folder, client), roots), strict=True))
    trees: dict[str, dict[str, Found] | None] = {
        root: None if first[root] is None else {} for root in roots
    }
    listed = [(root, infos) for root, infos in first.items() if infos is not None]
    while listed:
        below = []
        for root, infos in listed:
            tree = trees[root]
            assert tree is not None
            for info in infos:
                path = str(info.path)
                if info.object_type == ObjectType.DIRECTORY:
                    below.append((root, path))
                else:
                    kind = "notebook" if info.object_type == ObjectType.NOTEBOOK else "file"
                    tree[path] = Found(kind, _workspace_stamp(info))
        listings = pool.map(lambda item: list(client.workspace.list(item[1])), below)
        listed = [(root, infos) for (root, _), infos in zip(below, listings, strict=True)]
    return trees


def list_files(client: WorkspaceClient, store: Store, folder: str) -> dict[str, Found] | None:
    """Every file below a volume or DBFS folder, as a library; None when there is no such folder
    (a workspace artifact folder is listed with `list_workspace_trees`)."""
    found: dict[str, Found] = {}
    try:
        if store is Store.VOLUME:
            pending = [folder]
            while pending:
                current = pending.pop()
                for entry in client.files.list_directory_contents(current):
                    path = str(entry.path).rstrip("/")
                    if entry.is_directory:
                        pending.append(path)
                    else:
                        found[path] = Found(
                            "library", _file_stamp(entry.last_modified, entry.file_size)
                        )
        else:
            for info in client.dbfs.list(folder, recursive=True):
                if not info.is_dir:
                    path = str(info.path).removeprefix("dbfs:")
                    found[path] = Found(
                        "library", _file_stamp(info.modification_time, info.file_size)
                    )
    except NotFound:
        return None
    return found


def read(client: WorkspaceClient, expected: ExpectedObject, actual_kind: str) -> bytes:
    """The bytes stored at an expected object's path (a notebook in its published format)."""
    if expected.store is Store.VOLUME:
        return _download(client, expected.path)
    if expected.store is Store.DBFS:
        with client.dbfs.download(expected.path) as handle:
            return handle.read()
    export_format = ExportFormat.SOURCE
    if actual_kind == "notebook" and expected.format == "JUPYTER":
        export_format = ExportFormat.JUPYTER
    return _export(client, expected.path, export_format)


def _download(client: WorkspaceClient, path: str) -> bytes:
    """A volume file's bytes in one request: the Files API's download endpoint. (The SDK's
    `files.download` first asks for a presigned cloud-storage URL: two requests per file.)"""
    response = client.api_client.do(
        "GET",
        f"/api/2.0/fs/files{quote(path)}",
        headers={"Accept": "application/octet-stream"},
        raw=True,
    )
    contents = response["contents"] if isinstance(response, dict) else None
    return contents.read() if contents is not None else b""


def _export(client: WorkspaceClient, path: str, export_format: ExportFormat) -> bytes:
    # `direct_download`: the exported bytes as the body, not base64 in JSON (same request, same
    # bytes; less work on both sides at thousands of objects).
    with client.workspace.download(path, format=export_format) as body:
        return body.read()


def read_found(client: WorkspaceClient, store: Store, path: str) -> bytes:
    """The bytes of an object nobody published (for the backup before it is removed)."""
    if store is Store.VOLUME:
        return _download(client, path)
    if store is Store.DBFS:
        with client.dbfs.download(path) as handle:
            return handle.read()
    return _export(client, path, ExportFormat.SOURCE)


def write(client: WorkspaceClient, expected: ExpectedObject) -> None:
    """Put an expected object's published bytes back at its path."""
    data = expected.data()
    if expected.store is Store.VOLUME:
        client.files.upload(expected.path, io.BytesIO(data), overwrite=True)
        return
    if expected.store is Store.DBFS:
        client.dbfs.upload(expected.path, io.BytesIO(data), overwrite=True)
        return
    client.workspace.mkdirs(posixpath.dirname(expected.path))
    if expected.kind == "notebook":
        client.workspace.import_(
            expected.path,
            content=base64.b64encode(data).decode("ascii"),
            format=ImportFormat(expected.format or "SOURCE"),
            language=Language(expected.language or "PYTHON"),
            overwrite=True,
        )
        return
    client.api_client.do(
        "POST",
        f"/api/2.0/workspace-files/import-file/{quote(expected.path.lstrip('/'))}",
        query={"overwrite": "true"},
        headers={"Content-Type": "application/octet-stream"},
        data=data,
    )


def delete(client: WorkspaceClient, store: Store, path: str) -> None:
    if store is Store.VOLUME:
        client.files.delete(path)
    elif store is Store.DBFS:
        client.dbfs.delete(path)
    else:
        client.workspace.delete(path)
