"""The policy pack's config for a stack: `python -m cicd.policy_config --stack prod > FILE`.

Prints the JSON document `pulumi preview|up --policy-pack policy --policy-pack-config FILE`
reads: each configurable policy's section, with the caps and roots taken from the validated
`Pulumi.<stack>.yaml` (see `cicd.evaluation.guardrails.pack_settings`), so they are never typed twice.
It writes to standard output only; where the file goes is the caller's choice.

Exit codes: 0 printed; 1 the stack file is invalid (every problem named); 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from cicd.config import ConfigError, read_stack_file
from cicd.evaluation.guardrails import pack_config
from cicd.project import PROJECT_DIR, stack_file


def main(argv: Sequence[str] | None = None, project_dir: Path = PROJECT_DIR) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cicd.policy_config",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example:\n"
        "  python -m cicd.policy_config --stack prod > policy-config.json\n"
        "  pulumi preview --stack prod --policy-pack policy --policy-pack-config policy-config.json",
    )
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument(
        "--config", type=Path, help="stack file to read instead of Pulumi.<stack>.yaml"
    )
    args = parser.parse_args(argv)
    stack_path = args.config or stack_file(project_dir, args.stack)
    try:
        config = read_stack_file(stack_path)
    except ConfigError as exc:
        print(f"error: {stack_path.name}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(pack_config(config, args.stack), indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
