# Databricks notebook source
# MAGIC %md
# MAGIC # Explore orders
# MAGIC
# MAGIC Ad-hoc look at a raw orders table through the `etl_pipeline` library: which rows the
# MAGIC job would reject and why, and the daily totals it would produce. Nothing is written.

# COMMAND ----------

dbutils.widgets.text("source_table", "main.sales.orders_raw", "source_table")
dbutils.widgets.text("sample_rows", "10000", "sample_rows")

# COMMAND ----------

import etl_pipeline
from etl_pipeline import orders, spark_job

source_table = spark_job.validate_table_name(dbutils.widgets.get("source_table"), "source_table")
print(f"etl_pipeline {etl_pipeline.__version__}")

# COMMAND ----------

# The job's own classification, on the whole table (runs in Spark).
spark.conf.set("spark.sql.session.timeZone", "UTC")  # as the job does
classified = spark_job.classify_orders(spark.table(source_table))
display(classified.groupBy("reject_reason").count().orderBy("reject_reason"))

# COMMAND ----------

display(classified.filter("reject_reason IS NOT NULL").limit(100))

# COMMAND ----------

# The same rules in pure Python on a sample (what the unit tests exercise).
limit = int(dbutils.widgets.get("sample_rows"))
records = [row.asDict() for row in spark.table(source_table).limit(limit).collect()]
result, converted, days = orders.process_orders(records)
print(f"read {result.rows_read}, valid {len(result.orders)}, rejected {dict(result.rejected)}")
if days:
    display(spark.createDataFrame([day.to_dict() for day in days]))
