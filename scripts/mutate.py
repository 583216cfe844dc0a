"""Mutation testing of the workflow modules (issue 18): ``make mutate``, not part of CI.

mutmut (pinned in the ``mutate`` extra) makes every small edit it knows to each function of a module, and runs, for
each edit, the tests that call that function (it records who calls what in one clean run), stopping at the first
failure. A mutant that no test notices "survives".

Test selection: each module is run on its own, against the test files in TESTS below only: the files written to
pin that module down. mutmut's own selection alone is not enough: nearly every test calls ``fit``, and a surviving
mutant of fit.py would then run them all (a survivor runs every selected test that calls its function, so the
selection sets the run time).

Each module runs in its own scratch copy under the temp folder, so the working tree gets no ``mutants/`` folder.
The copies are kept between runs: mutmut re-tests only functions whose code changed, so a second run after killing
a few survivors takes minutes. ``--fresh`` starts over.

Survivors that are *equivalent* (no test could tell them apart, e.g. ``os.sep`` for ``"/"`` on POSIX) are named,
with the reason, in scripts/mutation_equivalents.toml, matched by function and by the mutated line. Survivors that
a test could kill but none does are named there too (``[[survivor]]``), with the reason no test pins them; they
count as survivors. The report, benchmarks/results/mutation.md, gives the score per module, killed / (mutants -
equivalent), and lists every survivor with its reason, or as "not killed yet".

Every run also keeps its results beside the report (mutation.jsonl), so ``--report-only`` works on any machine,
also where the scratch copies are gone.

    python scripts/mutate.py                 # all modules (minutes per module: benchmarks/results/mutation.md)
    python scripts/mutate.py --only io,prune # a subset of the modules (by the name after kanlab.)
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPY = ["src", "tests", "examples", "pyproject.toml", "README.md"]
# module -> the test files its mutants are run against
TESTS = {
    "io": ["test_io.py", "test_expectations.py"],
    "prune": ["test_prune.py", "test_expectations.py", "test_hypothesis.py", "test_mult.py"],
    "sklearn": ["test_sklearn.py", "test_expectations.py"],
    "fit": ["test_fit.py", "test_expectations.py", "test_objective.py"],
    "epochs": ["test_epochs.py"],
    "symbolic.fit": ["test_symbolic_fit.py"],
    "symbolic.formula": ["test_formula.py"],
}
MUTMUT = """
[tool.mutmut]
source_paths = ["src/kanlab"]
only_mutate = ["src/kanlab/{path}.py"]
pytest_add_cli_args_test_selection = [{tests}]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "no:warnings", "-x"]
process_isolation = "forkserver"  # torch is not fork-safe once used
debug = true  # mutmut prints the failing test when a clean run fails
"""
KILLED = {"killed", "caught by type check", "timeout", "segfault"}  # a timeout or a crash is noticed, too
KILLED_CODES = {1, 3, 36, 37, 24, -24, 152, 255, -11, -9}  # mutmut's exit codes for the statuses above


def sync(scratch: Path, module: str) -> None:
    """Mirror the files the tests need into ``scratch``, keeping mutmut's own ``mutants/`` folder (its cache), and
    configure mutmut for ``module``."""
    scratch.mkdir(parents=True, exist_ok=True)
    for name in COPY:
        src, dst = ROOT / name, scratch / name
        if dst.is_dir():
            shutil.rmtree(dst)
        elif dst.exists():
            dst.unlink()
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.egg-info"))
        else:
            shutil.copy2(src, dst)
    mutants = scratch / "mutants"
    if mutants.is_dir():  # mutmut copies the tests and the unmutated modules once, when it creates mutants/
        mutated = f"src/kanlab/{module.replace('.', '/')}.py"
        for src in [*(ROOT / "src").rglob("*"), *(ROOT / "tests").rglob("*")]:
            rel = src.relative_to(ROOT).as_posix()
            if src.is_file() and rel != mutated and "__pycache__" not in rel and not rel.endswith(".so"):
                dst = mutants / rel
                if not dst.exists() or dst.read_bytes() != src.read_bytes():
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, dst)
    tests = ", ".join(f'"tests/{t}"' for t in TESTS[module])
    with open(scratch / "pyproject.toml", "a") as f:
        f.write(MUTMUT.format(path=module.replace(".", "/"), tests=tests))


def retest_survivors(scratch: Path) -> None:
    """Mark every mutant that was not killed as unchecked, so that this run tries the current tests on it (mutmut
    itself re-tests only functions whose code changed, not mutants that new tests may now kill)."""
    for meta in (scratch / "mutants").rglob("*.py.meta"):
        data = json.loads(meta.read_text())
        codes = data["exit_code_by_key"]
        data["exit_code_by_key"] = {k: (c if c in KILLED_CODES else None) for k, c in codes.items()}
        meta.write_text(json.dumps(data))


def _split(name: str) -> tuple[str, str]:
    """'kanlab.symbolic.fit.x_fit_affine__mutmut_3' -> ('symbolic.fit', 'fit_affine');
    'kanlab.sklearn.xǁKANRegressorǁfit__mutmut_6' -> ('sklearn', 'KANRegressor.fit')."""
    module, rest = re.split(r"\.x(?=[_ǁ])", name, maxsplit=1)
    rest = re.sub(r"__mutmut_\d+$", "", rest)
    function = rest.strip("ǁ").replace("ǁ", ".") if rest.startswith("ǁ") else rest[1:]
    return module.removeprefix("kanlab."), function


def changed_lines(diff: str) -> tuple[str, str]:
    minus = " / ".join(l[1:].strip() for l in diff.splitlines() if l.startswith("-") and not l.startswith("---"))
    plus = " / ".join(l[1:].strip() for l in diff.splitlines() if l.startswith("+") and not l.startswith("+++"))
    return minus, plus


def load_reasons() -> tuple[list[dict], list[dict]]:
    """The named survivors: (equivalent mutants, killable mutants that no test pins), each with its reason."""
    with open(ROOT / "scripts" / "mutation_equivalents.toml", "rb") as f:
        table = tomllib.load(f)
    return table["equivalent"], table.get("survivor", [])


def entry_for(module: str, function: str, plus: str, minus: str, entries: list[dict]) -> dict | None:
    """The first entry whose module and function match and whose fragments occur in the mutated line (``mutant``)
    and the original line (``original``, optional); an empty fragment matches any line."""
    for e in entries:
        if e["module"] == module and e["function"] == function and e["mutant"].strip() in plus \
                and e.get("original", "").strip() in minus:
            return e
    return None


def survivor_text(entry: dict | None) -> str:
    """The report's reason for a survivor that is not equivalent. An entry with ``killed_by`` names a test written
    after the module's last run (the next run counts the kill); one with ``reason`` says why no test pins it."""
    if entry is None:
        return "**not killed yet**"
    if "killed_by" in entry:
        return (f"a test now kills it: `{entry['killed_by']}` (written after this module's last run and checked by "
                "applying the mutant by hand; the next run counts it)")
    return "survives: " + entry["reason"]


