"""Pulumi ComponentResources of the Databricks CI/CD program, one per module.

Type tokens are `databricks-cicd:<module>:<Name>`.
"""
