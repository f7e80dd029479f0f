"""Spark adapter: apply the rules of :mod:`etl_pipeline.orders` to a table.

PySpark is provided by the Databricks cluster; it is imported inside the functions that need it,
so this module (and the unit tests) import without it.

The job treats the source table as one batch of raw order records. Valid orders are written to
the target Delta table with a ``run_date`` column; the write replaces only the rows of that
``run_date``, so re-running a date is idempotent and other dates are untouched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from . import __version__
from .orders import (
    AMOUNT_PATTERN,
    AMOUNT_PRECISION,
    AMOUNT_SCALE,
    BAD_AMOUNT,
    BAD_TIMESTAMP,
    BASE_AMOUNT_PRECISION,
    DEFAULT_BASE_CURRENCY,
    DEFAULT_RATES,
    DUPLICATE_ORDER_ID,
    MISSING_FIELD,
    RATE_PRECISION,
    RATE_SCALE,
    REJECT_REASONS,
    REQUIRED_FIELDS,
    TIMESTAMP_PATTERN,
    UNKNOWN_CURRENCY,
    normalise_currency,
    normalise_rates,
)

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame, SparkSession

_IDENTIFIER = r"(?:[A-Za-z_][A-Za-z0-9_]*|`(?:[^`]|``)+`)"
_TABLE_RE = re.compile(rf"{_IDENTIFIER}(?:\.{_IDENTIFIER}){{0,2}}")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TZ_KEY = "spark.sql.session.timeZone"

#: Columns of the target table, in order.
OUTPUT_COLUMNS: tuple[str, ...] = (
    "order_id",
    "customer_id",
    "order_ts",
    "order_date",
    "currency",
    "amount",
    "amount_base",
    "base_currency",
    "run_date",
)


def validate_table_name(name: str, key: str) -> str:
    """``name`` if it is a plain 1-3 part table name (``catalog.schema.table``), else ValueError."""
    if not isinstance(name, str) or not _TABLE_RE.fullmatch(name.strip()):
        raise ValueError(
            f"{key} is {name!r}; give a table name such as 'main.sales.orders'"
            " (letters, digits and underscores, or `quoted` parts, separated by dots)"
        )
    return name.strip()


def validate_run_date(run_date: str) -> str:
    """``run_date`` as ``YYYY-MM-DD`` if it is a real date, else ValueError."""
    text = run_date.strip() if isinstance(run_date, str) else ""
    try:
        if not _DATE_RE.fullmatch(text):
            raise ValueError
        date.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"run_date is {run_date!r}; give a date as YYYY-MM-DD, e.g. '2024-05-01'"
        ) from None
    return text


def build_summary(
    reason_counts: Mapping[str | None, int],
    *,
    run_date: str,
    source_table: str,
    target_table: str,
    base_currency: str,
) -> dict[str, Any]:
    """The JSON-serialisable run summary from counts per reject reason (``None`` = valid)."""
    unknown = set(reason_counts) - {None, *REJECT_REASONS}
    if unknown:
        raise ValueError(f"unexpected reject reasons: {sorted(map(str, unknown))}")
    rejected = {reason: int(reason_counts.get(reason, 0)) for reason in REJECT_REASONS}
    written = int(reason_counts.get(None, 0))
    return {
        "rows_read": written + sum(rejected.values()),
        "rows_written": written,
        "rows_rejected": sum(rejected.values()),
        "rejected_by_reason": rejected,
        "run_date": run_date,
        "source_table": source_table,
        "target_table": target_table,
        "base_currency": base_currency,
        "version": __version__,
    }


def _anchored(pattern: str) -> str:
    # Java regex: \z is the very end of the input (like Python's fullmatch), unlike $.
    return rf"^(?:{pattern})\z"


def _rate_table(rates: Mapping[str, Any], base_currency: str) -> tuple[dict[str, Decimal], str]:
    table = normalise_rates(rates, base_currency)
    base = normalise_currency(base_currency)
    assert base is not None
    return table, base


def classify_orders(
    source: DataFrame,
    rates: Mapping[str, Any] = DEFAULT_RATES,
    base_currency: str = DEFAULT_BASE_CURRENCY,
) -> DataFrame:
    """Normalise the five fields and add ``reject_reason`` (NULL for a valid order).

    Timestamps without an offset are read as UTC only if the session time zone is UTC;
    :func:`run` sets it for the duration of the job.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    table, _ = _rate_table(rates, base_currency)
    missing_columns = [name for name in REQUIRED_FIELDS if name not in source.columns]
    if missing_columns:
        raise ValueError(
            f"source table has no column(s) {missing_columns}; it needs {list(REQUIRED_FIELDS)}"
        )

    def text(name: str) -> Column:
        trimmed = F.trim(F.col(name).cast("string"))  # trim: spaces only, as the Python rules
        return F.when(trimmed != "", trimmed)

    amount_type = f"decimal({AMOUNT_PRECISION},{AMOUNT_SCALE})"
    df = source.select(
        text("order_id").alias("order_id"),
        text("customer_id").alias("customer_id"),
        text("amount").alias("_amount_text"),
        F.upper(text("currency")).alias("currency"),
        text("order_ts").alias("_ts_text"),
    )
    df = df.withColumn(
        "amount",
        F.when(
            F.col("_amount_text").rlike(_anchored(AMOUNT_PATTERN)),
            F.expr(f"try_cast(_amount_text AS {amount_type})"),
        ),
    ).withColumn(
        "order_ts",
        F.when(
            F.col("_ts_text").rlike(_anchored(TIMESTAMP_PATTERN)),
            F.expr("try_cast(_ts_text AS timestamp)"),
        ),
    )
    missing = F.lit(False)
    for name in ("order_id", "customer_id", "_amount_text", "currency", "_ts_text"):
        missing = missing | F.col(name).isNull()
    reason = (
        F.when(missing, F.lit(MISSING_FIELD))
        .when(F.col("amount").isNull() | (F.col("amount") <= 0), F.lit(BAD_AMOUNT))
        .when(~F.col("currency").isin(sorted(table)), F.lit(UNKNOWN_CURRENCY))
        .when(F.col("order_ts").isNull(), F.lit(BAD_TIMESTAMP))
    )
    df = df.withColumn("reject_reason", reason)
    # Same tie-break as orders.Order.dedup_key: earliest (order_ts, customer_id, currency, amount).
    window = Window.partitionBy("order_id", F.col("reject_reason").isNull()).orderBy(
        "order_ts", "customer_id", "currency", "amount"
    )
    df = df.withColumn(
        "reject_reason",
        F.when(
            F.col("reject_reason").isNull() & (F.row_number().over(window) > 1),
            F.lit(DUPLICATE_ORDER_ID),
        ).otherwise(F.col("reject_reason")),
    )
    return df.select("order_id", "customer_id", "amount", "currency", "order_ts", "reject_reason")


