"""`publish`: a release from content built elsewhere (a notebooks tree, wheels and jars from
another team's build), recorded in the lock and kept in a tracked folder of the repository.

Such content cannot be rebuilt from this repository, and the provider reads every kept release's
files at every preview. So the bytes travel with the code: `publish` copies them into
`releases/<version>/` (notebooks/ and libraries/, the shape of a built release), which is
committed with `releases.lock.yaml`; a fresh clone previews and deploys the release with nothing
from the publishing machine, and git keeps those bytes exactly (see `.gitattributes`).

The whole content is checked first, every problem reported at once; the version, its files and
its metadata (entry notebook, origin) are then as immutable as a built release's.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cicd.config import check_version
from cicd.releases.content import (
    Notebook,
    ReleaseContent,
    ReleaseContentError,
    entry_problem,
    inspect_libraries,
    inspect_notebooks,
    sha256_of,
)
from cicd.releases.libraries import FIX, library_problem
from cicd.releases.lock import (
    LOCK_FILE,
    NO_ENTRY,
    PUBLISH,
    ReleaseMetadata,
    check_lock_writable,
    differences,
    read_lock_snapshot,
    replace_lock,
)
from cicd.releases.placement import folder_digests, foreign_files, place
from cicd.releases.problems import MAX_SHOWN, Kind, Problems

# Tracked folders of published releases, one per version (never under dist/, which is ignored).
PUBLISHED_DIR = "releases"
DEFAULT_ENTRY = "main"
ENTRY = Kind("the entry notebook (the one the job runs)", "name it with --entry")
UNINSTALLABLE = Kind(
    "libraries that would not install (a wheel is read as pip reads it, a jar as a zip)", FIX
)


class PublishError(Exception):
    """A publish that would change a published release or lose a file; nothing was changed."""


def published_folder(version: str) -> str:
    """Where `publish` keeps a release's content, relative to the project (tracked in git)."""
    return f"{PUBLISHED_DIR}/{version}"


def release_folder(version: str, source: str | None, metadata: ReleaseMetadata | None) -> str:
    """Where a release's content is, relative to the project: the stack's `source` if given,
    else the tracked folder of a published release, else dist/releases/<version> (built)."""
    if source:
        return source
    if metadata is not None and metadata.content:
        return metadata.content
    return f"dist/releases/{version}"


