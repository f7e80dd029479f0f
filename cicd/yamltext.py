"""YAML text read safely and fast: PyYAML's C loader (libyaml) when PyYAML was built with it.

Stack files are read by every tool and the lock grows with every file of every release; the pure
Python loader spends milliseconds per kilobyte on them. Both loaders are safe (plain data only)
and resolve values alike: the resolver is the same Python code.
"""

from __future__ import annotations

from typing import Any

import yaml

SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """`yaml.safe_load`, with the C loader when there is one."""
    return yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506 - a safe loader
