"""The drift check's evaluation of the program, cached per stack config, lock and program code.

Evaluating the program is most of what a check costs at scale (tens of seconds at thousands of
notebooks) and gives the same registrations for the same inputs (guarantee 5), so it is kept in
`.drift-cache/` of the project (gitignored), one JSON file per stack, under a key that digests
everything the evaluation reads: the stack's config, `releases.lock.yaml`, the program's code
(`__main__.py` and the `cicd` and `components` packages), the Pulumi SDK versions, and the names,
sizes and modification times of the files in the kept releases' folders (where the program reads
them: `dist/releases/<version>`, a published release's tracked folder, a stack's `source`). Any
change is a miss and a new evaluation; what the program never reads (an engineer's dev build
under `dist/dev/`, a release no stack keeps) is not part of the key. The content itself is still
checked against the lock on every run (`expected`).
A cache that cannot be read or written costs time, never correctness: the program is evaluated.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.metadata
import importlib.util
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from cicd.config import ConfigError, namespace_values, parse_stack_config
from cicd.evaluation import Evaluation, Registration, evaluate
from cicd.releases.lock import LOCK_FILE
from cicd.releases.publish import published_folder, release_folder
from cicd.sharedfile import SharedFileError, write_atomically

CACHE_DIR = ".drift-cache"
FORMAT = "databricks-cicd drift evaluation 1"
PACKAGES = ("cicd", "components")
DISTRIBUTIONS = ("pulumi", "pulumi-databricks")


def _package_files(name: str) -> Iterator[Path]:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return
    for location in spec.submodule_search_locations:
        yield from sorted(Path(location).rglob("*.py"))


def cache_key(config: Mapping[str, str], stack: str, project_dir: Path) -> str:
    digest = hashlib.sha256()

    def feed(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    feed("format", FORMAT.encode())
    feed("config", json.dumps({"stack": stack, "config": dict(config)}, sort_keys=True).encode())
    lock = project_dir / LOCK_FILE
    feed("lock", lock.read_bytes() if lock.is_file() else b"")
    feed("program", (project_dir / "__main__.py").read_bytes())
    for package in PACKAGES:
        for path in _package_files(package):
            feed(f"{package}/{path.name}", path.read_bytes())
    for distribution in DISTRIBUTIONS:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            feed(distribution, importlib.metadata.version(distribution).encode())
    folders = _release_folders(config)
    feed("release folders", json.dumps(folders).encode())
    for folder in folders or ():
        root = project_dir / folder
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    stat = path.stat()
                    name = path.relative_to(project_dir).as_posix()
                    feed("content", f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def _release_folders(config: Mapping[str, str]) -> list[str] | None:
    """The folders, relative to the project, that the program may read kept releases from: a
    stack's `source`, else the built folder and the published one (the lock, whose bytes are in
    the key, says which; parsing it here would cost 0.3 s at 5 x 1,000 notebooks). None when the
    config cannot say: the evaluation then fails on the same inputs, so nothing is kept."""
    try:
        releases = parse_stack_config(namespace_values(config)).releases
    except ConfigError:
        return None
    folders: set[str] = set()
    for version in releases.versions:
        source = releases.entry(version).source
        folders.update(
            [source] if source else [release_folder(version, None, None), published_folder(version)]
        )
    return sorted(folders)


def _to_json(evaluation: Evaluation) -> dict[str, Any]:
    return {
        "resources": [dataclasses.asdict(r) for r in evaluation.resources.values()],
        "outputs": evaluation.outputs,
    }


def _from_json(data: Mapping[str, Any]) -> Evaluation:
    evaluation = Evaluation(outputs=dict(data["outputs"]))
    for item in data["resources"]:
        registration = Registration(
            **{
                **item,
                "dependencies": tuple(item["dependencies"]),
                "aliases": tuple(item["aliases"]),
            }
        )
        evaluation.resources[registration.key] = registration
    return evaluation


def _file_name(stack: str, key: str) -> str:
    return f"{stack}-{key[:32]}.json"


def cached_evaluate(config: Mapping[str, str], stack: str, project_dir: Path) -> Evaluation:
    """`cicd.evaluation.evaluate`, from the cache when nothing it reads has changed."""
    key = cache_key(config, stack, project_dir)
    folder = project_dir / CACHE_DIR
    target = folder / _file_name(stack, key)
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
        if data["format"] == FORMAT and data["key"] == key:
            return _from_json(data["evaluation"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no cache, or not one this version wrote: evaluate
    evaluation = evaluate(config, stack, project_dir)
    with contextlib.suppress(OSError, SharedFileError, TypeError, ValueError):
        _store(folder, target, {"format": FORMAT, "key": key, "evaluation": _to_json(evaluation)})
    return evaluation


def _store(folder: Path, target: Path, document: dict[str, Any]) -> None:
    text = json.dumps(document)  # before anything is written: a value JSON cannot hold stops here
    folder.mkdir(exist_ok=True)
    (folder / ".gitignore").write_text("*\n")  # never committed, wherever the project keeps it
    write_atomically(target, text.encode("utf-8"))  # a concurrent check reads old or new
    # Entries of this stack for older inputs are of no further use; only names this module gives.
    own = re.compile(re.escape(target.name.rsplit("-", 1)[0]) + r"-[0-9a-f]{32}\.json")
    for stale in folder.iterdir():
        if stale != target and own.fullmatch(stale.name):
            stale.unlink(missing_ok=True)
