# Databricks notebook source
# MAGIC %md
# MAGIC # Orders ETL
# MAGIC
# MAGIC Cleans the raw orders table into the clean orders table for one run date, using the
# MAGIC `etl_pipeline` library (installed on the cluster from this release's wheel).
# MAGIC
# MAGIC Parameters (widgets; the job sets them): `source_table`, `target_table`, `run_date`
# MAGIC (`YYYY-MM-DD`, empty means today in UTC) and `env`. Defaults come from
# MAGIC `config/defaults.json` next to this notebook. The notebook exits with a JSON summary
# MAGIC that CI reads from the run's output.

# COMMAND ----------

import json
import os
from datetime import datetime, timezone

DEFAULTS = {"source_table": "", "target_table": "", "run_date": "", "env": "dev"}
try:
    # Workspace files: a notebook's working directory is its own folder.
    with open(os.path.join("config", "defaults.json"), encoding="utf-8") as f:
        DEFAULTS.update(json.load(f))
except (OSError, ValueError) as error:
    print(f"config/defaults.json not read ({error}); using built-in defaults")

PARAMETERS = ("source_table", "target_table", "run_date", "env")
DEFAULTS = {name: str(DEFAULTS[name]) for name in PARAMETERS}
for name, default in DEFAULTS.items():
    dbutils.widgets.text(name, default, name)

# COMMAND ----------

import etl_pipeline
from etl_pipeline import spark_job

params = {name: dbutils.widgets.get(name).strip() for name in DEFAULTS}
run_date = params["run_date"] or datetime.now(timezone.utc).date().isoformat()
print(f"etl_pipeline {etl_pipeline.__version__}, env={params['env']}, run_date={run_date}")

# COMMAND ----------

# Any error fails the run (and so the CI check of the staging run).
result = spark_job.run(spark, params["source_table"], params["target_table"], run_date)
print(json.dumps(result, indent=2))

# COMMAND ----------

summary = {
    "status": "succeeded",
    "env": params["env"],
    "run_date": result["run_date"],
    "rows_read": result["rows_read"],
    "rows_written": result["rows_written"],
    "rows_rejected": result["rows_rejected"],
    "target_table": result["target_table"],
    "version": result["version"],
}
dbutils.notebook.exit(json.dumps(summary))
