"""Pulumi ComponentResources of the Databricks CI/CD program, one per module.

Type tokens are `databricks-cicd:<module>:<Name>`. Two modules hold no component:
`publishing` (the notebook-import and library-upload builders a component calls to register its
own children) and `cluster_settings` (Spark settings shared by job and dev clusters).
"""
