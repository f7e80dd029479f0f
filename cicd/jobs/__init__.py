"""Databricks jobs seen from the tools: a deployed stack's job, and one run of it followed to the end."""
