"""Example ETL pipeline: validate, clean and convert order records.

The pure rules live in :mod:`etl_pipeline.orders`; :mod:`etl_pipeline.spark_job` applies the same
rules to a table with PySpark (provided by the Databricks cluster, imported only when used).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__: str = version("etl-pipeline")
except PackageNotFoundError:  # running from a source tree, not an installed wheel
    __version__ = "0+unknown"

__all__ = ["__version__"]