def _shown(path: Path, project_dir: Path) -> str:
    resolved = path.resolve()
    try:
        return resolved.relative_to(project_dir.resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


def _resolve_entry(found: Sequence[Notebook], entry: str | None, problems: Problems) -> str | None:
    """The entry notebook's workspace name; given as a notebook name, or as its file's path."""
    wanted = entry or DEFAULT_ENTRY
    by_file = {n.relative_path: n.workspace_name for n in found}
    if entry is not None and entry in by_file and entry not in {n.workspace_name for n in found}:
        return by_file[entry]  # given as the file's path: the notebook is that file
    problem = entry_problem(found, wanted)
    if problem is None:
        return wanted
    problem = f"the tree {problem}" + (
        "; no --entry was given, so 'main' was looked for" if entry is None else ""
    )
    problems.add(ENTRY, problem)
    return None


def publish(
    project_dir: Path,
    version: str,
    notebooks_dir: Path,
    library_files: Sequence[Path],
    entry: str | None,
    *,
    no_entry: bool = False,
    published_from: dict[str, str] | None = None,
) -> list[str]:
    """`publish VERSION --notebooks DIR [--library FILE]... [--entry NOTEBOOK]`.

    `no_entry`: the release has no entry notebook (every job that runs it names its tasks, as a
    converted bundle's do); a job without tasks then refuses it at preview. `published_from`
    says where the content came from when the folders given are scratch copies."""
    try:
        check_version(version)  # a plain identifier: releases/<version> never escapes releases/
    except ValueError as exc:
        raise PublishError(str(exc)) from None
    if not notebooks_dir.is_dir():
        raise ReleaseContentError(
            f"{notebooks_dir}: --notebooks must name the folder holding the notebooks tree"
        )
    problems = Problems(notebooks_dir)
    notebooks, workspace_files, tree = inspect_notebooks(notebooks_dir, problems)
    libraries = inspect_libraries(library_files, problems)
    for library in libraries:
        problem = library_problem(library.source)
        if problem is not None:
            problems.add(UNINSTALLABLE, problem)
    entry_name = NO_ENTRY if no_entry else _resolve_entry(notebooks, entry, problems)
    problems.raise_if_any(f"nothing was published as {version}")
    assert entry_name is not None  # an entry problem would have been raised
    digests = {f"notebooks/{relative}": digest for relative, digest in tree.items()}
    digests.update({f"libraries/{lib.file_name}": sha256_of(lib.source) for lib in libraries})
    digests = dict(sorted(digests.items()))

    lock_path = project_dir / LOCK_FILE
    check_lock_writable(lock_path)
    (lock, sources, metadata), lock_bytes = read_lock_snapshot(lock_path)
    folder = published_folder(version)
    target = project_dir / folder
    recorded = metadata.get(version)
    if version in lock:
        _refuse_changes(version, lock[version], recorded, digests, entry_name, notebooks_dir)
    meta = recorded or ReleaseMetadata(
        entry_name,
        PUBLISH,
        folder,
        published_from
        or {
            "notebooks/": _shown(notebooks_dir, project_dir),
            **{f"libraries/{lib.file_name}": _shown(lib.source, project_dir) for lib in libraries},
        },
    )
    with tempfile.TemporaryDirectory() as scratch:
        staged = Path(scratch) / "release"
        (staged / "libraries").mkdir(parents=True)
        for relative in tree:
            destination = staged / "notebooks" / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(notebooks_dir / relative, destination)
        for library in libraries:
            shutil.copy2(library.source, staged / "libraries" / library.file_name)
        copied = folder_digests(staged)
        if copied != digests:
            raise PublishError(
                f"{notebooks_dir}: files changed while they were being copied; nothing was"
                " published: run the command again once the build that writes them is done"
            )
        foreign = foreign_files(staged, target)
        if foreign:
            raise PublishError(
                f"{folder}: already holds {len(foreign)} file(s) that are not this content;"
                " nothing was deleted or overwritten:\n"
                + "\n".join(f"  - {line}" for line in foreign[:MAX_SHOWN])
                + (
                    f"\n  ... and {len(foreign) - MAX_SHOWN} more"
                    if len(foreign) > MAX_SHOWN
                    else ""
                )
                + f"\nIf {version} is not in {LOCK_FILE}, that folder is left from elsewhere:"
                " move it aside and publish again; otherwise publish your content as a new version."
            )
        place(staged, target, version, f"python -m cicd.release publish {version} ...", version)
    counts = (
        f"{len(notebooks)} notebook(s), {len(workspace_files)} workspace file(s) and"
        f" {len(libraries)} librar{'y' if len(libraries) == 1 else 'ies'}"
    )
    if version in lock:
        return [
            f"{version}: already published with this content in {folder} ({counts}); nothing to do"
        ]
    lock[version] = digests
    metadata[version] = meta
    replace_lock(
        lock_path, lock_bytes, f"python -m cicd.release publish {version}", lock, sources, metadata
    )
    return [
        f"{version}: published {counts} into {folder} and recorded in {LOCK_FILE} ("
        + (f"entry notebook {entry_name!r})." if entry_name else "no entry notebook)."),
        f"Commit both: `git add {folder} {LOCK_FILE}`; a fresh clone then previews and deploys"
        f" {version} with nothing from this machine. Keep it in a stack with `- version:"
        f' "{version}"` under releases.kept, and make it live with `live: "{version}"`.',
    ]


def _refuse_changes(
    version: str,
    recorded: dict[str, str],
    metadata: ReleaseMetadata | None,
    digests: dict[str, str],
    entry_name: str,
    source: Path,
) -> None:
    if metadata is not None and metadata.origin != PUBLISH:
        raise PublishError(
            f"{version} is already published, built from pipeline/: releases are immutable, so"
            " publish this content as a new version"
        )
    lines = differences(version, recorded, ReleaseContent(source, (), (), (), digests))
    if metadata is not None and metadata.entry_notebook != entry_name:
        lines.append(
            f"release {version}: its entry notebook is {metadata.entry_notebook!r}, not {entry_name!r}"
        )
    if lines:
        shown = lines[:MAX_SHOWN] + (
            [f"... and {len(lines) - MAX_SHOWN} more"] if len(lines) > MAX_SHOWN else []
        )
        raise PublishError(
            "\n".join(shown)
            + f"\n{version} is already published with other content: releases are immutable,"
            " so publish this content as a new version"
        )
