"""Putting rebuilt release content in place without losing anyone's files.

A release folder on disk may hold what someone put there by hand: a wheel from another team's
build, notebooks from elsewhere. A rebuild never deletes or overwrites such a file. It builds in
a scratch folder, and only then fills the target: files already there must be byte-identical to
what the build made (they are left alone), missing ones are copied in, and anything else stops
the command before it changes a thing, with every such file named and the way forward.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from cicd.releases.content import sha256_of
from cicd.releases.problems import MAX_SHOWN


class ForeignContentError(Exception):
    """A target folder holds files the command did not make; nothing was changed."""


def folder_digests(folder: Path) -> dict[str, str]:
    """Every file below `folder` (hidden ones and links included), by relative posix path."""
    found: dict[str, str] = {}
    for directory, subdirectories, names in os.walk(folder):
        for name in (
            *names,
            *(d for d in subdirectories if os.path.islink(os.path.join(directory, d))),
        ):
            path = Path(directory, name)
            relative = path.relative_to(folder).as_posix()
            found[relative] = "link" if path.is_symlink() else sha256_of(path)
    return found


def foreign_files(built: Path, target: Path) -> list[str]:
    """Files in `target` that differ from, or are not in, what was built in `built`."""
    if not target.exists():
        return []
    if not target.is_dir():
        return [f"{target} (a file where the release folder goes)"]
    made = folder_digests(built)
    present = folder_digests(target)
    foreign = [
        f"{name} ({'not part of the release' if name not in made else 'differs from the published bytes'})"
        for name in sorted(present)
        if made.get(name) != present[name]
    ]
    foreign += [
        f"{name} (a folder where the release has this file)"
        for name in sorted(set(made) - set(present))
        if (target / name).exists()
    ]
    return foreign


def place(built: Path, target: Path, version: str, command: str, publish_as: str) -> list[str]:
    """Fill `target` with what was built in `built`; refuse (changing nothing) when `target`
    holds any file that is not byte-identical to it. Returns the files copied in."""
    foreign = foreign_files(built, target)
    if foreign:
        shown = [f"  - {line}" for line in foreign[:MAX_SHOWN]]
        if len(foreign) > MAX_SHOWN:
            shown.append(f"  ... and {len(foreign) - MAX_SHOWN} more")
        raise ForeignContentError(
            f"{target}: holds {len(foreign)} file(s) that are not release {version} as"
            " published; nothing was deleted or overwritten:\n"
            + "\n".join(shown)
            + "\nIf this is content built elsewhere, publish it as its own release: `python -m"
            f" cicd.release publish {publish_as} --notebooks {target}/notebooks --library"
            f" {target}/libraries/<file>`. Otherwise move these files out of {target} and run"
            f" `{command}` again."
        )
    copied = []
    for name in sorted(folder_digests(built)):
        destination = target / name
        if not destination.exists():
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(built / name, destination)
            copied.append(name)
    return copied
