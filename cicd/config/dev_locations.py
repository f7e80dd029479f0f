"""Where an engineer's dev environment lives, derived from the stack config alone.

The shared stack (which creates these) and `python -m cicd.dev` (which works in them) both take
every name from here, so they can never disagree: the personal folder, the cluster's and the
policy's name, and the dev location, the one place only that engineer (and admins) can write,
where their dev builds of the library go and no release ever lives.
"""

from __future__ import annotations

from dataclasses import dataclass

from cicd.config.artifact_store import ArtifactStore, ArtifactStoreKind
from cicd.config.developers import DevEngineer


def personal_folder(user: str, pipeline_name: str) -> str:
    """The engineer's notebooks folder: `/Users/<user>/<pipeline>` (their home folder's child)."""
    return f"/Users/{user}/{pipeline_name}"


def dev_cluster_name(pipeline_name: str, slug: str) -> str:
    """The name of an engineer's cluster, and of the cluster policy it runs under."""
    return f"{pipeline_name}-dev-{slug}"


@dataclass(frozen=True)
class DevLocation:
    """Where one engineer's dev builds go, and the volume holding it for a volume store."""

    kind: ArtifactStoreKind
    path: str  # folder of the builds: `<path>/<wheel file name>`
    catalog: str | None = None  # volume store only: the dev volume's parents and name
    schema: str | None = None
    volume: str | None = None

    @property
    def volume_full_name(self) -> str | None:
        if self.volume is None:
            return None
        return f"{self.catalog}.{self.schema}.{self.volume}"


def dev_volume_name(slug: str) -> str:
    """A Unity Catalog name for the engineer's volume: letters, digits and underscores only."""
    return "dev_" + slug.replace("-", "_")


def dev_location(store: ArtifactStore, engineer: DevEngineer, pipeline_name: str) -> DevLocation:
    """The engineer's own dev location for the stack's artifact store kind.

    - volume: a volume of their own beside the releases' volume (same catalog and schema),
      `/Volumes/<catalog>/<schema>/dev_<slug>`; the stack grants them alone READ and WRITE VOLUME.
    - workspace: a folder in their home folder, which only they and admins can write.
    - dbfs: `<root>/dev/<slug>`. DBFS has no access control: anyone in the workspace can write
      there (the README says so).
    """
    if store.kind is ArtifactStoreKind.VOLUME:
        _, _, catalog, schema, *_ = store.root.split("/")
        volume = dev_volume_name(engineer.slug)
        return DevLocation(
            store.kind, f"/Volumes/{catalog}/{schema}/{volume}", catalog, schema, volume
        )
    if store.kind is ArtifactStoreKind.WORKSPACE:
        return DevLocation(store.kind, f"/Users/{engineer.user}/{pipeline_name}-dev-builds")
    return DevLocation(store.kind, f"{store.root}/dev/{engineer.slug}")
