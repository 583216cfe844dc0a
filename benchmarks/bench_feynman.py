"""The Feynman benchmark: kanlab.discover against pykan 0.2.8's seed pipeline and gplearn, on the same data and budget.

For each of the 120 equations of kanlab.feynman: 1000 rows sampled on the equation's ranges (seed 0) go to every
method. kanlab.discover gets ``--budget`` seconds; gplearn's SymbolicRegressor adds generations until the budget is
spent; pykan runs its seed pipeline (fit with lamb=0.01, lamb_entropy=10, prune, refine(10), fit, auto_symbolic,
fit) to the end, which has no budget to give, and its time is reported. Each run gets one CPU thread; ``--jobs``
runs that many at once.

A formula counts as exact when sympy simplifies its difference from the truth to 0, or when its RMSE on 2000 fresh
points (seed 2), divided by the standard deviation of y there, is below 1e-6.

Results are kept per (equation, method) in a JSON-lines file, so a stopped run resumes where it stopped (``--fresh``
starts over); the markdown table is written from that file. The equations run in a fixed shuffled order, so that a
partial run samples every family alike, and ``--shard i/k`` splits them between processes.

    python benchmarks/bench_feynman.py                       # all 120, writes benchmarks/results/feynman.md
    python benchmarks/bench_feynman.py --quick               # 10 equations (kanlab.feynman.QUICK), 10 s each
    python benchmarks/bench_feynman.py --methods kanlab --equations I.12.1 I.14.4
    python benchmarks/bench_feynman.py --quick --methods kanlab --candidates 2 --budget 600   # the test's run
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import multiprocessing as mp
import os
import platform
import random
import signal
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import sympy

RESULTS = Path(__file__).parent / "results"
METHODS = ("kanlab", "pykan", "gplearn")
EXACT_REL = 1e-6
FRESH_ROWS = 2000


# ---------------------------------------------------------------- scoring
def relative_rmse(pred: np.ndarray, y: np.ndarray) -> float:
    """RMSE / std(y); inf where the prediction is not finite."""
    pred = np.broadcast_to(np.asarray(pred, dtype=float), y.shape)
    if not np.isfinite(pred).all():
        return math.inf
    return float(np.sqrt(np.mean((pred - y) ** 2)) / max(float(np.std(y)), 1e-300))


class _TooSlow(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float, error: Exception):
    """Raise ``error`` in the block after ``seconds`` (rounded up to whole seconds). SIGALRM: main thread only."""
    def raise_it(*_):
        raise error

    previous = signal.signal(signal.SIGALRM, raise_it)
    signal.alarm(max(1, math.ceil(seconds)))
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def symbolically_equal(found: sympy.Expr, truth: sympy.Expr, max_ops: int = 80, seconds: int = 20) -> bool:
    """Whether sympy simplifies found - truth to 0, given at most ``seconds`` (simplify can take hours) and only
    for formulas of at most ``max_ops`` operations. The time limit uses SIGALRM: call it from the main thread."""
    if found is None or sympy.count_ops(found) > max_ops:
        return False
    try:
        with _time_limit(seconds, _TooSlow()):
            return sympy.simplify(found - truth) == 0
    except (TypeError, ValueError, RecursionError, ZeroDivisionError, _TooSlow):
        return False


def score(eq, expr: sympy.Expr | None, predict) -> dict:
    """exact / symbolic / rel (fresh points) for a method's formula and its predict(x (N, n)) -> (N,)."""
    x, y = eq.sample(FRESH_ROWS, seed=2)
    x, y = x.numpy(), y.numpy()[:, 0]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            rel = relative_rmse(predict(x), y)
        except (ValueError, TypeError, ZeroDivisionError, OverflowError, RuntimeError):
            rel = math.inf
    sym = symbolically_equal(expr, eq.expr) if expr is not None else False
    return {"symbolic": bool(sym), "rel": rel, "exact": bool(sym or rel < EXACT_REL)}


# ---------------------------------------------------------------- the three methods
def run_kanlab(eq, x, y, budget: float, max_candidates: int | None = None) -> tuple[sympy.Expr, object]:
    from kanlab import discover

    r = discover(x, y[:, 0], feature_names=[s.name for s in eq.variables], time_budget=budget,
                 max_candidates=max_candidates)
    # discover's symbols carry assumptions from the data; the truth's carry them from the ranges
    expr = r.sympy().xreplace({s: t for s, t in zip(r.best.symbols, eq.variables)})
    return expr, r.predict


