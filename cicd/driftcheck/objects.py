"""Reading and writing a release's objects in a workspace, per store, with the Databricks SDK.

Notebooks: workspace export/import (format SOURCE or JUPYTER, with the language). Workspace
files: exported as stored, written back through the workspace-files import endpoint the
Databricks CLI uses for them (a JSON import with format AUTO could turn a `.py` file into a
notebook). Libraries: the Files API for a volume, DBFS, or workspace files.
"""

from __future__ import annotations

import base64
import io
import posixpath
from urllib.parse import quote

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound
from databricks.sdk.service.workspace import ExportFormat, ImportFormat, Language, ObjectType

from cicd.driftcheck.expected import ExpectedObject, Store


class FolderMissing(Exception):
    """A release folder (or artifact folder) does not exist at all."""


def list_workspace(client: WorkspaceClient, folder: str) -> dict[str, str]:
    """Every object below a workspace folder: path -> "notebook" or "file"."""
    try:
        status = client.workspace.get_status(folder)
    except NotFound:
        raise FolderMissing(folder) from None
    if status.object_type != ObjectType.DIRECTORY:
        raise FolderMissing(folder)
    found: dict[str, str] = {}
    pending = [folder]
    while pending:
        current = pending.pop()
        for info in client.workspace.list(current):
            path = str(info.path)
            if info.object_type == ObjectType.DIRECTORY:
                pending.append(path)
            elif info.object_type == ObjectType.NOTEBOOK:
                found[path] = "notebook"
            else:
                found[path] = "file"
    return found


def list_artifacts(client: WorkspaceClient, store: Store, folder: str) -> dict[str, str]:
    """Every file below an artifact folder: path -> "library"."""
    if store is Store.WORKSPACE:
        return {path: "library" for path in list_workspace(client, folder)}
    found: dict[str, str] = {}
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
                        found[path] = "library"
        else:
            for info in client.dbfs.list(folder, recursive=True):
                if not info.is_dir:
                    found[str(info.path).removeprefix("dbfs:")] = "library"
    except NotFound:
        raise FolderMissing(folder) from None
    return found


def read(client: WorkspaceClient, expected: ExpectedObject, actual_kind: str) -> bytes:
    """The bytes stored at an expected object's path (a notebook in its published format)."""
    if expected.store is Store.VOLUME:
        response = client.files.download(expected.path)
        assert response.contents is not None
        return response.contents.read()
    if expected.store is Store.DBFS:
        with client.dbfs.download(expected.path) as handle:
            return handle.read()
    export_format = ExportFormat.SOURCE
    if actual_kind == "notebook" and expected.format == "JUPYTER":
        export_format = ExportFormat.JUPYTER
    return _export(client, expected.path, export_format)


def _export(client: WorkspaceClient, path: str, export_format: ExportFormat) -> bytes:
    content = client.workspace.export(path, format=export_format).content
    return base64.b64decode(content) if content else b""


def read_found(client: WorkspaceClient, store: Store, path: str) -> bytes:
    """The bytes of an object nobody published (for the backup before it is removed)."""
    if store is Store.VOLUME:
        response = client.files.download(path)
        assert response.contents is not None
        return response.contents.read()
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