def collect() -> None:
    """In a scratch copy (the cwd): print one JSON line per mutant: name, status and, unless killed, the diff."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant  # reads the cwd's pyproject.toml

    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], capture_output=True,
                         text=True, check=True).stdout
    for line in out.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name.startswith("kanlab."):
            minus, plus = ("", "") if status in KILLED else changed_lines(get_diff_for_mutant(name))
            print(json.dumps({"name": name, "status": status, "minus": minus, "plus": plus}))


def report(results: list[dict], minutes: dict[str, float]) -> str:
    equivalents, survivors = load_reasons()
    counts: dict[str, Counter] = defaultdict(Counter)
    rows: dict[str, list[str]] = defaultdict(list)
    for r in results:
        module, function = _split(r["name"])
        counts[module]["mutants"] += 1
        if r["status"] in KILLED:
            counts[module]["killed"] += 1
            continue
        if r["status"] == "not checked":  # a run stopped part-way: reported, left out of the score
            counts[module]["unchecked"] += 1
            continue
        equivalent = entry_for(module, function, r["plus"], r["minus"], equivalents)
        counts[module]["equivalent" if equivalent is not None else "survived"] += 1
        why = "equivalent: " + equivalent["reason"] if equivalent is not None else \
            survivor_text(entry_for(module, function, r["plus"], r["minus"], survivors))
        rows[module].append(f"| `{function}` | {r['status']} | `{_cell(r['minus'])}` | `{_cell(r['plus'])}` | "
                            f"{why} |")
    lines = ["# Mutation testing of the workflow modules", "",
             "Produced by `make mutate` (scripts/mutate.py, mutmut 3.8.1). Each module's mutants run against the "
             "test files listed; a mutant counts as killed when a test fails, times out or crashes.",
             "Score = killed / (mutants checked - equivalent). A run stopped part-way leaves mutants not checked; "
             "they are counted apart and left out of the score.", "",
             "| module | test files | mutants | not checked | killed | equivalent (named below) | survived | score "
             "| minutes |",
             "|---|---|---|---|---|---|---|---|---|"]
    for module in sorted(counts):
        c = counts[module]
        score = c["killed"] / max(1, c["mutants"] - c["unchecked"] - c["equivalent"])
        lines.append(f"| {module.replace('.', '/')}.py | {', '.join(TESTS[module])} | {c['mutants']} | "
                     f"{c['unchecked']} | {c['killed']} | {c['equivalent']} | {c['survived']} | {100 * score:.1f}%"
                     f"{' (a partial run)' if c['unchecked'] else ''} | "
                     f"{f'{minutes[module]:.1f}' if module in minutes else 'not recorded'} |")
    missing = [m for m in TESTS if m not in counts]
    if missing:
        lines += ["", f"Not run yet: {', '.join(m.replace('.', '/') + '.py' for m in missing)}."]
    lines += ["", "Minutes: the wall time of each module's last run on this machine (2 cores). A run re-tests the "
              "functions whose code changed and every mutant that survived before; the rest keep their verdict. "
              "`--fresh` re-tests everything."]
    for module in sorted(rows):
        lines += ["", f"## {module.replace('.', '/')}.py: every mutant the tests do not kill", "",
                  "| function | status | original | mutant | reason |", "|---|---|---|---|---|", *rows[module]]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    text = text.replace("|", "\\|").replace("`", "'")
    return text if len(text) <= 110 else text[:107] + "..."


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="", help="comma-separated modules, e.g. io,prune,symbolic.fit")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--scratch", default=os.path.join(tempfile.gettempdir(), "kanlab-mutate"))
    ap.add_argument("--fresh", action="store_true", help="forget the previous runs' results")
    ap.add_argument("--report", default=str(ROOT / "benchmarks" / "results" / "mutation.md"))
    ap.add_argument("--report-only", action="store_true", help="write the report from the last runs' results")
    ap.add_argument("--collect", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--verbose", action="store_true", help="show mutmut's own output")
    args = ap.parse_args()
    if args.collect:
        return collect()
    modules = [m for m in args.only.split(",") if m] or list(TESTS)
    unknown = sorted(set(modules) - set(TESTS))
    if unknown:
        ap.error(f"unknown module(s) {unknown}; choose from {sorted(TESTS)}")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    kept = Path(args.report).with_suffix(".jsonl")
    saved = [json.loads(line) for line in kept.read_text().splitlines()] if kept.is_file() else []
    results, minutes = [], {}
    for module in list(TESTS):
        scratch = Path(args.scratch) / module
        if module in modules and not args.report_only:
            if args.fresh and scratch.exists():
                shutil.rmtree(scratch)
            sync(scratch, module)
            retest_survivors(scratch)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(args.jobs)],
                           cwd=scratch, env=env, check=True, stdout=subprocess.DEVNULL if not args.verbose else None)
            (scratch / "last_run.json").write_text(json.dumps({"minutes": (time.perf_counter() - t0) / 60}))
        if (scratch / "last_run.json").is_file():
            minutes[module] = json.loads((scratch / "last_run.json").read_text())["minutes"]
        if (scratch / "mutants").is_dir():  # modules not rerun keep their previous results in the report
            out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--collect"], cwd=scratch,
                                 env=env, capture_output=True, text=True, check=True).stdout
            results += [dict(json.loads(line), module=module) for line in out.splitlines()]
        else:  # no scratch copy on this machine: the results kept by the last run that had one
            results += [r for r in saved if r["module"] == module]
            minutes.update({module: r["minutes"] for r in saved if r["module"] == module and "minutes" in r})
    for r in results:
        if r["module"] in minutes:
            r["minutes"] = minutes[r["module"]]
    kept.write_text("".join(json.dumps(r) + "\n" for r in results))
    text = report(results, minutes)
    Path(args.report).write_text(text)
    sys.stdout.write(text.split("\n## ")[0])


if __name__ == "__main__":
    main()
