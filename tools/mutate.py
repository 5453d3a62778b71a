"""Mutation testing of the modules that matter, with cosmic-ray (``make mutate``).

Each module is mutated in a copy of the committed tree (``git archive HEAD`` under
build/mutate/, never the working tree: other work in progress must not see a mutant),
one mutant at a time, and each mutant runs against the tests of the module's package
named in :data:`MODULES` (``-x``: the first failure kills it). A mutant is killed when
the tests fail; a mutant that makes the module fail to import is killed too (the suite
cannot pass with it), and is counted apart so a broken harness cannot pass for a good
score: before any mutant, the unmutated tests must pass in the copy, else the module is
reported as not measured. Survivors judged equivalent (no input can tell them from the
original) are listed in tools/mutation-equivalents.txt, one line each with the reason,
and left out of the score.

    python tools/mutate.py [MODULE ...]     # default: every module in MODULES
    python tools/mutate.py --resume MODULE  # only the mutants a cut-short run left
    python tools/mutate.py --recheck MODULE # the last run's survivors against today's tests

Prints one line per module, ``MODULE: killed/total (score)``, then each survivor.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import time
from contextlib import closing
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "mutate"
EQUIVALENTS = ROOT / "tools" / "mutation-equivalents.txt"
# cosmic-ray lives in a virtual environment of its own: the tests run with the project's
COSMIC_RAY_VERSION = "8.7.0"
TOOLS_VENV = ROOT / ".venv" / "mutate-tools"
PYTEST_MARKERS = "not e2e and not interop and not slow"

# Each module and the tests of its package that exercise it (the package's whole test
# folder where it runs in seconds; else the files that reach the module).
MODULES: dict[str, list[str]] = {
    "mailbase/addresses.py": ["tests/mailbase"],
    "mailbase/sender.py": ["tests/mailbase"],
    "signer/canon.py": ["tests/signer/test_canon.py", "tests/signer/test_dkim_sign.py",
                        "tests/signer/test_dkim_verify.py"],
    "signer/dkim_verify.py": ["tests/signer/test_dkim_verify.py",
                              "tests/signer/test_dkim_verify_boundaries.py",
                              "tests/signer/test_dkim_sign.py",
                              "tests/signer/test_dkim_authresults.py",
                              "tests/signer/test_peer_dkimpy.py"],
    "audit/chain.py": ["tests/audit/test_chain_vectors.py", "tests/audit/test_chain.py",
                       "tests/audit/test_verify.py", "tests/audit/test_pinning.py"],
    "policies/engine.py": ["tests/policies/test_engine.py",
                           "tests/policies/test_dmarc_actions.py",
                           "tests/policies/test_document_rules.py"],
    "policies/walk.py": ["tests/policies/test_walk.py", "tests/policies/test_walk_structure.py",
                         "tests/policies/test_walk_bounds.py", "tests/policies/test_parts.py",
                         "tests/policies/test_ambiguous_mime.py",
                         "tests/policies/test_fuzz.py"],
}

# cosmic-ray replaces each binary, comparison and unary operator by every other one;
# one replacement that changes the meaning says as much about the tests and costs a
# fraction of the run time. Kept: the other arithmetic operation of the same kind, each
# comparison's boundary (< and <=) and negation (< and >=), is and is not, removing a
# not or a minus sign. Left out as well: VariableReplacer and VariableInserter (random
# names: not reproducible). Every other operator runs in full.
KEPT_REPLACEMENTS = {
    "ReplaceBinaryOperator": {"Add_Sub", "Sub_Add", "Mul_Div", "Div_Mul", "FloorDiv_Div",
                              "Mod_FloorDiv", "Pow_Mul", "BitOr_BitAnd", "BitAnd_BitOr",
                              "BitXor_BitOr", "LShift_RShift", "RShift_LShift"},
    "ReplaceComparisonOperator": {"Eq_NotEq", "NotEq_Eq", "Lt_LtE", "LtE_Lt", "Gt_GtE",
                                  "GtE_Gt", "Lt_GtE", "GtE_Lt", "LtE_Gt", "Gt_LtE",
                                  "Is_IsNot", "IsNot_Is"},
    "ReplaceUnaryOperator": {"USub_UAdd", "UAdd_USub", "Delete_Not", "Delete_USub"},
}
LEFT_OUT = {"VariableReplacer", "VariableInserter"}


def excluded_operators(cosmic_ray: Path) -> list[str]:
    """The operators not run, as the exact-name patterns cr-filter-operators takes."""
    names = subprocess.run([str(cosmic_ray), "operators"], check=True, capture_output=True,
                           text=True).stdout.split()
    excluded = []
    for name in names:
        family, _, pair = name.removeprefix("core/").partition("_")
        if family in LEFT_OUT or (family in KEPT_REPLACEMENTS
                                  and pair not in KEPT_REPLACEMENTS[family]):
            excluded.append(f"^{re.escape(name)}$")
    return excluded


@dataclass(frozen=True)
class Mutant:
    """One mutant's outcome: where it is, what it changed, whether the tests noticed."""

    module: str
    operator: str
    line: int
    before: str
    after: str
    outcome: str  # killed, survived, incompetent
    import_error: bool

    def key(self) -> tuple[str, str, str, str]:
        """How tools/mutation-equivalents.txt names it (line numbers move; text less)."""
        return (self.module, self.operator.removeprefix("core/"), self.before, self.after)


