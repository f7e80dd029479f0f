# Databricks notebook source
# MAGIC %md
# MAGIC # Orders quality check (serverless)
# MAGIC
# MAGIC Fails when the day's clean orders hold fewer than `min_rows` rows. Runs on serverless
# MAGIC compute and needs no library: plain Spark SQL on the clean table.

# COMMAND ----------

import json
import re

dbutils.widgets.text("target_table", "", "target_table")
dbutils.widgets.text("min_rows", "1", "min_rows")
target_table = dbutils.widgets.get("target_table").strip()
min_rows = int(dbutils.widgets.get("min_rows"))
if not re.fullmatch(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+){0,2}", target_table):
    raise ValueError(f"target_table {target_table!r} is not a table name")

# COMMAND ----------

rows = spark.table(target_table).where("run_date = current_date()").count()
if rows < min_rows:
    raise ValueError(f"{target_table}: {rows} row(s) today, fewer than {min_rows}")
dbutils.notebook.exit(json.dumps({"target_table": target_table, "rows": rows}))
