"""The search behind :func:`kanlab.discover`: a list of candidate pipelines, each a KAN trained in the scaled space
(:class:`~kanlab.discovery.data.Scaling`), snapped to symbolic functions and written back as a formula.

Every candidate is one pipeline: the seed pipeline of the KAN paper (train sparse, prune, train, refine the grid,
train, snap every edge, train), or without the sparse stage and pruning for a one-layer KAN; in the data's own
space or in log space. Each gives up to three formulas: as found, with its constants refitted by least squares
(:func:`~kanlab.discovery.formulas.polish`), and with them snapped to exact numbers. The choice among all formulas
is made on held-out validation rows only.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import sympy
import torch
from sympy.functions.elementary.hyperbolic import HyperbolicFunction, InverseHyperbolicFunction
from sympy.functions.elementary.trigonometric import InverseTrigonometricFunction, TrigonometricFunction
from tqdm.auto import tqdm

from ..model import KAN
from ..symbolic.formula import snap_constants
from .compose import compositions
from .data import Data, Scaling, log_space_applies
from .formulas import Discovery, Formula, complexity, evaluate, nrmse, pareto_front, pick_best, polish
from .timebox import TimeUp, call_before

log = logging.getLogger(__name__)

LIB = ("x", "x^2", "x^3", "1/x", "1/x^2", "sqrt", "exp", "log", "sin", "tanh", "gaussian")
# snapped first: the powers alone, since with the whole library c*sin(a*x + b) + d often wins a near tie with x^2
POWERS = ("x", "x^2", "x^3", "1/x", "1/x^2", "1/x^3", "sqrt", "1/sqrt(x)")
_FAILURES = (ValueError, RuntimeError, ArithmeticError, np.linalg.LinAlgError, TypeError)
# a refit of the constants that takes longer than this has many constants and rarely ends exact; it would spend
# the budget of the candidates after it (measured: 34 s of 60 on one 30-constant formula of Weinberg 15.2.1)
POLISH_SECONDS = 5.0
# the split candidate (parts searched alone) may take this share of the time left, so that the pruned KANs after it
# still run; when the surrogate does not separate it ends after the surrogate's fit
SPLIT_SHARE = 0.7
# the compositions candidate's brute-force search may take this share of the time left
COMPOSE_SHARE = 0.5
# each of _tidy's two steps (expand, simplify) may take this long; past it the formula is kept as it was (sympy's
# expand rebuilds exp(a*log(x)*...), which runs logcombine; its sign queries ran past twice the budget on II.38.14)
TIDY_SECONDS = 5.0
_SIMPLIFY_MAX_OPS = 20  # sympy.simplify can take minutes (measured: > 1 min on a 40-op product); larger are expanded
# nor with trigonometric functions: its trig rules (fu's TR8) ran for minutes on a 20-op formula of the relativistic
# aberration, twice discover's budget; nor with logarithms: logcombine's sign queries (real_roots) ran past twice
# the budget on a part of Feynman III.15.27 split by separability. Those formulas are only expanded
_NO_SIMPLIFY = (TrigonometricFunction, InverseTrigonometricFunction, HyperbolicFunction, InverseHyperbolicFunction,
                sympy.log)


@dataclass(frozen=True)
class Candidate:
    """One pipeline setting. hidden=0: a one-layer KAN [n, 1]; else [n, hidden, 1] trained sparse and pruned.
    mult: instead, one multiplication node of n subnodes, [n, [0, 1], 1] (KAN 2.0), subnode i fed by input i only,
    so that y = g(f_1(x_1) * ... * f_n(x_n)). grids: the grid sizes, refined in turn. steps: LBFGS steps per
    training stage. split: instead, fit a surrogate KAN, and where two inputs enter only through their ratio,
    product, difference or sum, search the smaller problem in that variable; else split the inputs where the
    surrogate separates, search each part alone and join the parts (:mod:`kanlab.discovery.split`); hidden, mult
    and grids do not apply. compose: for one input only, no KAN: the two-level compositions of
    :mod:`kanlab.discovery.compose`."""

    hidden: int = 0
    mult: bool = False
    compose: bool = False
    log_space: bool = False
    grids: tuple[int, ...] = (5, 10)
    seed: int = 0
    steps: int = 50
    split: bool = False

    def __str__(self) -> str:
        if self.compose:
            return "compositions g(h(x)), brute force"
        if self.split:
            return f"split by symmetry or separability, {'log' if self.log_space else 'direct'}, seed {self.seed}"
        shape = ("[n,[0,1],1] product" if self.mult else "[n,1]" if self.hidden == 0
                 else f"[n,{self.hidden},1] pruned")
        grids = "->".join(map(str, self.grids))
        return f"{shape}, {'log' if self.log_space else 'direct'}, grid {grids}, seed {self.seed}"


def default_candidates(data: Data, seed: int = 0, split: bool = True, split_from: int = 3) -> list[Candidate]:
    """The default search, cheapest first: for one input, its two-level compositions; a product of one function
    per input (KAN 2.0), a one-layer KAN (a sum of one function per input) and a pruned [n, 5, 1], in the data's
    space and, where every value keeps its sign, in log space (where products of powers become sums), with
    ``split_from`` or more inputs (and ``split``) the split by symmetry or separability before the pruned ones;
    then all but the compositions and the split again with the next seed and a finer grid schedule."""
    n = data.x.shape[1]
    logs = log_space_applies(data.x, data.y)
    out = [Candidate(compose=True, seed=seed)] if n == 1 else []
    for grids, s in (((5, 10), seed), ((3, 10, 20), seed + 1)):
        if n > 1:
            out.append(Candidate(mult=True, grids=grids, seed=s))
        out.append(Candidate(grids=grids, seed=s))
        if logs:
            out.append(Candidate(log_space=True, grids=grids, seed=s))
        if s == seed and split and n >= split_from:
            out.append(Candidate(split=True, log_space=logs, seed=seed))
        out.append(Candidate(hidden=5, grids=grids, seed=s))
        if logs:
            out.append(Candidate(hidden=5, log_space=True, grids=grids, seed=s))
    return out


class _OutOfTime(Exception):
    pass


def _clock(deadline: float):
    """A fit callback (also called directly between stages) that stops the candidate past the deadline."""
    def check_time(*_):
        if time.monotonic() > deadline:
            raise _OutOfTime

    return check_time


def _tidy(expr: sympy.Expr, log_space: bool, deadline: float = math.inf) -> sympy.Expr:
    """Expand (and in log space gather powers) so that equal formulas look alike; simplify when small. Each step
    stops after TIDY_SECONDS and then keeps the formula it was given; past ``deadline``, _OutOfTime."""
    def expand(e: sympy.Expr) -> sympy.Expr:
        if log_space:
            e = sympy.powsimp(sympy.expand_log(e, force=True), force=True)
        return sympy.expand(e, power_exp=False, power_base=False, log=False, deep=True)

    def simplify(e: sympy.Expr) -> sympy.Expr:
        return sympy.simplify(e) if sympy.count_ops(e) <= _SIMPLIFY_MAX_OPS and not e.has(*_NO_SIMPLIFY) else e

    for step in (expand, simplify):
        try:
            expr = call_before(min(deadline, time.monotonic() + TIDY_SECONDS), step, expr)
        except TimeUp:
            if time.monotonic() > deadline:
                raise _OutOfTime from None
            log.info("discover: sympy's %s ran past %g s; the formula is kept as it was", step.__name__,
                     TIDY_SECONDS)
    return expr


def _train(cand: Candidate, x: torch.Tensor, y: torch.Tensor, deadline: float) -> KAN:
    """The numeric KAN for scaled training data x (N, n_var), y (N, 1); raises _OutOfTime past the deadline."""
    data = {"train_input": x, "train_label": y, "test_input": x, "test_label": y}
    check_time = _clock(deadline)
    n = x.shape[1]
    kw = dict(grid=cand.grids[0], k=3, seed=cand.seed, dtype=torch.float64)
    # the product's range moves a lot while training starts; grid updates chasing it stall LBFGS (measured: 0.2
    # against 6e-5 training loss for k*x^2 in 150 steps), so a product keeps its grids
    train = dict(steps=cand.steps, log=0, callbacks=[check_time], update_grid=not cand.mult)
    if cand.mult:
        model = KAN(width=[n, [0, 1], 1], mult_arity=n, **kw)
        for i in range(n):  # subnode j hears input j only
            for j in range(n):
                if i != j:
                    model = model.remove_edge(0, i, j)
    else:
        model = KAN(width=[n, 1] if cand.hidden == 0 else [n, cand.hidden, 1], **kw)
    if cand.hidden:
        model.fit(data, lamb=0.01, lamb_entropy=10.0, **train)
        model = model.prune()
    model.fit(data, **train)
    for g in cand.grids[1:]:
        model = model.refine(g)
        model.fit(data, **train)
    return model


def _snap(model: KAN, cand: Candidate, x: torch.Tensor, y: torch.Tensor, lib, deadline: float
          ) -> tuple[sympy.Expr, list[sympy.Symbol]]:
    """A copy of the numeric model snapped to ``lib`` and retrained: its formula in the scaled inputs."""
    check_time = _clock(deadline)
    data = {"train_input": x, "train_label": y, "test_input": x, "test_label": y}
    snapped = copy.deepcopy(model)
    snapped.auto_symbolic(lib=list(lib))
    check_time()
    # a short refit: polish() refits the formula's constants by least squares afterwards
    snapped.fit(data, steps=min(cand.steps, 20), log=0, update_grid=False, callbacks=[check_time])
    (expr,), z = snapped.symbolic_formula()
    return expr, list(z)


def _finish(found: sympy.Expr, data: Data, train: np.ndarray, val: np.ndarray, y_std: float, deadline: float,
            label: str, width: tuple[int, ...], seen: set) -> list[Formula]:
    """A found formula, polished and snapped: each new one scored on the validation rows (``seen`` grows)."""
    polished = polish(found, data.symbols, data.x[train], data.y[train],
                      min(deadline, time.monotonic() + POLISH_SECONDS))
    snapped = polished
    for _ in range(3):  # snapping exposes cancellations (a*x/(a*y) -> 0.9999999*x/y), which snap again
        snapped, before = _tidy(snap_constants(snapped), False, deadline), snapped
        if snapped == before:
            break
    out = []
    for stage, e in (("found", found), ("polished", polished), ("snapped", snapped)):
        if e in seen or not e.free_symbols <= set(data.symbols):
            continue
        seen.add(e)
        err = nrmse(evaluate(e, data.symbols, data.x[val]), data.y[val], y_std)
        out.append(Formula(e, data.symbols, complexity(e), err, f"{label}: {stage}", width))
    return out


def run_candidate(cand: Candidate, data: Data, train: np.ndarray, val: np.ndarray, y_std: float, libs,
                  deadline: float, tolerance: float = 1.5) -> list[Formula]:
    """The formulas one candidate gives, per library (as found, polished, snapped), scored on the validation rows."""
    x, y = data.x[train], data.y[train]
    scaling = Scaling.fit(x, y, cand.log_space)
    xt = torch.tensor(scaling.x(x), dtype=torch.float64)
    yt = torch.tensor(scaling.y(y), dtype=torch.float64)[:, None]
    if cand.split:
        return _run_split(cand, data, train, val, y_std, libs, deadline, tolerance, scaling, xt, yt)
    if cand.compose:
        return _run_compose(cand, data, train, val, y_std, deadline)
    model = _train(cand, xt, yt, deadline)
    width = tuple(int(w) for w in model.width)
    out, seen = [], set()
    for k, lib in enumerate(libs):
        name = {POWERS: "powers", LIB: "library"}.get(tuple(lib), f"lib {k + 1}")
        expr, z = _snap(model, cand, xt, yt, lib, deadline)
        try:  # in log space this builds exp(... log(x) ...), which runs logcombine (see TIDY_SECONDS)
            unscaled = call_before(deadline, scaling.unscale, expr, z, data.symbols)
        except TimeUp:
            raise _OutOfTime from None
        found = _tidy(unscaled, cand.log_space, deadline)
        out += _finish(found, data, train, val, y_std, deadline, f"{cand}, {name}", width, seen)
    return out


def _run_compose(cand: Candidate, data: Data, train: np.ndarray, val: np.ndarray, y_std: float, deadline: float
                 ) -> list[Formula]:
    """The compositions candidate: the best few g(h(x)) for the one input, polished, snapped and scored."""
    if data.x.shape[1] != 1:
        raise ValueError(f"the compositions candidate takes one input, got {data.x.shape[1]}")
    out, seen = [], set()
    # the search stops at COMPOSE_SHARE of the time left: the formulas' polish and snap need the rest
    search_end = time.monotonic() + COMPOSE_SHARE * (deadline - time.monotonic())
    for e in compositions(data.x[train, 0], data.y[train], data.symbols[0], search_end):
        out += _finish(_tidy(e, False, deadline), data, train, val, y_std, deadline, str(cand), (1, 1), seen)
    return out


def _run_split(cand: Candidate, data: Data, train: np.ndarray, val: np.ndarray, y_std: float, libs, deadline: float,
               tolerance: float, scaling: Scaling, xt: torch.Tensor, yt: torch.Tensor) -> list[Formula]:
    """The split candidate (:mod:`kanlab.discovery.split`): a problem reduced by symmetries is searched by the
    whole default search, the parts of a separable one by its cheap first-round candidates (product, sum, sum in
    log space); the formulas, in the user's inputs, are polished, snapped and scored like any other."""
    from .split import search_parts  # split builds on this module's search

    def search(part: Data, budget: float, whole: bool) -> Discovery:
        # a reduced problem of two inputs, m0 and v/c in m0 / sqrt(1 - (v/c)^2), splits into one-input parts
        cands = default_candidates(part, cand.seed, split=whole, split_from=2)
        if not whole:
            cands = [c for c in cands if c.seed == cand.seed and not c.hidden]
        return run_search(part, cands, time_budget=max(budget, 1e-3), val_fraction=0.25, seed=cand.seed,
                          libs=libs, tolerance=tolerance, progress=False)

    deadline = min(deadline, time.monotonic() + SPLIT_SHARE * (deadline - time.monotonic()))
    check_time = _clock(deadline)
    result = search_parts(data, train, scaling, xt, yt, cand.seed, cand.steps, deadline, check_time, search)
    if result is None:
        return []
    exprs, width = result
    out, seen = [], set()
    for e, how in exprs:
        check_time()
        out += _finish(_tidy(e, False, deadline), data, train, val, y_std, deadline, f"{cand}: {how}", width, seen)
    return out


