"""Lakeflow Declarative Pipeline source: raw orders as a streaming bronze table.

A plain Python file (not a notebook): the pipeline's libraries glob includes this folder. The
source table comes from the pipeline's configuration (`source_table`).
"""

import dlt  # provided by the pipeline runtime
from pyspark.sql import functions as F


@dlt.table(comment="Raw orders as they arrive, with the time they were read.")
def orders_bronze():
    # `spark` is a global the pipeline runtime gives every source file.
    source = spark.conf.get("source_table")
    return spark.readStream.table(source).withColumn("ingested_at", F.current_timestamp())