def read_equivalents() -> dict[tuple[str, str, str, str], str]:
    """module, operator, line before, line after, reason: one per line, separated by
    tabs (a line of Python may hold ``|``)."""
    found: dict[tuple[str, str, str, str], str] = {}
    for number, raw in enumerate(EQUIVALENTS.read_text().splitlines(), 1):
        if not raw.strip() or raw.startswith("#"):
            continue
        parts = [p.strip() for p in raw.split("\t")]
        if len(parts) != 5 or not parts[4]:
            raise SystemExit(f"{EQUIVALENTS}:{number}: expected module, operator, line "
                             "before, line after and reason, separated by tabs")
        found[(parts[0], parts[1], parts[2], parts[3])] = parts[4]
    return found


def make_tree(name: str = "tree") -> Path:
    """The committed tree, extracted afresh, its bytecode checked by source hash (a
    mutant the same size as the original, written within the same second, must not
    run the original's cached bytecode)."""
    tree = WORK / name
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD"], check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")
    subprocess.run([sys.executable, "-m", "compileall", "-q", "--invalidation-mode",
                    "checked-hash", str(tree)], check=True)
    return tree


def ensure_cosmic_ray() -> Path:
    binary = TOOLS_VENV / "bin" / "cosmic-ray"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(TOOLS_VENV)], check=True)
        subprocess.run([str(TOOLS_VENV / "bin" / "pip"), "install", "-q",
                        f"cosmic-ray=={COSMIC_RAY_VERSION}"], check=True)
    return binary


def test_command(tests: list[str]) -> str:
    return " ".join([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                     "-p", "no:xdist", "-m", f"'{PYTEST_MARKERS}'", *tests])


