"""The real program run offline under Pulumi's mocks (`program`), and what differs between two
runs (`changes`): the offline preview, the tests and the benchmark all see the program this way."""

from cicd.evaluation.changes import Change, compare
from cicd.evaluation.program import PROJECT, Evaluation, Registration, evaluate

__all__ = ["PROJECT", "Change", "Evaluation", "Registration", "compare", "evaluate"]
