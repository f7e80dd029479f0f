"""Tests of the Spark adapter that need no Spark: argument checks, the summary, lazy import."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from etl_pipeline import spark_job
from etl_pipeline.orders import BAD_AMOUNT, DUPLICATE_ORDER_ID, REJECT_REASONS

SRC_DIR = Path(__file__).resolve().parent.parent / "src"


class UntouchableSpark:
    """A stand-in session that fails the test if the job uses it."""

    def __getattr__(self, name):
        raise AssertionError(f"spark.{name} used before the arguments were checked")


@pytest.mark.parametrize(
    "name",
    ["orders", "sales.orders", "main.sales.orders_raw", "`my-catalog`.sales.`order``s`", "_t1"],
)
def test_validate_table_name_accepts(name):
    assert spark_job.validate_table_name(f" {name} ", "source_table") == name


@pytest.mark.parametrize(
    "name",
    ["", "a.b.c.d", "orders; DROP TABLE x", "main..orders", "1orders", "/Volumes/x", "a.`b", None],
)
def test_validate_table_name_rejects(name):
    with pytest.raises(ValueError, match="target_table is"):
        spark_job.validate_table_name(name, "target_table")


@pytest.mark.parametrize("value", ["2024-05-01", " 2024-02-29 "])
def test_validate_run_date_accepts(value):
    assert spark_job.validate_run_date(value) == value.strip()


@pytest.mark.parametrize(
    "value", ["", "2023-02-29", "2024-5-1", "20240501", "2024-05-01'; --", "today", None]
)
def test_validate_run_date_rejects(value):
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        spark_job.validate_run_date(value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source_table": "x;y"}, "source_table"),
        ({"target_table": ""}, "target_table"),
        ({"run_date": "05/01/2024"}, "run_date"),
        ({"rates": {"USD": "-1"}}, "rate for USD"),
        ({"base_currency": "euro"}, "base currency"),
    ],
)
def test_run_checks_every_argument_before_touching_spark(kwargs, message):
    args = {"source_table": "raw.orders", "target_table": "clean.orders", "run_date": "2024-05-01"}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        spark_job.run(UntouchableSpark(), **args)


def test_build_summary_is_json_and_adds_up():
    summary = spark_job.build_summary(
        {None: 7, BAD_AMOUNT: 2, DUPLICATE_ORDER_ID: 1},
        run_date="2024-05-01",
        source_table="raw.orders",
        target_table="clean.orders",
        base_currency="EUR",
    )
    assert json.loads(json.dumps(summary)) == summary
    assert summary["rows_read"] == 10
    assert summary["rows_written"] == 7
    assert summary["rows_rejected"] == 3
    assert list(summary["rejected_by_reason"]) == list(REJECT_REASONS)
    assert summary["rejected_by_reason"][BAD_AMOUNT] == 2
    assert summary["run_date"] == "2024-05-01"
    assert summary["version"] == spark_job.__version__


def test_build_summary_of_an_empty_source():
    summary = spark_job.build_summary(
        {}, run_date="2024-05-01", source_table="a", target_table="b", base_currency="EUR"
    )
    assert (summary["rows_read"], summary["rows_written"], summary["rows_rejected"]) == (0, 0, 0)


def test_build_summary_refuses_an_unknown_reason():
    with pytest.raises(ValueError, match="unexpected reject reasons"):
        spark_job.build_summary(
            {"cosmic_ray": 1},
            run_date="2024-05-01",
            source_table="a",
            target_table="b",
            base_currency="EUR",
        )


def test_importing_the_library_does_not_import_pyspark():
    # A fresh interpreter: pyspark is the cluster's, the library must import without it.
    code = (
        "import sys, etl_pipeline, etl_pipeline.orders, etl_pipeline.spark_job;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(SRC_DIR)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"
