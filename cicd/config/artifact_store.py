"""`databricks-cicd:artifactStore`: where built libraries go (DBFS, a UC volume, workspace files)."""

from __future__ import annotations

from enum import Enum
from typing import Self

from pydantic import StrictStr, model_validator

from cicd.config.base import Model, check_clean_path, check_workspace_path


class ArtifactStoreKind(str, Enum):
    DBFS = "dbfs"
    VOLUME = "volume"
    WORKSPACE = "workspace"


class ArtifactStore(Model):
    """Where built libraries go: DBFS (the design card), a UC volume, or workspace files."""

    # volume (Unity Catalog, runtimes 15+), workspace (workspace files) or dbfs (runtimes < 15).
    kind: ArtifactStoreKind
    # /Volumes/<catalog>/<schema>/<volume>[/...], a workspace folder, or a DBFS folder.
    root: StrictStr

    @model_validator(mode="after")
    def _root_fits_kind(self) -> Self:
        if self.kind is ArtifactStoreKind.VOLUME:
            check_clean_path(self.root, "volume root")
            parts = self.root.split("/")
            if parts[1] != "Volumes" or len(parts) < 5 or not all(parts[2:5]):
                raise ValueError(
                    f"root {self.root!r} is not a Unity Catalog volume path: use"
                    " /Volumes/<catalog>/<schema>/<volume>[/<folder>]"
                )
        elif self.kind is ArtifactStoreKind.DBFS:
            check_clean_path(self.root, "DBFS root")
            if self.root.startswith("/Volumes/"):
                raise ValueError(f"root {self.root!r} is a volume path: set kind: volume for it")
            if self.root == "/":
                raise ValueError("root '/' is the DBFS root itself: use a folder below it")
        else:
            check_workspace_path(self.root, "workspace artifact root")
        return self

    def library_uri(self, path: str) -> str:
        """The form a cluster or job library setting takes for a file uploaded to `path`."""
        if self.kind is ArtifactStoreKind.DBFS:
            return f"dbfs:{path}"
        if self.kind is ArtifactStoreKind.WORKSPACE:
            return f"/Workspace{path}"
        return path
