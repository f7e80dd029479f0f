"""The package's version and its wheel: versioned from the environment, reproducible, lean."""

import hashlib
import importlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import etl_pipeline
import pytest

PIPELINE_DIR = Path(__file__).resolve().parent.parent


def test_version_falls_back_when_the_distribution_is_not_installed(monkeypatch):
    def not_installed(name):
        assert name == "etl-pipeline"
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    try:
        assert importlib.reload(etl_pipeline).__version__ == "0+unknown"
    finally:
        monkeypatch.undo()
        importlib.reload(etl_pipeline)


def test_version_comes_from_the_installed_distribution(monkeypatch):
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "4.5.6")
    try:
        assert importlib.reload(etl_pipeline).__version__ == "4.5.6"
    finally:
        monkeypatch.undo()
        importlib.reload(etl_pipeline)


def _copy_source(dest: Path) -> Path:
    shutil.copytree(
        PIPELINE_DIR,
        dest,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "build", "dist", "*.egg-info"),
    )
    return dest


def _build(source: Path, outdir: Path, version: str | None) -> subprocess.CompletedProcess:
    env = {**os.environ, "SOURCE_DATE_EPOCH": "315532800"}
    env.pop("ETL_PIPELINE_VERSION", None)
    if version is not None:
        env["ETL_PIPELINE_VERSION"] = version
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(outdir),
            str(source),
        ],
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def build_tools():
    pytest.importorskip("build", reason="needs the 'build' package (requirements.txt)")
    pytest.importorskip("hatchling", reason="needs hatchling (requirements.txt)")


def test_wheel_is_reproducible_versioned_and_holds_only_the_package(build_tools, tmp_path):
    # Two checkouts at different absolute paths, one with a stray file and odd permissions.
    first = _copy_source(tmp_path / "a" / "pipeline")
    second = _copy_source(tmp_path / "b" / "deeper" / "pipeline")
    (second / "src" / "etl_pipeline" / "orders.py").chmod(0o600)
    (second / "src" / "etl_pipeline" / "orders.py~").write_text("editor backup\n")
    (second / "src" / "etl_pipeline" / "__pycache__").mkdir()
    (second / "src" / "etl_pipeline" / "__pycache__" / "orders.cpython-311.pyc").write_bytes(b"x")

    wheels = []
    for source, outdir in ((first, tmp_path / "out1"), (second, tmp_path / "out2")):
        done = _build(source, outdir, "1.2.3")
        assert done.returncode == 0, done.stderr
        (wheel,) = outdir.glob("*.whl")
        wheels.append(wheel)
    assert [w.name for w in wheels] == ["etl_pipeline-1.2.3-py3-none-any.whl"] * 2
    digests = {hashlib.sha256(w.read_bytes()).hexdigest() for w in wheels}
    assert len(digests) == 1, "the same source built twice gave different bytes"

    with zipfile.ZipFile(wheels[0]) as wheel:
        names = wheel.namelist()
        metadata = wheel.read("etl_pipeline-1.2.3.dist-info/METADATA").decode()
        times = {info.date_time for info in wheel.infolist()}
    assert sorted(n for n in names if not n.startswith("etl_pipeline-1.2.3.dist-info/")) == [
        "etl_pipeline/__init__.py",
        "etl_pipeline/daily.py",
        "etl_pipeline/orders.py",
        "etl_pipeline/py.typed",
        "etl_pipeline/spark_job.py",
    ]
    assert "Version: 1.2.3\n" in metadata
    # The job's python_wheel task runs this entry point.
    entry_points = wheel_entry_points(wheels[0])
    assert "daily_summary = etl_pipeline.daily:main" in entry_points, entry_points
    assert "Requires-Dist" not in metadata
    assert "Requires-Python: >=3.10" in metadata
    assert times == {(1980, 1, 1, 0, 0, 0)}  # SOURCE_DATE_EPOCH=315532800

    # The source tree is left clean.
    assert not list(first.glob("build")) and not list(first.glob("*.egg-info"))


def test_wheel_build_without_a_version_fails(build_tools, tmp_path):
    done = _build(_copy_source(tmp_path / "pipeline"), tmp_path / "out", None)
    assert done.returncode != 0
    assert "ETL_PIPELINE_VERSION" in done.stdout + done.stderr
    assert not list((tmp_path / "out").glob("*.whl"))


def wheel_entry_points(path: Path) -> str:
    with zipfile.ZipFile(path) as wheel:
        return wheel.read("etl_pipeline-1.2.3.dist-info/entry_points.txt").decode()
