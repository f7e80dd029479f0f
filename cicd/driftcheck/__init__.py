"""The drift check behind `python -m cicd.drift`: what the program and the release lock say a
stack holds (`expected`), read back from the workspace (`objects`) and compared: kept releases'
files (`releases`, with `normalise`), the job (`job`), permissions (`permissions`); findings and
their reports (`findings`), one whole check (`check`) and the restore of release files (`restore`).
"""
