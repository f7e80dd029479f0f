"""The real program evaluated once per set of inputs in a test process.

Many tests lay out the same stack (the drift layouts publish what the program registers, then the
engineers' clusters of the same config; the stack tests read the repo's stack files) and each
evaluation costs a tenth of a second or more. An evaluation gives the same registrations for the
same inputs (guarantee 5), so `evaluate_once` keeps each one under the drift check's own cache key
(`cicd.driftcheck.cache.cache_key`: the config, the lock, the program's code, the SDK versions and
the release content's names, sizes and modification times) and the project folder, and hands out
copies: a test that changes what it got changes nobody else's. Failures are not kept: a program
that raises is evaluated again, so it raises again. Tests of evaluation itself call
`cicd.evaluation.evaluate`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path

from cicd.driftcheck.cache import cache_key
from cicd.evaluation import Evaluation, evaluate

REPO = Path(__file__).resolve().parent.parent
_EVALUATED: dict[tuple[str, str], Evaluation] = {}


def evaluate_once(config: Mapping[str, str], stack: str, project_dir: Path = REPO) -> Evaluation:
    """`cicd.evaluation.evaluate(config, stack, project_dir)`, once per inputs in this process."""
    key = (cache_key(config, stack, project_dir), str(project_dir.resolve()))
    if key not in _EVALUATED:
        _EVALUATED[key] = evaluate(config, stack, project_dir)
    return copy.deepcopy(_EVALUATED[key])