@contextlib.contextmanager
def _pykan_sandbox():
    """pykan writes ./model and prints: run it in a temporary folder, quietly."""
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        os.chdir(tmp)
        try:
            yield
        finally:
            os.chdir(cwd)


def run_pykan(eq, x, y, budget: float, max_candidates: int | None = None) -> tuple[sympy.Expr, object]:
    import torch
    from kan import KAN as PyKAN  # bench dependency

    xv, yv = eq.sample(len(x), seed=1)
    torch.set_default_dtype(torch.float64)
    data = {"train_input": torch.tensor(x), "train_label": torch.tensor(y), "test_input": xv, "test_label": yv}
    with _pykan_sandbox():
        model = PyKAN(width=[eq.n_var, 5, 1], grid=5, k=3, seed=0)
        model.fit(data, opt="LBFGS", steps=50, lamb=0.01, lamb_entropy=10.0)
        model = model.prune()
        model.fit(data, opt="LBFGS", steps=50)
        model = model.refine(10)
        model.fit(data, opt="LBFGS", steps=50)
        model.auto_symbolic()
        model.fit(data, opt="LBFGS", steps=50)
        formula = model.symbolic_formula()[0][0]
    names = {sympy.Symbol(f"x_{i + 1}"): s for i, s in enumerate(eq.variables)}
    expr = sympy.sympify(formula).xreplace(names)
    fn = sympy.lambdify(list(eq.variables), expr, "numpy")
    return expr, lambda xs: fn(*xs.T)


_GP_SYMPY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
             "div": lambda a, b: a / b, "sqrt": lambda a: sympy.sqrt(sympy.Abs(a)),
             "log": lambda a: sympy.log(sympy.Abs(a)), "sin": sympy.sin, "cos": sympy.cos, "neg": lambda a: -a,
             "inv": lambda a: 1 / a}


def run_gplearn(eq, x, y, budget: float, max_candidates: int | None = None) -> tuple[sympy.Expr, object]:
    from gplearn.genetic import SymbolicRegressor  # bench dependency

    t0 = time.monotonic()
    est = SymbolicRegressor(population_size=1000, generations=1, function_set=tuple(_GP_SYMPY), warm_start=True,
                            parsimony_coefficient=0.001, random_state=0, n_jobs=1)
    while True:
        est.fit(x, y[:, 0])
        if time.monotonic() - t0 > budget * (est.generations + 1) / est.generations or est.generations >= 200:
            break  # the next generation would overrun the budget
        est.set_params(generations=est.generations + 1)
    local = {f"X{i}": s for i, s in enumerate(eq.variables)} | _GP_SYMPY
    try:  # gplearn's protected div/log/sqrt agree with these where the formula is exact
        expr = sympy.sympify(str(est._program), locals=local)
    except (sympy.SympifyError, TypeError, ValueError):
        expr = None
    return expr, est.predict


RUNNERS = {"kanlab": run_kanlab, "pykan": run_pykan, "gplearn": run_gplearn}
# pykan's seed pipeline has fixed step counts and no time budget (measured: 834 s on Goldstein 3.55, one thread);
# every run is stopped at CAP times the budget and counts as not exact (kanlab and gplearn stop themselves)
CAP = 2.0


def run_one(task: tuple[str, str, float, int | None, int]) -> dict:
    """One (equation, method, budget, kanlab's max_candidates, rows): the formula found, exact or not, the relative
    error and the seconds."""
    name, method, budget, max_candidates, rows = task
    import torch

    torch.set_num_threads(1)
    from kanlab.feynman import get_equation

    eq = get_equation(name)
    x, y = (t.numpy() for t in eq.sample(rows, seed=0))
    t0 = time.monotonic()
    row = {"equation": name, "method": method, "budget": budget, "max_candidates": max_candidates, "rows": rows}
    over = TimeoutError(f"stopped at {CAP:g} x the budget ({CAP * budget:g} s)")
    try:
        with warnings.catch_warnings(), _time_limit(CAP * budget, over):
            warnings.simplefilter("ignore")
            expr, predict = RUNNERS[method](eq, x, y, budget, max_candidates)
        row["seconds"] = time.monotonic() - t0
        row.update(score(eq, expr, predict), formula=str(expr))
    except Exception as err:  # a peer crashing (pykan's lstsq, say) is a result: not exact
        row.update(seconds=time.monotonic() - t0, exact=False, symbolic=False, rel=math.inf,
                   formula=None, error=f"{type(err).__name__}: {str(err)[:200]}")
    return row


