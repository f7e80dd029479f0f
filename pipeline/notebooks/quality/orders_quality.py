# Databricks notebook source
# MAGIC %md
# MAGIC # Orders quality check (serverless)
# MAGIC
# MAGIC Fails when the share of rejected rows in the day's raw orders is above `max_rejected_share`.
# MAGIC Runs on serverless compute; the `etl_pipeline` wheel comes from the job's environment.

# COMMAND ----------

import json

dbutils.widgets.text("source_table", "", "source_table")
dbutils.widgets.text("max_rejected_share", "0.05", "max_rejected_share")
source_table = dbutils.widgets.get("source_table").strip()
limit = float(dbutils.widgets.get("max_rejected_share"))

# COMMAND ----------

from etl_pipeline import spark_job

table = spark_job.validate_table_name(source_table, "source_table")
classified = spark_job.classify_orders(spark.table(table))
total = classified.count()
rejected = classified.where("reject_reason IS NOT NULL").count()
share = rejected / total if total else 0.0
if share > limit:
    raise ValueError(f"{rejected} of {total} rows rejected ({share:.1%} > {limit:.1%})")
dbutils.notebook.exit(json.dumps({"rows": total, "rejected": rejected}))