def environment(tree: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE")}
    # the copy's packages, not the editable install's (which points at the working tree)
    env.update(PYTHONPATH=f"{tree}{os.pathsep}{tree / 'tests'}", CONGVU_CONFIG="none")
    return env


def run_module(module: str, tests: list[str], tree: Path, cosmic_ray: Path, *,
               resume: bool = False) -> list[Mutant] | str:
    """Every mutant of ``module`` run against ``tests``, or why it could not be measured.
    With ``resume``, only the mutants the module's last session left unrun (a run cut
    short): its results stand, so the module must offer the same mutation sites as then."""
    name = module.replace("/", ".").removesuffix(".py")
    env = environment(tree)
    missing = [t for t in tests if not (tree / t).exists()]
    if missing:
        return f"tests not in the committed tree: {', '.join(missing)}"
    started = time.monotonic()
    baseline = subprocess.run(test_command(tests), shell=True, cwd=tree, env=env,
                              capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if baseline.returncode != 0:
        tail = "\n".join(baseline.stdout.splitlines()[-5:])
        return f"the unmutated tests fail in the copy, nothing measured:\n{tail}"
    config = WORK / f"{name}.toml"
    session = WORK / f"{name}.sqlite"
    timeout = max(60.0, 4 * elapsed)
    excluded = ", ".join(json.dumps(p) for p in excluded_operators(cosmic_ray))
    config.write_text(
        "[cosmic-ray]\n"
        f"module-path = {json.dumps(module)}\n"
        f"timeout = {timeout}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(test_command(tests))}\n"
        "[cosmic-ray.distributor]\nname = \"local\"\n"
        "[cosmic-ray.filters.operators-filter]\n"
        f"exclude-operators = [{excluded}]\n")
    tools = cosmic_ray.parent
    if resume:
        changed = sites_changed(session, config, tree, env, cosmic_ray)
        if changed:
            return changed
        print(f"{module}: {unrun(session)} mutants left unrun by the last session, run now",
              flush=True)
    else:
        session.unlink(missing_ok=True)
        subprocess.run([str(cosmic_ray), "init", str(config), str(session)], cwd=tree,
                       env=env, check=True)
        subprocess.run([str(tools / "cr-filter-operators"), str(session), str(config)],
                       cwd=tree, env=env, check=True)
    # exec runs only the work items without a result
    subprocess.run([str(cosmic_ray), "exec", str(config), str(session)], cwd=tree, env=env,
                   check=True)
    return session_mutants(module, cosmic_ray)


def _sites(session: Path) -> set[tuple[Any, ...]]:
    with closing(sqlite3.connect(session)) as db:
        return set(db.execute("SELECT module_path, operator_name, occurrence, start_pos_row, "
                              "start_pos_col, end_pos_row, end_pos_col FROM mutation_specs"))


def unrun(session: Path) -> int:
    with closing(sqlite3.connect(session)) as db:
        [(count,)] = db.execute("SELECT count(*) FROM work_items WHERE job_id NOT IN "
                                "(SELECT job_id FROM work_results)")
        return int(count)


def sites_changed(session: Path, config: Path, tree: Path, env: dict[str, str],
                  cosmic_ray: Path) -> str | None:
    """Why the last session cannot be resumed on the committed module, or None: each
    mutant is named by operator and occurrence, so a module edited since would give the
    stored results to other mutants."""
    if not session.exists():
        return f"no session in {session} to resume"
    fresh = WORK / f"{session.stem}.sites.sqlite"
    fresh.unlink(missing_ok=True)
    try:
        subprocess.run([str(cosmic_ray), "init", str(config), str(fresh)], cwd=tree, env=env,
                       check=True)
        if _sites(fresh) != _sites(session):
            return ("the module's mutation sites changed since its last session: run it "
                    "afresh, without --resume")
    finally:
        fresh.unlink(missing_ok=True)
    return None


def session_mutants(module: str, cosmic_ray: Path) -> list[Mutant] | str:
    """The mutants of ``module``'s session under build/mutate, as cosmic-ray left it."""
    session = WORK / f"{module.replace('/', '.').removesuffix('.py')}.sqlite"
    if not session.exists():
        return f"no session in {session}"
    dump = subprocess.run([str(cosmic_ray), "dump", str(session)], check=True,
                          capture_output=True, text=True).stdout
    return [_mutant(module, json.loads(line)) for line in dump.splitlines() if line.strip()]


def _mutant(module: str, entry: list[Any]) -> Mutant:
    job, result = entry
    [mutation] = job["mutations"]
    result = result or {}
    diff = str(result.get("diff") or "")
    before = next((ln[1:].strip() for ln in diff.splitlines()
                   if ln.startswith("-") and not ln.startswith("---")), "")
    after = next((ln[1:].strip() for ln in diff.splitlines()
                  if ln.startswith("+") and not ln.startswith("+++")), "")
    output = str(result.get("output") or "")
    worker = result.get("worker_outcome")
    # skipped: an operator left out; abnormal: the tests did not end within the timeout
    # (the mutant made them hang: detected); exception: cosmic-ray itself failed
    outcome = {"skipped": "skipped", "abnormal": "killed", "exception": "incompetent"}.get(
        str(worker), str(result.get("test_outcome") or "incompetent"))
    return Mutant(
        module=module, operator=str(mutation["operator_name"]),
        line=int(mutation["start_pos"][0]), before=before, after=after, outcome=outcome,
        import_error=bool(re.search(r"\berrors? during collection\b|ImportError", output)),
    )


def recheck(module: str, mutants: list[Mutant] | str, tests: list[str], tree: Path,
            equivalents: dict[tuple[str, str, str, str], str],
            lines_only: list[int] | None = None) -> None:
    """Apply each survivor of the last session not listed as equivalent to the module as
    committed (its line found by text, nearest the line it had) and run ``tests`` on it:
    tests written since a run are measured against its survivors without running every
    mutant again. Prints each outcome and the session's score with them."""
    if isinstance(mutants, str):
        print(f"{module}: not rechecked ({mutants})")
        return
    survivors = [m for m in mutants if m.outcome == "survived" and m.key() not in equivalents
                 and (not lines_only or m.line in lines_only)]
    source = tree / module
    original = source.read_text()
    lines = original.split("\n")
    env = environment(tree)
    if subprocess.run(test_command(tests), shell=True, cwd=tree, env=env,
                      capture_output=True).returncode != 0:
        print(f"{module}: not rechecked (the unmutated tests fail in the copy)")
        return
    killed = gone = 0
    try:
        for m in survivors:
            found = [n for n, text in enumerate(lines, 1) if text.strip() == m.before]
            if not found:
                print(f"  gone, line {m.line}: the line is no longer in the module, "
                      "left out:\t" + "\t".join(m.key()))
                gone += 1  # no such mutant can be made of the module as it is
                continue
            n = min(found, key=lambda k: abs(k - m.line))
            indent = lines[n - 1][: len(lines[n - 1]) - len(lines[n - 1].lstrip())]
            mutated = [*lines[: n - 1], indent + m.after, *lines[n:]]
            if "CosmicRayTestingException" in m.after:
                # cosmic-ray's stand-in for an exception no code raises, a builtin in its runs
                mutated.append("class CosmicRayTestingException(Exception):\n    pass\n")
            source.write_text("\n".join(mutated))
            outcome = subprocess.run(test_command(tests), shell=True, cwd=tree, env=env,
                                     capture_output=True, text=True)
            killed += outcome.returncode != 0
            word = "killed" if outcome.returncode else "survived"
            print(f"  {word}, line {n}:\t" + "\t".join(m.key()), flush=True)
    finally:
        source.write_text(original)
    counted = [m for m in mutants if m.outcome in ("killed", "survived")
               and not (m.outcome == "survived" and m.key() in equivalents)]
    done = sum(m.outcome == "killed" for m in counted) + killed
    total = len(counted) - gone
    score = 100.0 * done / total if total else 100.0
    if lines_only:
        print(f"{module}: {killed} of the {len(survivors)} survivors on lines "
              f"{', '.join(map(str, lines_only))} killed by {' '.join(tests)}")
        return
    print(f"{module}: {done}/{total} ({score:.1f} %) with the survivors rechecked "
          f"against {' '.join(tests)}")


def report(module: str, mutants: list[Mutant] | str,
           equivalents: dict[tuple[str, str, str, str], str]) -> float | None:
    if isinstance(mutants, str):
        print(f"{module}: not measured ({mutants})")
        return None
    counted = [m for m in mutants if m.outcome in ("killed", "survived")]
    equivalent = [m for m in counted if m.outcome == "survived" and m.key() in equivalents]
    counted = [m for m in counted if m not in equivalent]
    killed = [m for m in counted if m.outcome == "killed"]
    score = 100.0 * len(killed) / len(counted) if counted else 100.0
    print(f"{module}: {len(killed)}/{len(counted)} ({score:.1f} %)"
          f"  [equivalent, left out: {len(equivalent)}; killed at import or collection: "
          f"{sum(m.import_error for m in killed)}; incompetent: "
          f"{sum(m.outcome == 'incompetent' for m in mutants)}]")
    for m in counted:
        if m.outcome == "survived":
            # tab-separated, as tools/mutation-equivalents.txt wants it
            print(f"  survived, line {m.line}:\t{chr(9).join(m.key())}")
    return score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", default=list(MODULES), metavar="MODULE",
                        help=f"modules to mutate (default: all of {', '.join(MODULES)})")
    parser.add_argument("--tests", nargs="+", metavar="PATH",
                        help="run these tests on every mutant instead of MODULES' (a "
                        "quicker, narrower measure: the score is then a lower bound)")
    parser.add_argument("--resume", action="store_true",
                        help="run only the mutants each module's last session under "
                        "build/mutate left unrun (a run cut short), if the module offers the "
                        "same mutation sites as then; the results it holds stand")
    parser.add_argument("--recheck", action="store_true",
                        help="apply each survivor of the last session (not listed as "
                        "equivalent) to the committed module and run the tests on it")
    parser.add_argument("--line", type=int, action="append", metavar="N",
                        help="with --recheck: only the survivors on line N of the last "
                        "session's module (repeatable)")
    parser.add_argument("--report-only", action="store_true",
                        help="report the last run's sessions under build/mutate again "
                        "(with the equivalents listed since), running nothing")
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"no tests are named for {', '.join(unknown)} (see MODULES)")
    equivalents = read_equivalents()
    cosmic_ray = ensure_cosmic_ray()
    if args.report_only:
        for module in args.modules:
            report(module, session_mutants(module, cosmic_ray), equivalents)
        return 0
    # a recheck has a tree of its own: a run may be under way in the other
    tree = make_tree("recheck-tree" if args.recheck else "tree")
    if args.recheck:
        for module in args.modules:
            recheck(module, session_mutants(module, cosmic_ray), args.tests or MODULES[module],
                    tree, equivalents, args.line)
        return 0
    for module in args.modules:
        tests = args.tests or MODULES[module]
        print(f"{module}: mutants run against {' '.join(tests)}", flush=True)
        report(module, run_module(module, tests, tree, cosmic_ray, resume=args.resume),
               equivalents)
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
