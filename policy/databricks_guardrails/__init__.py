"""The guardrails: a Pulumi policy pack (`pack`: every policy and its config) and the modules it
is made of. Importing the package loads none of them: the project's tools import `redact` alone
(the one definition of a secret) without the policy SDK the pack needs.
"""
