"""The Spark job applies exactly the pure-Python rules (runs only where pyspark and Java exist;
the Databricks cluster provides pyspark, the unit tests do not need it)."""

import os
import shutil
from datetime import UTC, datetime

import pytest

pytest.importorskip("pyspark", reason="pyspark is not installed (the cluster provides it)")
if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
    pytest.skip("pyspark needs Java", allow_module_level=True)

from etl_pipeline import orders, spark_job  # noqa: E402

RATES = {"USD": "0.92", "GBP": "1.17123457", "CHF": "1.04"}
FIELDS = orders.REQUIRED_FIELDS

# (order_id, customer_id, amount, currency, order_ts): every rule and its edge cases.
ROWS = [
    ("1", "c1", "10", "EUR", "2024-05-01T10:00:00Z"),
    (" 2 ", " c2 ", " 0.125 ", " usd ", "2024-05-01 10:00"),
    ("3", "c1", "1.2e3", "gbp", "2024-05-01T23:30:00-02:00"),
    ("4", "c3", ".5", "CHF", "2024-05-01T10:00:00.5Z"),
    ("5", "c3", "9999999999999999.99", "GBP", "2024-05-01"),
    ("6", "c3", "9999999999999999.995", "EUR", "2024-05-01"),
    ("7", "c3", "1e16", "EUR", "2024-05-01"),
    ("8", "c3", "0.004", "EUR", "2024-05-01"),
    ("9", "c3", "-3", "EUR", "2024-05-01"),
    ("10", "c3", "NaN", "EUR", "2024-05-01"),
    ("11", "c3", "1_000", "EUR", "2024-05-01"),
    ("12", "c3", "12,50", "EUR", "2024-05-01"),
    ("13", "c3", "10\n", "EUR", "2024-05-01"),
    ("14", "c3", "10", "JPY", "2024-05-01"),
    ("15", "c3", "10", "EURO", "2024-05-01"),
    ("16", "c3", "10", "EUR", "2024-02-30"),
    ("17", "c3", "10", "EUR", "2024-05-01T25:00"),
    ("18", "c3", "10", "EUR", "2024-05-01T10:00:00+19:00"),
    ("19", "c3", "10", "EUR", "01/05/2024"),
    ("20", "c3", "10", "EUR", "2024-05"),
    ("21", "c3", "10", "EUR", "2024-05-01T10:00:00.1234567"),
    ("22", "c3", "10", "EUR", "2024-05-01\n"),
    (None, "c3", "10", "EUR", "2024-05-01"),
    ("23", "  ", "10", "EUR", "2024-05-01"),
    ("24", "c3", None, "JPY", "bad"),
    ("25", "c3", "", "EUR", "2024-05-01"),
    ("26", "c3", "10", "EUR", None),
    # duplicates: the earliest wins, ties broken by customer, currency, amount
    ("d1", "c9", "5", "EUR", "2024-05-01T12:00:00Z"),
    ("d1", "c9", "7", "EUR", "2024-05-01T09:00:00Z"),
    ("d1", "c9", "bad", "EUR", "2024-05-01T08:00:00Z"),
    ("d2", "c2", "3", "EUR", "2024-05-01T09:00:00Z"),
    ("d2", "c1", "9", "USD", "2024-05-01T09:00:00Z"),
    ("d2", "c1", "4", "USD", "2024-05-01T09:00:00Z"),
    ("d2", "c1", "4", "GBP", "2024-05-01T09:00:00Z"),
]


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName("etl-pipeline-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    yield session
    session.stop()


def python_result(records):
    result, converted, _ = orders.process_orders(records, RATES, "EUR")
    rows = sorted(
        (
            c.order_id,
            c.customer_id,
            c.amount,
            c.currency,
            c.order_ts.strftime("%Y-%m-%dT%H:%M:%S.%f"),
            c.order_date.isoformat(),
            c.amount_base,
        )
        for c in converted
    )
    return dict(result.rejected), rows


def spark_result(df):
    from pyspark.sql import functions as F

    classified = spark_job.classify_orders(df, RATES, "EUR")
    counts = {
        row["reject_reason"]: row["count"]
        for row in classified.groupBy("reject_reason").count().collect()
    }
    summary = spark_job.build_summary(
        counts, run_date="2024-05-01", source_table="s", target_table="t", base_currency="EUR"
    )
    valid = spark_job.valid_orders(classified, "2024-05-01", RATES, "EUR")
    assert tuple(valid.columns) == spark_job.OUTPUT_COLUMNS
    rows = sorted(
        tuple(row)
        for row in valid.select(
            "order_id",
            "customer_id",
            "amount",
            "currency",
            F.date_format("order_ts", "yyyy-MM-dd'T'HH:mm:ss.SSSSSS"),
            F.date_format("order_date", "yyyy-MM-dd"),
            "amount_base",
        ).collect()
    )
    return summary, rows


def test_spark_job_matches_the_python_rules_on_text_columns(spark):
    df = spark.createDataFrame(ROWS, schema=", ".join(f"{name} string" for name in FIELDS))
    summary, spark_rows = spark_result(df)
    rejected, python_rows = python_result([dict(zip(FIELDS, row, strict=True)) for row in ROWS])
    assert spark_rows == python_rows
    assert summary["rejected_by_reason"] == rejected
    assert summary["rows_read"] == len(ROWS)
    assert summary["rows_written"] == len(python_rows) > 5


def test_spark_job_matches_the_python_rules_on_typed_columns(spark):
    utc = UTC
    rows = [
        ("1", 7, 2.675, "EUR", datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=utc)),
        ("2", 8, 1e20, "EUR", datetime(2024, 5, 1, 23, 59, 59, tzinfo=utc)),
        ("3", 9, float("nan"), "USD", datetime(2024, 5, 2, tzinfo=utc)),
        ("4", 9, 0.1, "USD", None),
        ("5", 9, 1234.5, "chf", datetime(2024, 5, 2, 1, tzinfo=utc)),
    ]
    schema = "order_id string, customer_id int, amount double, currency string, order_ts timestamp"
    summary, spark_rows = spark_result(spark.createDataFrame(rows, schema=schema))
    rejected, python_rows = python_result([dict(zip(FIELDS, row, strict=True)) for row in rows])
    assert spark_rows == python_rows
    assert summary["rejected_by_reason"] == rejected
    assert summary["rows_written"] == 2  # 1e20 does not fit, NaN is no amount, no timestamp


