"""Divide and conquer for :func:`kanlab.discover`, in the way of AI Feynman: a surrogate KAN fitted to the data is
tested for symmetries first (:mod:`kanlab.discovery.symmetry`): when f depends on two inputs only through their
ratio, product, difference or sum, the pair is replaced by that variable and the smaller problem is searched by the
whole default search. Otherwise it is tested for separability (:mod:`kanlab.hypothesis`); when its inputs split into
groups, f = g_1(x_G1) + ... or
f = g_1(x_G1) * ..., each part is searched alone, on the surrogate's values with the other inputs held at a
reference point, and the parts' formulas are joined and their constants refitted on the real data.

A sum of products, x1*y1 + x2*y2 + x3*y3 (Feynman I.11.19), is out of reach of one KAN of the default shapes in a
minute; split into three pairs, each part is one product, which the product candidate finds. The surrogate only
proposes the structure: every joined formula is refitted and scored on the user's rows, like every other formula.
A part is searched by the cheap candidates only, so a part that needs more (the (v, c) part of m0/sqrt(1 - v^2/c^2)
in Feynman I.10.7 does) stays approximate.
"""

from __future__ import annotations

import itertools
import logging
import math
import time

import numpy as np
import sympy
import torch

from ..hypothesis import detect_separability
from ..model import KAN
from .data import Data, Scaling, one_sign
from .formulas import Discovery
from .symmetry import SCORE_ROWS as SYMMETRY_ROWS
from .symmetry import reduce, reduced_data, user_gradient

log = logging.getLogger(__name__)

# the surrogate's Hessian scores of inputs that do not interact measured 0.002 to 0.007, those of inputs that do
# from 0.021 (Feynman I.10.7, I.11.19, I.13.12, I.15.3x, with the surrogate below): a split is proposed between
THRESHOLD = 0.02
SCORE_ROWS = 300  # the rows the separability scores are taken on (the median over them is the score)
PARTS_SHARE = 0.7  # of the time left, what the parts' searches get (the rest: refitting the joined formulas)
OPTIONS = 2  # formulas per part that are joined: its best and its most accurate


def _surrogate(x: torch.Tensor, y: torch.Tensor, seed: int, steps: int, check_time) -> KAN:
    """A dense numeric KAN [n, min(2n + 1, 9), 1] fitted to scaled data x (N, n), y (N, 1), grid 5 -> 10 -> 20,
    keeping the grid whose fit is best. Its grids stay put (the inputs already span [-1, 1]): on Feynman I.10.7
    grid updates took one fit at grid 20 from 2e-3 to 0.14 training RMSE."""
    n = x.shape[1]
    data = {"train_input": x, "train_label": y, "test_input": x, "test_label": y}

    def fitted(model: KAN) -> tuple[float, KAN]:
        model.fit(data, steps=steps, log=0, update_grid=False, callbacks=[check_time])
        with torch.no_grad():
            rmse = float(((model(x) - y) ** 2).mean().sqrt())
        return (rmse if math.isfinite(rmse) else math.inf), model

    best = fitted(KAN(width=[n, min(2 * n + 1, 9), 1], grid=5, k=3, seed=seed, dtype=torch.float64))
    for g in (10, 20):
        finer = fitted(best[1].refine(g))
        if not finer[0] < best[0]:
            break
        best = finer
    return best[1]


def split_groups(model: KAN, x: torch.Tensor, bias: float | None) -> tuple[str, list[list[int]]] | None:
    """How the surrogate separates on the scaled rows x (N, n): ('add', groups) for s = sum of parts, ('mul',
    groups) for s + bias = product of parts (only with a bias, the target's mean over its std, when the target
    keeps one sign), or None when the inputs form one group."""
    sample = x[:SCORE_ROWS]
    groups = detect_separability(model, sample, "add", THRESHOLD).groups
    if len(groups) > 1:
        return "add", groups
    if bias is not None:
        groups = detect_separability(model, sample, "mul", THRESHOLD, bias=bias).groups
        if len(groups) > 1:
            return "mul", groups
    return None


