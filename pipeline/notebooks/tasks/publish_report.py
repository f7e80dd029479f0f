# Databricks notebook source
# MAGIC %md
# MAGIC # Publish the daily report
# MAGIC
# MAGIC Last task of the orders job: reads the day's summary row that the `daily_summary` wheel
# MAGIC task wrote and exits with it as JSON (CI reads it from the run's output).

# COMMAND ----------

import json

dbutils.widgets.text("summary_table", "", "summary_table")
dbutils.widgets.text("run_date", "", "run_date")
summary_table = dbutils.widgets.get("summary_table").strip()
run_date = dbutils.widgets.get("run_date").strip()

# COMMAND ----------

from etl_pipeline import spark_job

table = spark_job.validate_table_name(summary_table, "summary_table")
rows = spark.table(table)
if run_date:
    rows = rows.where(rows.order_date == spark_job.validate_run_date(run_date))
report = [row.asDict() for row in rows.collect()]
dbutils.notebook.exit(json.dumps({"summary_table": table, "days": report}, default=str))
