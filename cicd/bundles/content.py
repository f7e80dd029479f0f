"""The release a bundle becomes: the files its jobs and pipelines use, at their place relative
to the bundle root, as a notebooks tree; and its wheels. Staged in a scratch folder, then
checked and published by the existing publish path (`cicd.releases.publish`)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from cicd.bundles.translate import Translation


def _skipped(name: str) -> bool:
    # What the bundle CLI never syncs either; a release refuses hidden files.
    return name.startswith(".") or name == "__pycache__"


def stage_tree(root: Path, translation: Translation, notebooks: Path) -> int:
    """Copy every file the jobs and pipelines use into `notebooks`; how many were copied."""
    wanted = set(translation.files)
    for folder in translation.folders:
        for directory, subdirectories, names in os.walk(root / folder):
            subdirectories[:] = sorted(d for d in subdirectories if not _skipped(d))
            for name in names:
                if not _skipped(name):
                    wanted.add(Path(directory, name).relative_to(root).as_posix())
    for relative in sorted(wanted):
        destination = notebooks / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / relative, destination)
    notebooks.mkdir(parents=True, exist_ok=True)
    return len(wanted)
