"""Resource builders shared by the components that put files into a workspace.

Releases and dev environments import notebooks and upload libraries by the same rules; these
functions register those resources under the calling component (never on their own).
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_databricks as databricks

from cicd.config import ArtifactStore, ArtifactStoreKind
from cicd.releases.content import Notebook, WorkspaceFile


def child_options(
    owner: pulumi.Resource, opts: pulumi.ResourceOptions | None
) -> pulumi.ResourceOptions:
    """Options for a component's child: parented, and waiting on what the component waits on.

    Python SDK children do not inherit their component's depends_on, so it is passed on.
    """
    return pulumi.ResourceOptions(parent=owner, depends_on=opts.depends_on if opts else None)


def _upload_options(
    owner: pulumi.Resource, opts: pulumi.ResourceOptions | None
) -> pulumi.ResourceOptions:
    # An upload that must be replaced is deleted first: replacing a file at the same path the
    # default way (create, then delete the old) would delete the new file (pulumi-databricks #18).
    return pulumi.ResourceOptions(
        parent=owner, depends_on=opts.depends_on if opts else None, delete_before_replace=True
    )


def publish_notebooks(
    owner: pulumi.Resource,
    name: str,
    folder: str,
    notebooks: Sequence[Notebook],
    workspace_files: Sequence[WorkspaceFile],
    opts: pulumi.ResourceOptions | None = None,
) -> dict[str, str]:
    """Import a notebooks tree under `folder`; returns notebook name -> workspace path."""
    paths: dict[str, str] = {}
    for notebook in notebooks:
        path = f"{folder}/{notebook.workspace_name}"
        databricks.Notebook(
            f"{name}-notebook-{notebook.workspace_name}",
            databricks.NotebookArgs(
                path=path,
                source=notebook.source.as_posix(),
                language=notebook.language,
                format=notebook.format,
            ),
            opts=_upload_options(owner, opts),
        )
        paths[notebook.workspace_name] = path
    for workspace_file in workspace_files:
        databricks.WorkspaceFile(
            f"{name}-file-{workspace_file.relative_path}",
            databricks.WorkspaceFileArgs(
                path=f"{folder}/{workspace_file.relative_path}",
                source=workspace_file.source.as_posix(),
            ),
            opts=_upload_options(owner, opts),
        )
    return paths


def upload_library(
    owner: pulumi.Resource,
    name: str,
    store: ArtifactStore,
    path: str,
    source: str,
    opts: pulumi.ResourceOptions | None = None,
) -> tuple[pulumi.CustomResource, str]:
    """Upload one built library to `path` in the artifact store; returns the upload and the
    library URI (a plain string: whoever installs it must depend on the upload explicitly)."""
    upload: pulumi.CustomResource
    if store.kind is ArtifactStoreKind.DBFS:
        upload = databricks.DbfsFile(
            name,
            databricks.DbfsFileArgs(path=path, source=source),
            opts=_upload_options(owner, opts),
        )
    elif store.kind is ArtifactStoreKind.VOLUME:
        upload = databricks.File(
            name, databricks.FileArgs(path=path, source=source), opts=_upload_options(owner, opts)
        )
    else:
        upload = databricks.WorkspaceFile(
            name,
            databricks.WorkspaceFileArgs(path=path, source=source),
            opts=_upload_options(owner, opts),
        )
    return upload, store.library_uri(path)