# ---------------------------------------------------------------- the report
def family(name: str) -> str:
    return name.split(".")[0] if name.split(".")[0] in ("I", "II", "III") else "bonus"


KINDS = ("product of powers", "product of functions of one input", "function of a combination of inputs",
         "sum inside a product or power", "sum or other")


def kind(expr) -> str:
    """The shape of a true formula, checked in the order of KINDS: a product of numbers and powers of inputs; a
    product whose every factor depends on one input at most; a function (sin, exp, ...) of two or more inputs
    anywhere; a product or power with a sum of two or more inputs inside; anything else (sums at the top)."""
    factors = sympy.Mul.make_args(expr)
    if all(f.is_number or f.is_Symbol or (f.is_Pow and f.base.is_Symbol and f.exp.is_number) for f in factors):
        return KINDS[0]
    if all(len(f.free_symbols) <= 1 for f in factors):
        return KINDS[1]
    if any(len(a.free_symbols) >= 2 for fn in expr.atoms(sympy.Function) for a in fn.args):
        return KINDS[2]
    if (expr.is_Mul or expr.is_Pow) and any(len(a.free_symbols) >= 2 for a in expr.atoms(sympy.Add)):
        return KINDS[3]
    return KINDS[4]


def inputs_class(n: int) -> str:
    return "1-2 inputs" if n <= 2 else "3-4 inputs" if n <= 4 else "5+ inputs"


def _breakdown(by: dict, done: list[str], methods: list[str]) -> list[str]:
    """Exact counts per kind of formula and per number of inputs: one row each, one column per method."""
    from kanlab.feynman import get_equation

    groups: dict[str, list[str]] = {}
    for n in done:
        eq = get_equation(n)
        groups.setdefault(kind(eq.expr), []).append(n)
        groups.setdefault(inputs_class(eq.n_var), []).append(n)
    order = [k for k in (*KINDS, "1-2 inputs", "3-4 inputs", "5+ inputs") if k in groups]
    lines = ["", "By the shape of the true formula (`kind()` in this script) and by the number of inputs:", "",
             "| equations | count | " + " | ".join(f"{m} exact" for m in methods) + " |",
             "|---" * (2 + len(methods)) + "|"]
    for k in order:
        counts = [str(sum(by[(n, m)]["exact"] for n in groups[k])) for m in methods]
        lines.append(f"| {k} | {len(groups[k])} | " + " | ".join(counts) + " |")
    return lines


