"""Make the pipeline library importable from its source tree (pipeline/src), wherever pytest is
started from, without installing it. No __init__.py here on purpose: these tests must not become
a package that could clash with the project's root ``tests`` package."""

import sys
from pathlib import Path

PIPELINE_DIR = Path(__file__).resolve().parent.parent
SRC_DIR = PIPELINE_DIR / "src"

if str(SRC_DIR) not in sys.path:
    sys.path.insert(0, str(SRC_DIR))
