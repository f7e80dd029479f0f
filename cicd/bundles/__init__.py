"""Converting a Declarative Automation Bundle (Databricks Asset Bundle) into a release and stack
config: `load` reads the YAML, `interpolation` resolves `${...}` references, `translate` maps jobs
and pipelines onto the stack config model, `content` collects and stages the files they use,
`artifacts` builds the bundle's wheels, `stack_file` edits `Pulumi.<stack>.yaml` keeping its
comments, and `convert` runs them in order (the CLI is `cicd.convert_bundle`).
"""