def valid_orders(
    classified: DataFrame,
    run_date: str,
    rates: Mapping[str, Any] = DEFAULT_RATES,
    base_currency: str = DEFAULT_BASE_CURRENCY,
) -> DataFrame:
    """The valid rows of :func:`classify_orders`, converted, in the target table's columns."""
    from pyspark.sql import functions as F

    table, base = _rate_table(rates, base_currency)
    day = validate_run_date(run_date)
    rate_type = f"decimal({RATE_PRECISION},{RATE_SCALE})"
    rate: Any = None
    for code in sorted(table):
        value = F.lit(str(table[code])).cast(rate_type)
        condition = F.col("currency") == F.lit(code)
        rate = F.when(condition, value) if rate is None else rate.when(condition, value)
    # DECIMAL(18,2) * DECIMAL(18,8) is exact; round half-up to cents like orders.convert_amount.
    amount_base = F.round(F.col("amount") * rate, AMOUNT_SCALE).cast(
        f"decimal({BASE_AMOUNT_PRECISION},{AMOUNT_SCALE})"
    )
    return classified.filter(F.col("reject_reason").isNull()).select(
        "order_id",
        "customer_id",
        "order_ts",
        F.to_date("order_ts").alias("order_date"),
        "currency",
        "amount",
        amount_base.alias("amount_base"),
        F.lit(base).alias("base_currency"),
        F.lit(day).cast("date").alias("run_date"),
    )


def run(
    spark: SparkSession,
    source_table: str,
    target_table: str,
    run_date: str,
    *,
    rates: Mapping[str, Any] = DEFAULT_RATES,
    base_currency: str = DEFAULT_BASE_CURRENCY,
) -> dict[str, Any]:
    """Clean ``source_table`` into ``target_table`` for ``run_date``; return the run summary.

    Every argument is checked before Spark is touched. The summary is JSON-serialisable:
    rows_read, rows_written, rows_rejected, rejected_by_reason, run_date, version, ...
    """
    source = validate_table_name(source_table, "source_table")
    target = validate_table_name(target_table, "target_table")
    day = validate_run_date(run_date)
    table, base = _rate_table(rates, base_currency)

    previous_tz = spark.conf.get(_TZ_KEY)
    spark.conf.set(_TZ_KEY, "UTC")
    try:
        classified = classify_orders(spark.table(source), table, base)
        counts: dict[str | None, int] = {
            row["reject_reason"]: int(row["count"])
            for row in classified.groupBy("reject_reason").count().collect()
        }
        (
            valid_orders(classified, day, table, base)
            .write.format("delta")
            .mode("overwrite")
            .option("replaceWhere", f"run_date = DATE'{day}'")
            .saveAsTable(target)
        )
    finally:
        if previous_tz is None:
            spark.conf.unset(_TZ_KEY)
        else:
            spark.conf.set(_TZ_KEY, previous_tz)
    return build_summary(
        counts, run_date=day, source_table=source, target_table=target, base_currency=base
    )
