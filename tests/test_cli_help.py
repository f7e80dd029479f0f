"""Every command-line tool's `--help` describes each subcommand and option and shows an example.

The tools are found, not listed: every module under cicd/ with an `if __name__ == "__main__":`
block, every package's `__main__.py` (`python -m cicd.rights`), and every repo module a script
in scripts/ runs with `python -m` (./scripts/sandbox runs tests.sandbox). A new tool is covered
without touching this file.

Each tool's parser is caught in-process: the function its `__main__` block calls runs with
`ArgumentParser.parse_args` replaced by a trap that hands back the parser instead of parsing, so
nothing is executed past the parser and the parser checked is the one users get.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO


def _main_block_calls(path: Path) -> list[str]:
    """Names of module-level functions the `if __name__ == "__main__":` block calls."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    for node in tree.body:
        if (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name)
            and node.test.left.id == "__name__"
        ):
            return [
                call.func.id
                for call in ast.walk(node)
                if isinstance(call, ast.Call)
                and isinstance(call.func, ast.Name)
                and call.func.id in defined
            ]
    return []


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts)


def discover_tools() -> dict[str, str]:
    """module name -> the function its `__main__` block calls (empty when it calls none)."""
    paths = {p for p in (REPO / "cicd").rglob("*.py") if p.name == "__main__.py" or _has_main(p)}
    for script in sorted(p for p in (REPO / "scripts").rglob("*") if p.is_file()):
        text = script.read_text(encoding="utf-8", errors="replace")
        for module in re.findall(r"python -m ([\w.]+)", text):
            candidate = REPO.joinpath(*module.split(".")).with_suffix(".py")
            if candidate.is_file():
                paths.add(candidate)
    tools = {}
    for path in sorted(paths):
        calls = _main_block_calls(path)
        tools[_module_name(path)] = calls[0] if calls else ""
    return tools


def _has_main(path: Path) -> bool:
    return '\nif __name__ == "__main__":' in path.read_text(encoding="utf-8")


class _Caught(BaseException):
    """Raised by the trap: a BaseException so that no tool's `except Exception` swallows it."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__()
        self.parser = parser


def catch_parser(module_name: str, entry: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The ArgumentParser the tool builds, or None when it builds none before doing its work."""

    def trap(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> Any:
        raise _Caught(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", trap)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", trap)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_intermixed_args", trap)
    monkeypatch.setattr(sys, "argv", [module_name, "--help"])
    function = getattr(importlib.import_module(module_name), entry)
    try:
        function()
    except _Caught as caught:
        return caught.parser
    return None


def undocumented(parser: argparse.ArgumentParser, where: str) -> Iterator[str]:
    """Every option, positional and subcommand of `parser` and its subparsers without help."""
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = "/".join(action.option_strings) or action.metavar or action.dest
        if isinstance(action, argparse._SubParsersAction):
            described = {choice.dest: choice.help for choice in action._choices_actions}
            for command, subparser in action.choices.items():
                if not _text(described.get(command)):
                    yield f"{where}: subcommand {command!r} has no help text"
                yield from undocumented(subparser, f"{where} {command}")
            continue
        if not _text(action.help):
            yield f"{where}: {name} has no help text"


def _text(help_text: str | None) -> bool:
    return bool(help_text and help_text.strip() and help_text != argparse.SUPPRESS)


def example_lines(parser: argparse.ArgumentParser) -> list[str]:
    """The command lines under the epilog's "Example(s) ...:" line, as the help shows them."""
    epilog = parser.epilog or ""
    heading = re.search(r"^examples?\b.*:$", epilog, re.I | re.M)
    if heading is None:
        return []
    rendered = {line.strip() for line in parser.format_help().splitlines()}
    return [
        line.strip()
        for line in epilog[heading.end() :].splitlines()
        if line.strip().startswith(parser.prog + " ") and line.strip() in rendered
    ]


TOOLS = discover_tools()


def test_the_tools_are_found() -> None:
    # The discovery itself could silently find nothing: these are known entry points.
    for known in ("cicd.gate", "cicd.preview", "cicd.rights.__main__", "tests.sandbox"):
        assert known in TOOLS, f"{known} not discovered among {sorted(TOOLS)}"


@pytest.mark.parametrize("module_name", sorted(TOOLS))
def test_every_option_and_subcommand_has_help_and_the_help_an_example(
    module_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = TOOLS[module_name]
    assert entry, f"{module_name}: its __main__ block calls no function of the module to check"
    parser = catch_parser(module_name, entry, monkeypatch)
    assert isinstance(parser, argparse.ArgumentParser), (
        f"{module_name}: {entry}() builds no argparse parser, so `--help` describes nothing"
    )
    problems = list(undocumented(parser, parser.prog))
    assert not problems, f"{module_name}:\n" + "\n".join(problems)
    assert example_lines(parser), (
        f"{module_name}: the help has no example: give the parser an epilog with an"
        f" 'Example:' line and a command line starting with {parser.prog!r}"
        f" (RawDescriptionHelpFormatter keeps its lines); epilog seen: {parser.epilog!r}"
    )


def test_the_check_finds_an_undocumented_option_and_subcommand() -> None:
    parser = argparse.ArgumentParser(prog="tool", epilog="Example:\n  tool go --fast")
    commands = parser.add_subparsers(dest="command")
    go = commands.add_parser("go")
    go.add_argument("--fast", action="store_true")
    commands.add_parser("stop", help="stop it").add_argument("--now", help="right now")
    assert list(undocumented(parser, "tool")) == [
        "tool: subcommand 'go' has no help text",
        "tool go: --fast has no help text",
    ]
    assert example_lines(parser) == []  # re-wrapped without RawDescriptionHelpFormatter


def test_gate_help_describes_each_subcommand_restore_included(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cicd.gate import main

    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("plan", "stage", "run", "restore"):
        assert re.search(rf"^\s+{command}\s+\S", out, re.M), f"gate --help: no line for {command}"
    assert main(["restore", "--help"]) == 0
    out = capsys.readouterr().out
    assert "committed" in out and "--stack" in out, out
