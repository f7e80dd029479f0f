"""The `daily_summary` entry point: one row per day of cleaned orders (a wheel task of the job).

Run by the job's `python_wheel` task (package `etl_pipeline`, entry point `daily_summary`) after
the clean step; it reads the clean orders table and overwrites the summary of one run date.
Arguments are checked before Spark is touched.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from etl_pipeline.spark_job import validate_run_date, validate_table_name


@dataclass(frozen=True)
class DailyArguments:
    orders_table: str
    summary_table: str
    run_date: str


def parse_arguments(argv: Sequence[str] | None = None) -> DailyArguments:
    parser = argparse.ArgumentParser(prog="daily_summary", description=__doc__)
    parser.add_argument("--orders-table", required=True, help="the clean orders table")
    parser.add_argument("--summary-table", required=True, help="the daily summary table")
    parser.add_argument("--run-date", required=True, help="YYYY-MM-DD")
    args = parser.parse_args(argv)
    return DailyArguments(
        validate_table_name(args.orders_table, "orders_table"),
        validate_table_name(args.summary_table, "summary_table"),
        validate_run_date(args.run_date),
    )


def summarise(spark: Any, arguments: DailyArguments) -> dict[str, Any]:
    """Overwrite `summary_table`'s row for the run date from `orders_table`; return it."""
    from pyspark.sql import functions as F  # provided by the cluster

    day = arguments.run_date
    summary = (
        spark.table(arguments.orders_table)
        .where(F.col("run_date") == F.lit(day).cast("date"))
        .agg(
            F.count("*").alias("orders"),
            F.countDistinct("customer_id").alias("customers"),
            F.sum("amount_base").alias("total_base"),
        )
        .withColumn("order_date", F.lit(day).cast("date"))
    )
    (
        summary.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", f"order_date = DATE'{day}'")
        .saveAsTable(arguments.summary_table)
    )
    row = summary.collect()[0].asDict()
    return {key: str(value) for key, value in row.items()}


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    from pyspark.sql import SparkSession  # provided by the cluster

    print(json.dumps(summarise(SparkSession.builder.getOrCreate(), arguments)))
