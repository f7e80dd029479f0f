"""The README's set-up and its ten-minute tour run as written.

`./scripts/test` (the first set-up command) is what CI runs to get here; the rest of the set-up
block and the whole tour block are taken from README.md and run with bash, the tour against the
sandbox (`./scripts/sandbox`) in a folder of the test's own.
"""

from __future__ import annotations

import os
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.usefixtures("built_releases")


def block(name: str) -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(rf"<!-- {name}:start -->\n```bash\n(.*?)```\n<!-- {name}:end -->", text, re.S)
    assert match, f"README.md has no {name} block between <!-- {name}:start/end --> markers"
    return match.group(1)


def run_bash(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.mark.slow
def test_the_setup_preview_runs_as_written() -> None:
    commands = [
        line for line in block("setup").splitlines() if not line.startswith("./scripts/test")
    ]
    done = run_bash("\n".join(commands), dict(os.environ))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Summary: live 1.3.0" in done.stdout, done.stdout[-2000:]


@pytest.mark.slow
def test_the_tour_runs_as_written_against_the_sandbox(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABRICKS_")}
    env["CICD_SANDBOX_DIR"] = str(tmp_path / "sandbox")
    try:
        done = run_bash(block("tour"), env)
    finally:
        # A tour that stopped half-way leaves no emulator running behind it.
        if (tmp_path / "sandbox" / "state.json").exists():
            run_bash("./scripts/sandbox down", env)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-5000:]
    for expected in (
        "created                /Users/alice@example.com/etl-pipeline/main",
        "result: SUCCESS",
        "stack staging: job orders_quality",
        "no drift in kept releases, jobs, pipelines or permissions",
        "Pulumi.prod.yaml | 2 +-",
        "rollback",
        "sandbox: stopped the emulator",
    ):
        assert expected in out, f"{expected!r} not in the tour's output:\n{out[-4000:]}"
    # The rollback edited the sandbox's copy, never the checkout: `down` kept that copy.
    copy = tmp_path / "sandbox" / "project" / "Pulumi.prod.yaml"
    assert 'live: "1.2.0"' in copy.read_text()
    assert 'live: "1.3.0"' in (REPO / "Pulumi.prod.yaml").read_text()
    assert "host metadata" not in out, "the SDK's host-metadata notice is shown"
    url = re.search(r"starting the emulator on (\S+)", out)
    assert url, out[-2000:]
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url.group(1)}/api/2.0/clusters/list", timeout=2)  # noqa: S310


def test_the_readme_is_short_and_every_page_it_links_starts_with_commands() -> None:
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 150, f"README.md has {len(readme.splitlines())} lines"
    assert "```mermaid" in readme, "the flow picture"
    pages = sorted(set(re.findall(r"\(docs/([a-z-]+\.md)\)", readme)))
    assert len(pages) >= 10, pages
    for page in pages:
        path = REPO / "docs" / page
        assert path.is_file(), f"README links docs/{page}, which does not exist"
        head = "\n".join(path.read_text().splitlines()[:15])
        assert "```bash" in head or "python -m" in head, f"docs/{page} does not start with commands"