class RecordingWriter:
    """Stands in for DataFrame.write (no Delta Lake here): records the calls and the rows."""

    calls: list = []

    def __init__(self, df):
        self.df = df

    def format(self, name):
        self.calls.append(("format", name))
        return self

    def mode(self, name):
        self.calls.append(("mode", name))
        return self

    def option(self, key, value):
        self.calls.append(("option", key, value))
        return self

    def saveAsTable(self, name):
        from pyspark.sql import functions as F

        self.calls.append(("saveAsTable", name))
        self.rows = sorted(
            (row[0], row[1])
            for row in self.df.select(
                "order_id", F.date_format("order_ts", "yyyy-MM-dd'T'HH:mm:ss")
            ).collect()
        )
        RecordingWriter.last = self


def test_run_writes_the_valid_rows_of_the_run_date_and_restores_the_time_zone(spark, monkeypatch):
    from pyspark.sql import DataFrame

    monkeypatch.setattr(DataFrame, "write", property(RecordingWriter))
    RecordingWriter.calls = []
    df = spark.createDataFrame(ROWS, schema=", ".join(f"{name} string" for name in FIELDS))
    df.createOrReplaceTempView("raw_orders")
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        summary = spark_job.run(spark, "raw_orders", "main.clean.orders", "2024-05-01", rates=RATES)
        assert spark.conf.get("spark.sql.session.timeZone") == "America/New_York"
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    assert RecordingWriter.calls == [
        ("format", "delta"),
        ("mode", "overwrite"),
        ("option", "replaceWhere", "run_date = DATE'2024-05-01'"),
        ("saveAsTable", "main.clean.orders"),
    ]
    rejected, python_rows = python_result([dict(zip(FIELDS, row, strict=True)) for row in ROWS])
    # Naive timestamps were read as UTC although the session was in New York.
    assert RecordingWriter.last.rows == sorted((r[0], r[4][:19]) for r in python_rows)
    assert summary["rows_written"] == len(python_rows)
    assert summary["rejected_by_reason"] == rejected
    assert summary["rows_read"] == len(ROWS)
    assert summary["target_table"] == "main.clean.orders"
