"""How well the redaction's shape rule for unnamed base64/hex secrets works (it is a heuristic).

Run by hand from the repo root (it is not a test):

    python benchmarks/redaction.py [--samples N]

Prints, for random secrets of several lengths and alphabets, the share that `redact_text` hides
with no key to go by, and, for names and paths like those the reports print (every file of the
repository as a path, and every line of both stack files), how many it hides by mistake.
"""

from __future__ import annotations

import argparse
import base64
import secrets
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policy.databricks_guardrails.redact import redact_text  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _hidden(value: str) -> bool:
    return "[redacted" in redact_text(value)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=5000)
    n = parser.parse_args().samples
    kinds = {
        "base64": lambda size: base64.b64encode(secrets.token_bytes(size * 3 // 4)).decode(),
        "base64url": lambda size: secrets.token_urlsafe(size * 3 // 4),
        "hex": lambda size: secrets.token_hex(size // 2),
    }
    print("random secrets hidden with no key naming them:")
    for kind, make in kinds.items():
        for size in (32, 40, 44, 64):
            share = sum(_hidden(make(size)) for _ in range(n)) / n
            print(f"  {kind:<9} {size:>2} chars: {share:6.1%} of {n}")
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True
    ).stdout.split()
    texts = set(listed) | {f"/Workspace/{p}" for p in listed}
    texts |= {
        line.strip()
        for p in ("Pulumi.staging.yaml", "Pulumi.prod.yaml")
        for line in (ROOT / p).read_text().splitlines()
        if line.strip()
    }
    wrong = sorted(t for t in texts if _hidden(t))
    print(f"repository paths and stack-file lines hidden by mistake: {len(wrong)} of {len(texts)}")
    for text in wrong[:20]:
        print(f"  {text}")


if __name__ == "__main__":
    main()
