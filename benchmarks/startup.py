"""Start-up benchmark: the offline commands of `cicd.promote` and `cicd.gate`, as a person types
them, on a copy of the project.

Run by hand from the repo root (it is not a test):

    python benchmarks/startup.py [--repeat 5]

It copies the program (cicd/, policy/, the stack files and the lock) into a temporary directory,
so that the copy's `Pulumi.prod.yaml` is the one edited, and times each command in a fresh
interpreter (`python -m ...` in the copy), the stack file put back before every run:

- `promote --rollback`, `--retire`, and `1.1.0 --allow-unverified` (edits of the stack file
  that never ask a workspace; `--abandon` makes the rollback's edit);
- `gate plan` of a rollback (no workspace asked), with a stand-in `pulumi` on PATH printing the
  outputs of the deploy before the rollback;
- `import cicd.promote` alone, for the import cost.

It prints, per command, the best and the median of the wall time and of the CPU time (user +
system of the child), and whether the command loaded `databricks.sdk` (a command reaching no
workspace should not). Exit code 0 only if every command exited as expected and none of them
loaded the SDK (timings are printed, not judged: the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COPIED = ["cicd", "policy/databricks_guardrails", "Pulumi.prod.yaml", "Pulumi.staging.yaml"]
# The outputs of a deploy of the repo's prod file (1.3.0 live, 1.2.0 the rollback target).
OUTPUTS = '{"liveRelease": "1.3.0", "rollbackTarget": "1.2.0", "jobId": "7"}'
# The same command in an interpreter that then says whether anything loaded the SDK.
PROBE = """\
import runpy, sys
sys.argv = [{module!r}, *{argv!r}]
try:
    runpy.run_module({module!r}, run_name="__main__", alter_sys=True)
finally:
    print("SDK-LOADED" if "databricks.sdk" in sys.modules else "SDK-NOT-LOADED", file=sys.stderr)
"""
COMMANDS: list[tuple[str, list[str]]] = [
    ("promote --rollback", ["cicd.promote", "--rollback", "--stack", "prod"]),
    ("promote --retire", ["cicd.promote", "--retire", "--stack", "prod"]),
    (
        "promote 1.1.0 --allow-unverified",
        ["cicd.promote", "1.1.0", "--stack", "prod", "--allow-unverified", "bench"],
    ),
    ("gate plan (after a rollback)", ["cicd.gate", "plan", "--stack", "prod"]),
]


def copy_project(into: Path) -> None:
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, into / name)
    shutil.copy(REPO / "policy" / "__init__.py", into / "policy" / "__init__.py")
    shutil.copy(REPO / "releases.lock.yaml", into / "releases.lock.yaml")
    (into / "Pulumi.yaml").write_text("name: startup-bench\nruntime: python\n")
    bin_dir = into / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text(f"#!/bin/sh\ncat <<'JSON'\n{OUTPUTS}\nJSON\n")
    (bin_dir / "pulumi").chmod(0o755)


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done.returncode, wall, cpu, done.stdout + done.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per command (default: 5)")
    args = parser.parse_args()
    python = sys.executable
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="startup-bench-") as scratch:
        root = Path(scratch)
        copy_project(root)
        stack = root / "Pulumi.prod.yaml"
        committed = stack.read_bytes()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
        env["PATH"] = f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as ./scripts/test: bytecode is cached
        # Also the warm-up: the copy's bytecode is written here, before anything is timed.
        rollback = [python, "-m", "cicd.promote", "--rollback", "--stack", "prod"]
        subprocess.run(rollback, cwd=root, env=env, capture_output=True, check=True)
        rolled_back = stack.read_bytes()

        def prepare(label: str) -> None:
            # `gate plan` plans the deploy of a merged rollback; the others edit the committed file.
            stack.write_bytes(rolled_back if label.startswith("gate") else committed)

        print(f"{'command':<34} {'wall best/median':>17} {'CPU best/median':>17}  SDK loaded")
        walls, cpus = [], []
        for _ in range(args.repeat):
            _, wall, cpu, _ = timed([python, "-c", "import cicd.promote"], root, env)
            walls.append(wall)
            cpus.append(cpu)
        report("import cicd.promote", walls, cpus, "-")
        for label, argv in COMMANDS:
            prepare(label)
            code, _, _, said = timed(
                [python, "-c", PROBE.format(module=argv[0], argv=argv[1:])], root, env
            )
            loaded = "SDK-LOADED" in said
            if code != 0:
                failures.append(f"{label}: exit {code}: {said.strip()}")
                continue
            if loaded:
                failures.append(f"{label}: loaded databricks.sdk")
            walls, cpus = [], []
            for _ in range(args.repeat):
                prepare(label)
                code, wall, cpu, said = timed([python, "-m", *argv], root, env)
                if code != 0:
                    failures.append(f"{label}: exit {code}: {said.strip()}")
                    break
                walls.append(wall)
                cpus.append(cpu)
            if walls:
                report(label, walls, cpus, "yes" if loaded else "no")
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


def report(label: str, walls: list[float], cpus: list[float], loaded: str) -> None:
    print(
        f"{label:<34} {min(walls):6.2f} /{statistics.median(walls):5.2f} s"
        f" {min(cpus):6.2f} /{statistics.median(cpus):5.2f} s  {loaded}",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
