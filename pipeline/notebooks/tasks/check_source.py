# Databricks notebook source
# MAGIC %md
# MAGIC # Check the source
# MAGIC
# MAGIC First task of the orders job: the raw orders table exists and holds rows. Failing here
# MAGIC stops the run before anything is written. Exits with the row count as JSON.

# COMMAND ----------

import json

dbutils.widgets.text("source_table", "", "source_table")
source_table = dbutils.widgets.get("source_table").strip()

# COMMAND ----------

from etl_pipeline import spark_job

table = spark_job.validate_table_name(source_table, "source_table")
rows = spark.table(table).count()
if rows == 0:
    raise ValueError(f"source table {table} is empty: nothing to clean")
dbutils.notebook.exit(json.dumps({"source_table": table, "rows": rows}))