def part_targets(model: KAN, x: torch.Tensor, scaling: Scaling, mode: str, groups: list[list[int]]
                 ) -> tuple[str, float, list[np.ndarray]]:
    """The parts in the user's units: (how they join, 'add' or 'mul'; the constant they join with; one (N,) array
    per group, its part at the rows of x with the other inputs at the reference point, the inputs' median).

    In the scaled space the surrogate s gives t = y_mean + y_std * s (t = y, or log|y| in log space). A sum of
    parts of s is a sum of parts of y, or in log space a product; a product of parts of s + y_mean / y_std is a
    product of parts of y."""
    ref = x.median(dim=0).values

    def at(group: list[int] | None) -> np.ndarray:
        z = ref.expand(x.shape[0], -1).clone()
        if group is not None:
            z[:, group] = x[:, group]
        with torch.no_grad():
            return model(z)[:, 0].numpy()

    s0 = float(at(None)[0])
    parts = [at(g) for g in groups]
    if mode == "add" and not scaling.log_space:
        return "add", scaling.y_mean + scaling.y_std * s0, [scaling.y_std * (p - s0) for p in parts]
    if mode == "add":
        return "mul", scaling.y_sign * math.exp(scaling.y_mean + scaling.y_std * s0), \
            [np.exp(scaling.y_std * (p - s0)) for p in parts]
    bias = scaling.y_mean / scaling.y_std
    return "mul", scaling.y_std * (s0 + bias), [(p + bias) / (s0 + bias) for p in parts]


def joined(how: str, constant: float, parts: list[sympy.Expr]) -> sympy.Expr:
    """constant + sum(parts) or constant * prod(parts), the constant as a Float that polish() refits."""
    c = sympy.Float(constant)
    return c + sympy.Add(*parts) if how == "add" else c * sympy.Mul(*parts)


def options(found: Discovery) -> list[sympy.Expr]:
    """A part's formulas to join: its best, then its most accurate if that differs."""
    out = [found.best.expr]
    most_accurate = min(found.front, key=lambda f: f.nrmse).expr
    if most_accurate != out[0]:
        out.append(most_accurate)
    return out[:OPTIONS]


def search_parts(data: Data, train: np.ndarray, scaling: Scaling, xt: torch.Tensor, yt: torch.Tensor, seed: int,
                 steps: int, deadline: float, check_time, search
                 ) -> tuple[list[tuple[sympy.Expr, str]], tuple[int, ...]] | None:
    """Fit the surrogate; reduce it by its symmetries and search the reduced problem, and unless that gave an exact
    formula, split it and search each part, with ``search(data, budget, whole)`` (a Discovery; ``whole``: the whole
    default search, else its cheap candidates). Return the formulas before their refit (in the user's inputs), each
    with how it was found ('symmetry' or 'separability'), and the surrogate's width; None when neither applies."""
    # the symmetry scores read the surrogate's gradient: with twice the steps the true symmetries of I.10.7 and
    # I.44.4 scored 0.017-0.034 instead of 0.029-0.05 (a one-off check, not in benchmarks/)
    model = _surrogate(xt, yt, seed, 2 * steps, check_time)
    width = tuple(int(w) for w in model.width)
    x = data.x[train]
    rows = slice(0, SYMMETRY_ROWS)
    out = []
    variables = reduce(user_gradient(model, xt[rows], x[rows], scaling), x[rows], x, data.symbols)
    if variables is not None:
        sub, back = reduced_data(variables, data.y[train])
        log.info("discover: the surrogate's symmetries leave %s", [str(v.expr) for v in variables])
        found = search(sub, PARTS_SHARE * (deadline - time.monotonic()), True)
        out = [(e.xreplace(back), "symmetry") for e in options(found)]
        if found.exact:
            return out, width
        # a near-symmetry scores low too (exp(u) - 1 ~ u for small u in Feynman III.14.14): the split gets the rest
    bias = None if scaling.log_space or not one_sign(data.y[train]) else scaling.y_mean / scaling.y_std
    split = split_groups(model, xt, bias)
    if split is None:
        log.info("discover: the surrogate does not separate")
        return (out, width) if out else None
    mode, groups = split
    how, constant, parts = part_targets(model, xt, scaling, mode, groups)
    log.info("discover: the surrogate separates (%s in its space) into %s", mode, groups)
    found = []
    parts_end = time.monotonic() + PARTS_SHARE * (deadline - time.monotonic())
    for i, (group, target) in enumerate(zip(groups, parts)):
        check_time()
        budget = (parts_end - time.monotonic()) * len(group) / sum(len(g) for g in groups[i:])
        sub = Data(x[:, group], target, tuple(data.symbols[j] for j in group))
        found.append(options(search(sub, budget, False)))
    out += [(joined(how, constant, list(choice)), "separability") for choice in itertools.product(*found)]
    return out, width