def constant_formula(data: Data, train: np.ndarray, val: np.ndarray, y_std: float) -> Formula:
    """The training mean as a formula (complexity 1): the front's simplest point, and the answer for a constant y."""
    mean = float(data.y[train].mean())
    c = snap_constants(sympy.Float(mean)) if mean != 0 else sympy.Integer(0)
    err = nrmse(np.full(int(val.sum()), float(c)), data.y[val], y_std)
    return Formula(c, data.symbols, 1, err, "constant: training mean")


def run_search(data: Data, candidates: list[Candidate], *, time_budget: float | None, val_fraction: float, seed: int,
           libs, tolerance: float, progress: bool) -> Discovery:
    """Run ``candidates`` in order until the time budget is spent; return the :class:`Discovery`."""
    t0 = time.monotonic()
    deadline = math.inf if time_budget is None else t0 + time_budget
    n = len(data.y)
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(val_fraction * n)))
    val = np.zeros(n, dtype=bool)
    val[order[:n_val]] = True
    train = ~val
    spread = float(np.std(data.y[val]))
    y_std = spread if spread > 0 else max(abs(float(np.mean(data.y))), 1.0)
    formulas = [constant_formula(data, train, val, y_std)]
    failures, skipped = [], []
    if float(np.std(data.y)) <= 1e-12 * max(abs(float(np.mean(data.y))), 1e-300):
        log.info("discover: the target is constant; no KAN trained")
        skipped = [str(c) for c in candidates]
        candidates = []
    bar = tqdm(candidates, disable=not progress, desc="discover", dynamic_ncols=True)
    for i, cand in enumerate(bar):
        if time.monotonic() > deadline:
            skipped += [str(c) for c in candidates[i:]]
            break
        try:
            found = run_candidate(cand, data, train, val, y_std, libs, deadline, tolerance)
        except _OutOfTime:
            skipped += [str(c) for c in candidates[i:]]
            break
        except _FAILURES as err:
            log.info("discover: candidate %s failed: %s", cand, err)
            failures.append((str(cand), f"{type(err).__name__}: {err}"))
            continue
        formulas += found
        best_now = min(f.nrmse for f in formulas)
        bar.set_postfix_str(f"best NRMSE {best_now:.1e}")
        log.info("discover: %s -> %s", cand, ", ".join(f"{f.nrmse:.2e}" for f in found))
    bar.close()
    if skipped:
        log.info("discover: the time budget left out %d candidates", len(skipped))
    front = pareto_front(formulas)
    return Discovery(formulas, front, pick_best(front, tolerance), y_std, time.monotonic() - t0, failures, skipped)
