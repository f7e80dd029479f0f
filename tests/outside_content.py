"""Content built elsewhere, as a new user brings it: a large Databricks notebooks tree in Python,
SQL, Scala and Jupyter, with data and config files and names with dots and spaces, and a wheel
from another team's build. Generated in the test's own tmp_path (no download)."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

ENTRY = "01.5-Delta-pipeline"


@dataclass(frozen=True)
class OutsideTree:
    root: Path
    notebooks: int  # files that publish as notebooks
    other_files: int  # files that publish as workspace files
    entry: str


def _write(root: Path, relative: str, data: str | bytes) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")


def make_outside_tree(
    root: Path, areas: int = 8, per_area: int = 25, entry: str = ENTRY
) -> OutsideTree:
    """`areas` folders of `per_area` notebooks (rotating languages), plus data and config files,
    a helper module without notebook header, and the entry notebook `entry` at the top."""
    notebooks = other = 0
    _write(root, f"{entry}.py", f"# Databricks notebook source\nprint({entry!r})\n")
    _write(root, "1. setup.sql", "-- Databricks notebook source\nCREATE SCHEMA IF NOT EXISTS x\n")
    notebooks += 2
    for area in range(areas):
        folder = f"{area:02d}.{area} area v{area}.0"
        for index in range(per_area):
            kind = index % 4
            name = f"{folder}/nb {index}.step-{index}"
            if kind == 0:
                _write(root, f"{name}.py", f"# Databricks notebook source\nx = {index}\n")
            elif kind == 1:
                _write(root, f"{name}.sql", f"-- Databricks notebook source\nSELECT {index}\n")
            elif kind == 2:
                _write(root, f"{name}.scala", f"// Databricks notebook source\nval x = {index}\n")
            else:
                lab = {
                    "cells": [],
                    "metadata": {"kernelspec": {"language": "python"}},
                    "nbformat": 4,
                }
                _write(root, f"{name}.ipynb", json.dumps(lab))
            notebooks += 1
        _write(root, f"{folder}/data/sample.{area}.csv", "id,amount\n1,2.5\n")
        _write(root, f"{folder}/config v{area}.yaml", f"area: {area}\n")
        other += 2
    _write(root, "lib/helpers.py", "def helper() -> int:\n    return 1\n")  # no header: a file
    _write(root, "conf/settings.json", json.dumps({"env": "prod"}))
    other += 2
    return OutsideTree(root, notebooks, other, entry)


def make_wheel(folder: Path, name: str = "other_team_lib", version: str = "3.4.0") -> Path:
    """A small, valid wheel of another team's library (fixed timestamps: same bytes each time)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-py3-none-any.whl"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for member, text in (
            (f"{name}/__init__.py", "VALUE = 1\n"),
            (
                f"{name}-{version}.dist-info/METADATA",
                f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
            ),
            (
                f"{name}-{version}.dist-info/WHEEL",
                "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            ),
        ):
            archive.writestr(zipfile.ZipInfo(member, (1980, 1, 1, 0, 0, 0)), text)
    path.write_bytes(buffer.getvalue())
    return path