def report(rows: list[dict], names: list[str], methods: list[str], budget: float, jobs: int, n_rows: int,
           flags: str = "") -> str:
    from kanlab.feynman import get_equation

    by = {(r["equation"], r["method"]): r for r in rows}
    done = [n for n in names if all((n, m) in by for m in methods)]
    lines = ["# The Feynman benchmark", "",
             f"`python benchmarks/bench_feynman.py{flags} --budget {budget:g}"
             f"{' --jobs ' + str(jobs) if jobs != 1 else ''}`"
             f": {len(done)} of {len(names)} equations, {n_rows} rows each (kanlab.feynman's ranges, seed 0); "
             f"budget {budget:g} s per equation and method on one CPU thread ({jobs} at once); "
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores.", "",
             f"Exact: sympy simplifies the difference to 0, or RMSE / std(y) on {FRESH_ROWS} fresh points is below "
             f"{EXACT_REL:g}. pykan runs its seed pipeline, which has no time budget; every run is stopped at "
             f"{CAP:g} x the budget and then counts as not exact.", "",
             "| method | exact | rate | " + " | ".join(f"{f} exact" for f in ("I", "II", "III", "bonus"))
             + " | median RMSE/std | median seconds |", "|---|---|---|---|---|---|---|---|---|"]
    for m in methods:
        rs = [by[(n, m)] for n in done]
        if not rs:
            continue
        fam = []
        for f in ("I", "II", "III", "bonus"):
            sub = [r for r in rs if family(r["equation"]) == f]
            fam.append(f"{sum(r['exact'] for r in sub)}/{len(sub)}")
        ex = sum(r["exact"] for r in rs)
        lines.append(f"| {m} | {ex}/{len(rs)} | {100 * ex / len(rs):.0f}% | " + " | ".join(fam) +
                     f" | {statistics.median(r['rel'] for r in rs):.1e} | "
                     f"{statistics.median(r['seconds'] for r in rs):.0f} |")
    lines += _breakdown(by, done, methods)
    lines += ["", "| # | equation | truth | " + " | ".join(f"{m} exact | {m} RMSE/std" for m in methods)
              + " | kanlab formula |", "|---" * (4 + 2 * len(methods)) + "|"]
    for n in done:
        eq = get_equation(n)
        cells = []
        for m in methods:
            r = by[(n, m)]
            cells += ["yes" if r["exact"] else ("crash" if r.get("error") else "no"), f"{r['rel']:.1e}"]
        kf = by.get((n, "kanlab"), {}).get("formula") or "-"
        kf = kf if len(kf) <= 120 else kf[:117] + "..."
        lines.append(f"| {eq.number} | {n} | `{eq.expr}` | " + " | ".join(cells) + f" | `{kf}` |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from kanlab.feynman import EQUATIONS, QUICK

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--equations", nargs="*", help="names (default: all 120; with --quick, kanlab.feynman.QUICK)")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated, from kanlab,pykan,gplearn")
    ap.add_argument("--budget", type=float, help="seconds per equation and method (default 60; 10 with --quick)")
    ap.add_argument("--candidates", type=int, help="kanlab runs at most this many candidates (a budget that does "
                    "not depend on the machine's speed; for tests)")
    ap.add_argument("--rows", type=int, default=1000, help="training rows per equation")
    ap.add_argument("--jobs", type=int, default=1, help="runs at once, one thread each")
    ap.add_argument("--quick", action="store_true", help="the ten QUICK equations, 10 s each, no files written")
    ap.add_argument("--cache", type=Path, help="JSON-lines results (default results/feynman.jsonl)")
    ap.add_argument("--out", type=Path, help="the markdown report (default results/feynman.md)")
    ap.add_argument("--shard", default="0/1", help="i/k: run only every k-th equation from the i-th, in the run "
                    "order (for several processes sharing one cache)")
    ap.add_argument("--report-only", action="store_true", help="write the report from the cache, run nothing")
    ap.add_argument("--fresh", action="store_true", help="ignore the cached results")
    a = ap.parse_args(argv)
    names = a.equations or (list(QUICK) if a.quick else list(EQUATIONS))
    methods = [m for m in a.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS] + [n for n in names if n not in EQUATIONS]
    if unknown:
        ap.error(f"unknown method or equation: {unknown}")
    budget = a.budget or (10.0 if a.quick else 60.0)
    cache = a.cache or (None if a.quick else RESULTS / "feynman.jsonl")
    out = a.out or (None if a.quick else RESULTS / "feynman.md")
    rows = []
    if cache is not None and cache.exists() and not a.fresh:
        rows = [r for r in map(json.loads, cache.read_text().splitlines())
                if (r["budget"], r["max_candidates"], r["rows"]) == (budget, a.candidates, a.rows)]
    have = {(r["equation"], r["method"]) for r in rows}
    # a fixed shuffle: a run stopped part-way has sampled every family alike
    order = sorted(names, key=lambda n: random.Random(f"{n}").random())
    i, k = (int(v) for v in a.shard.split("/"))
    tasks = [(n, m, budget, a.candidates, a.rows) for n in order[i::k] for m in methods if (n, m) not in have]
    if a.report_only:
        tasks = []
    if cache is not None and a.fresh:
        cache.write_text("")
    print(f"{len(tasks)} runs to do ({len(have)} cached), budget {budget:g} s, {a.jobs} at once", flush=True)
    ctx = mp.get_context("spawn")  # torch is not fork-safe once used
    with ctx.Pool(a.jobs, maxtasksperchild=1) if a.jobs > 1 else contextlib.nullcontext() as pool:
        results = pool.imap_unordered(run_one, tasks) if pool is not None else map(run_one, tasks)
        for row in results:
            rows.append(row)
            print(f"{row['equation']:34s} {row['method']:8s} {'exact' if row['exact'] else '-':5s} "
                  f"{row['rel']:.1e} {row['seconds']:5.0f}s  {row.get('formula') or row.get('error')}", flush=True)
            if cache is not None:
                with cache.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")
    flags = (" --quick" if a.quick else "") + (f" --candidates {a.candidates}" if a.candidates else "") + \
        (f" --rows {a.rows}" if a.rows != 1000 else "") + \
        (f" --methods {a.methods}" if methods != list(METHODS) else "")
    text = report(rows, names, methods, budget, a.jobs, a.rows, flags)
    if out is not None:
        out.write_text(text)
    print(text.split("\n\n| #")[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
