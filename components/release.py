"""The `Release` component: one immutable, versioned release published side by side.

It owns the release's notebooks (and other notebook-tree files) under
`<workspace root>/releases/<version>/` and its libraries under
`<artifact root>/releases/<version>/`. Its inputs never depend on which release is live, so
switching the live release (a rollback or a promotion) never touches it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from cicd.config import ArtifactStore
from cicd.releases.content import ReleaseContent
from cicd.releases.references import artifact_folder_path, release_folder_path
from components.publishing import publish_notebooks, upload_library


@dataclass(frozen=True)
class ReleaseArgs:
    version: str
    content: ReleaseContent
    workspace_root: str
    artifact_store: ArtifactStore


class Release(pulumi.ComponentResource):
    """Publishes one release's notebooks and libraries; exposes where they landed."""

    # Known when the program runs (paths follow from version and file names), so they are plain
    # values: a preview shows the exact paths a job will use, never "output<string>".
    notebook_root: str
    notebook_paths: dict[str, str]
    library_paths: list[str]

    def __init__(
        self, name: str, args: ReleaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("databricks-cicd:release:Release", name, None, opts)
        folder = release_folder_path(args.workspace_root, args.version)
        paths = publish_notebooks(
            self, name, folder, args.content.notebooks, args.content.workspace_files, opts
        )
        artifact_folder = artifact_folder_path(args.artifact_store, args.version)
        libraries = [
            upload_library(
                self,
                f"{name}-library-{library.file_name}",
                args.artifact_store,
                f"{artifact_folder}/{library.file_name}",
                library.source.as_posix(),
                opts,
            )[1]
            for library in args.content.libraries
        ]
        self.notebook_root = folder
        self.notebook_paths = paths
        self.library_paths = libraries
        self.register_outputs(
            {
                "notebookRoot": self.notebook_root,
                "notebookPaths": self.notebook_paths,
                "libraryPaths": self.library_paths,
            }
        )
