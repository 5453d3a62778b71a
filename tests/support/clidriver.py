"""Run many congvu commands in one process: the peer suites' driver.

A peer suite (the RFC 7208 SPF suite, dkimpy's DKIM vectors, the ARC validation suite)
has hundreds of cases; starting Python and importing congvu for each would cost minutes.
:func:`run_cli_cases` starts this module once per suite as a subprocess, which calls
congvu's own entry function (``congvu.cli.main``, through click's runner, in process)
for each case with the case's arguments and standard input, and writes one JSON line
per case: ``id``, ``exit``, ``stdout``, ``stderr``. The test compares those with the
suite's expectations.

    outcomes = run_cli_cases([CliCase("t1", ["auth", "check", ...], stdin=raw)])
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class CliCase:
    """One command line and its standard input."""

    id: str
    argv: list[str]
    stdin: bytes = b""


@dataclass(frozen=True, slots=True)
class CliOutcome:
    """What the command did: its exit code and its output."""

    exit: int
    stdout: str
    stderr: str


def run_cli_cases(cases: Sequence[CliCase], workdir: Path, *,
                  timeout: float = 900) -> dict[str, CliOutcome]:
    """Run every case in one subprocess; its outcome by case id.

    :raises RuntimeError: the driver itself failed, or left cases without an outcome.
    """
    jobs = workdir / "cases.jsonl"
    jobs.write_text("".join(json.dumps({"id": c.id, "argv": c.argv,
                                        "stdin": base64.b64encode(c.stdin).decode()}) + "\n"
                            for c in cases))
    env = {**os.environ, "CONGVU_CONFIG": "none", "CONGVU_VAR": str(workdir / "var")}
    done = subprocess.run([sys.executable, __file__, str(jobs)], capture_output=True,
                          text=True, timeout=timeout, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the CLI driver failed ({done.returncode}): {done.stderr[-2000:]}")
    outcomes = {}
    for line in done.stdout.splitlines():
        row = json.loads(line)
        outcomes[row["id"]] = CliOutcome(row["exit"], row["stdout"], row["stderr"])
    missing = [c.id for c in cases if c.id not in outcomes]
    if missing:
        raise RuntimeError(f"the CLI driver gave no outcome for {missing[:5]}")
    return outcomes


def _main(jobs: Path) -> None:
    from click.testing import CliRunner

    from congvu.cli import main

    runner = CliRunner()
    for line in jobs.read_text().splitlines():
        job = json.loads(line)
        result = runner.invoke(main, job["argv"], input=base64.b64decode(job["stdin"]),
                               catch_exceptions=True)
        stderr = result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            stderr += f"\n{type(result.exception).__name__}: {result.exception}"
        print(json.dumps({"id": job["id"], "exit": result.exit_code, "stdout": result.stdout,
                          "stderr": stderr}), flush=True)


if __name__ == "__main__":
    # run as a script, its own folder comes first on the path, and support/audit.py
    # would stand in for congvu's audit package
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
    _main(Path(sys.argv[1]))
