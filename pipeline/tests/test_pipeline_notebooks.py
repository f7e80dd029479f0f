"""The notebooks are valid Databricks SOURCE files, and main.py runs end to end on stand-ins."""

import json
from pathlib import Path

import pytest
from etl_pipeline import spark_job

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
HEADERS = {".py": "# Databricks notebook source", ".sql": "-- Databricks notebook source"}
SEPARATORS = {".py": "# COMMAND ----------", ".sql": "-- COMMAND ----------"}
NOTEBOOK_FILES = sorted(
    str(p.relative_to(NOTEBOOKS))
    for p in NOTEBOOKS.rglob("*")
    if p.suffix in HEADERS and p.read_text(encoding="utf-8").startswith(HEADERS[p.suffix])
)


@pytest.mark.parametrize("relative", NOTEBOOK_FILES)
def test_notebook_source_format(relative):
    path = NOTEBOOKS / relative
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    assert lines[0] == HEADERS[path.suffix]
    assert text.endswith("\n") and "\r" not in text
    separators = [
        i for i, line in enumerate(lines) if line.startswith(SEPARATORS[path.suffix][:10])
    ]
    assert separators, "a notebook with one cell"
    for i in separators:
        assert lines[i] == SEPARATORS[path.suffix]
        assert lines[i - 1] == "" and lines[i + 1] == "", f"line {i + 1}: blank lines around cells"
    if path.suffix == ".py":
        compile(text, str(path), "exec")  # valid Python (checked in memory: no __pycache__)


def test_the_notebooks_tree_holds_notebooks_and_json_files_only():
    assert {
        "main.py",
        "transforms/clean_orders.sql",
        "transforms/explore_orders.py",
        "tasks/check_source.py",
        "tasks/publish_report.py",
        "quality/orders_quality.py",
    } <= set(NOTEBOOK_FILES)
    others = sorted(
        str(p.relative_to(NOTEBOOKS))
        for p in NOTEBOOKS.rglob("*")
        if p.is_file() and str(p.relative_to(NOTEBOOKS)) not in NOTEBOOK_FILES
    )
    # No caches or stray files: this whole tree is published as release content. Besides the
    # notebooks: the defaults file and the Lakeflow pipeline's plain Python sources.
    assert others == ["config/defaults.json", "pipelines/orders/orders_bronze.py"]


def test_the_pipeline_sources_are_python_files_not_notebooks():
    source = NOTEBOOKS / "pipelines" / "orders" / "orders_bronze.py"
    text = source.read_text(encoding="utf-8")
    # A notebook header would make the release publish it as a notebook, not a workspace file.
    assert not text.startswith("# Databricks notebook source")
    compile(text, str(source), "exec")


def test_defaults_cover_exactly_the_main_widgets():
    defaults = json.loads((NOTEBOOKS / "config" / "defaults.json").read_text(encoding="utf-8"))
    assert set(defaults) == {"source_table", "target_table", "run_date", "env"}
    assert all(isinstance(value, str) for value in defaults.values())
    spark_job.validate_table_name(defaults["source_table"], "source_table")
    spark_job.validate_table_name(defaults["target_table"], "target_table")


class NotebookExit(Exception):
    pass


class FakeWidgets:
    def __init__(self, values):
        self.values = values
        self.defined = {}

    def text(self, name, default, label=None):
        self.defined[name] = default

    def get(self, name):
        return self.values.get(name, self.defined[name])


class FakeDbutils:
    def __init__(self, values):
        self.widgets = FakeWidgets(values)
        self.notebook = self

    def exit(self, value):
        raise NotebookExit(value)


def run_main(monkeypatch, widget_values):
    calls = []

    def fake_run(spark, source_table, target_table, run_date):
        calls.append((spark, source_table, target_table, run_date))
        return spark_job.build_summary(
            {None: 5, "bad_amount": 2},
            run_date=run_date,
            source_table=source_table,
            target_table=target_table,
            base_currency="EUR",
        )

    monkeypatch.setattr(spark_job, "run", fake_run)
    monkeypatch.chdir(NOTEBOOKS)  # a notebook's working directory is its folder
    dbutils = FakeDbutils(widget_values)
    source = (NOTEBOOKS / "main.py").read_text(encoding="utf-8")
    with pytest.raises(NotebookExit) as exited:
        exec(compile(source, "main.py", "exec"), {"dbutils": dbutils, "spark": "SPARK"})
    return dbutils, calls, json.loads(exited.value.args[0])


def test_main_notebook_runs_the_job_with_the_widgets_and_exits_with_a_summary(monkeypatch):
    dbutils, calls, summary = run_main(
        monkeypatch,
        {"source_table": " raw.orders ", "run_date": "2024-05-01", "env": "staging"},
    )
    defaults = json.loads((NOTEBOOKS / "config" / "defaults.json").read_text(encoding="utf-8"))
    assert dbutils.widgets.defined == defaults
    assert calls == [("SPARK", "raw.orders", defaults["target_table"], "2024-05-01")]
    assert summary == {
        "status": "succeeded",
        "env": "staging",
        "run_date": "2024-05-01",
        "rows_read": 7,
        "rows_written": 5,
        "rows_rejected": 2,
        "target_table": defaults["target_table"],
        "version": spark_job.__version__,
    }


def test_main_notebook_defaults_the_run_date_to_today_utc(monkeypatch):
    _, calls, summary = run_main(monkeypatch, {})
    (run_date,) = {call[3] for call in calls}
    spark_job.validate_run_date(run_date)
    assert summary["run_date"] == run_date
    assert summary["env"] == "dev"
