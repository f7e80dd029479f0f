"""`python -m cicd.convert_bundle BUNDLE_DIR --target TARGET --stack STACK --version VERSION
[--var NAME=VALUE ...] [--library WHEEL ...] [--skip-unsupported]`

Converts a Declarative Automation Bundle (Databricks Asset Bundle, YAML) into this project:
publishes the files its jobs and pipelines use, and its wheels, as release VERSION (like
`python -m cicd.release publish`), and adds its jobs and pipelines and the release to
Pulumi.STACK.yaml, keeping every other line and comment. The release becomes live only in a
stack that had none; otherwise promote it with `python -m cicd.promote`. See
docs/convert-bundle.md.

Exit codes: 0 converted (or nothing to change); 1 refused, nothing written; 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from cicd.bundles.convert import Request, convert
from cicd.bundles.problems import ConversionError
from cicd.project import PROJECT_DIR


def _variable(value: str) -> tuple[str, str]:
    name, sep, given = value.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{value!r}: give NAME=VALUE, e.g. --var catalog=main")
    return name.strip(), given


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cicd.convert_bundle",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("bundle_dir", metavar="BUNDLE_DIR", type=Path)
    parser.add_argument("--target", required=True, help="the bundle target to convert")
    parser.add_argument("--stack", required=True, help="the stack: Pulumi.STACK.yaml")
    parser.add_argument("--version", required=True, help="the release version to publish")
    parser.add_argument(
        "--var",
        type=_variable,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a bundle variable's value (wins over the target's); repeat for more",
    )
    parser.add_argument(
        "--library",
        type=Path,
        action="append",
        default=[],
        metavar="WHEEL",
        help="a built wheel the bundle's jobs or pipelines install; repeat for more"
        " (default: build the bundle's artifacts)",
    )
    parser.add_argument(
        "--skip-unsupported",
        action="store_true",
        help="convert what can be converted and list what was left out",
    )
    return parser


def main(argv: Sequence[str] | None = None, project_dir: Path = PROJECT_DIR) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    request = Request(
        bundle_dir=args.bundle_dir,
        target=args.target,
        stack=args.stack,
        version=args.version,
        variables=dict(args.var),
        libraries=tuple(args.library),
        skip_unsupported=args.skip_unsupported,
    )
    try:
        lines = convert(project_dir, request)
    except ConversionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
