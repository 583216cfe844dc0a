"""Symmetries for :func:`kanlab.discover`, in the way of AI Feynman: when the target depends on two inputs only
through their ratio, product, difference or sum, the pair is replaced by that one variable, and the smaller problem
is searched instead.

The test reads the gradient of the split candidate's surrogate KAN (:mod:`kanlab.discovery.split`) at the training
rows, taken with respect to the user's inputs. f depends on (a, b) only through

- a / b  when  a df/da + b df/db = 0  (f does not change when a and b are scaled together),
- a * b  when  a df/da - b df/db = 0,
- a - b  when  df/da + df/db = 0  (f does not change when a and b are shifted together),
- a + b  when  df/da - df/db = 0.

A pair's score is the median over rows of |u + v| / (|u| + |v|) for the two terms u, v above: 0 for an exact
symmetry, near 1 for none. The pairs are replaced greedily, the lowest score first, and the new variable is tested
again with the rest: m0/sqrt(1 - v^2/c^2) (Feynman I.10.7) becomes m0/sqrt(1 - u^2) with u = v/c, and
n_0 exp(-g m x/(k_b T)) (I.40.1) becomes n_0 exp(-u) with u = g m x/(k_b T). The surrogate only proposes the
variables: the reduced problem is searched on the user's own rows, and its formulas, written back in the user's
inputs, are refitted and scored like every other formula.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np
import sympy
import torch

from ..model import KAN
from .data import Data, Scaling, one_sign

log = logging.getLogger(__name__)

# On the surrogates of the Feynman equations (benchmarks/bench_symmetry.py, results/symmetry.md: 2+ inputs, 750
# rows, 100 steps), the pairs with an exact symmetry scored: 175 of 266 below 0.01, 194 below 0.03, 202 below 0.04;
# the pairs without one: 6 and 11 of 2832 below 0.03 and 0.04, all near-symmetries whose exact scores are as low
# (tanh(u) ~ u in II.35.21, exp(u) - 1 ~ u in III.14.14). The split candidate tries separability too when the
# reduced problem gives no exact formula
THRESHOLD = 0.04
# a variable whose gradient term is below this share of the largest one hardly moves f: pairing it proves nothing
MIN_INFLUENCE = 1e-3
SCORE_ROWS = 300  # the rows the scores are taken on (the median over them is the score)


@dataclass(frozen=True)
class Kind:
    """One symmetry: the new variable from (a, b), its derivative in a, and the two terms whose sum is 0."""

    name: str
    combine: Callable
    d_first: Callable  # d(new)/da, as a function of (a, b)
    terms: Callable  # (a, b, df/da, df/db) -> (u, v), with u + v = 0 under the symmetry
    divides: bool  # b must keep one sign (nonzero)


KINDS = (
    Kind("ratio", lambda a, b: a / b, lambda a, b: 1 / b, lambda a, b, ga, gb: (a * ga, b * gb), True),
    Kind("product", lambda a, b: a * b, lambda a, b: b, lambda a, b, ga, gb: (a * ga, -b * gb), False),
    Kind("difference", lambda a, b: a - b, lambda a, b: 1.0, lambda a, b, ga, gb: (ga, gb), False),
    Kind("sum", lambda a, b: a + b, lambda a, b: 1.0, lambda a, b, ga, gb: (ga, -gb), False),
)


@dataclass(frozen=True)
class Variable:
    """A variable of the reduced problem: its formula in the user's symbols, its values at the scored rows and at
    all the training rows, the user's column it moves through (``rep``) and d(variable)/d(x_rep) at the scored
    rows."""

    expr: sympy.Expr
    at_scored: np.ndarray
    at_train: np.ndarray
    rep: int
    d_rep: np.ndarray


def user_gradient(model: KAN, z: torch.Tensor, x: np.ndarray, scaling: Scaling) -> np.ndarray:
    """The surrogate's gradient with respect to the user's inputs x (N, n), up to a positive factor per row (the
    target's own scaling): d s / d z_i * d z_i / d x_i, with z = scaling.x(x) (N, n). (N, n)"""
    zg = z.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(model(zg)[:, 0].sum(), zg)
    dz = 1 / scaling.x_half if not scaling.log_space else 1 / (x * scaling.x_half)
    return g.numpy() * dz


def pair_score(kind: Kind, a: Variable, b: Variable, ga: np.ndarray, gb: np.ndarray) -> float:
    """The median over the scored rows of |u + v| / (|u| + |v|) for the kind's two terms."""
    u, v = kind.terms(a.at_scored, b.at_scored, ga, gb)
    return float(np.median(np.abs(u + v) / (np.abs(u) + np.abs(v) + 1e-300)))


def _clearance(v: np.ndarray) -> float:
    """How far values (N,) of one sign keep from zero for their size: min |v| / max |v|, in (0, 1]."""
    m = np.abs(v)
    return float(m.min() / m.max())


def oriented(kind: Kind, a: np.ndarray, b: np.ndarray) -> bool | None:
    """For values a, b (N,) of a pair: False to combine them as (a, b), True as (b, a), None when the kind does not
    apply (a ratio where neither keeps one sign). A ratio divides by the one that keeps one sign; when both do, by
    the one farther from zero for its size (Feynman II.6.11's p_d in (0, 1] as the denominator of epsilon / p_d sent
    the new variable to 1e4)."""
    if not kind.divides:
        return False
    if one_sign(a) and one_sign(b):
        return _clearance(a) > _clearance(b)
    if one_sign(b):
        return False
    return True if one_sign(a) else None


def _joined(kind: Kind, a: Variable, b: Variable) -> Variable:
    return Variable(kind.combine(a.expr, b.expr), kind.combine(a.at_scored, b.at_scored),
                    kind.combine(a.at_train, b.at_train), a.rep,
                    a.d_rep * kind.d_first(a.at_scored, b.at_scored))


def reduce(grad: np.ndarray, x_scored: np.ndarray, x_train: np.ndarray, symbols: tuple[sympy.Symbol, ...],
           threshold: float | None = None) -> list[Variable] | None:
    """The variables left after replacing symmetric pairs (score below ``threshold``, THRESHOLD if None), lowest
    score first, from the gradient ``grad`` (N, n) of f in the user's inputs at rows ``x_scored`` (N, n), with
    ``x_train`` (M, n) the training rows; None when no pair is symmetric."""
    threshold = THRESHOLD if threshold is None else threshold
    variables = [Variable(s, x_scored[:, i], x_train[:, i], i, np.ones(len(x_scored)))
                 for i, s in enumerate(symbols)]
    reduced = False
    while len(variables) > 1:
        grads = [grad[:, v.rep] / v.d_rep for v in variables]
        influence = [float(np.median(np.abs(g * v.at_scored.std()))) for g, v in zip(grads, variables)]
        top = max(influence)
        best = None
        for i in range(len(variables)):
            for j in range(i + 1, len(variables)):
                a, b = variables[i], variables[j]
                if min(influence[i], influence[j]) <= MIN_INFLUENCE * top:
                    continue
                for kind in KINDS:
                    swap = oriented(kind, a.at_train, b.at_train)
                    if swap is None:
                        continue
                    p, q = (j, i) if swap else (i, j)
                    score = pair_score(kind, variables[p], variables[q], grads[p], grads[q])
                    if score < threshold and (best is None or score < best[0]):
                        best = (score, kind, p, q)
        if best is None:
            break
        score, kind, i, j = best
        new = _joined(kind, variables[i], variables[j])
        log.info("discover: the surrogate depends on %s and %s through their %s (score %.1e)",
                 variables[i].expr, variables[j].expr, kind.name, score)
        variables = [v for k, v in enumerate(variables) if k not in (i, j)] + [new]
        reduced = True
    return variables if reduced else None


def reduced_data(variables: list[Variable], y: np.ndarray) -> tuple[Data, dict[sympy.Symbol, sympy.Expr]]:
    """The reduced problem on the training rows (a symbol per variable; the user's own where a variable is one of
    the user's inputs) and the map that writes its formulas back in the user's inputs."""
    symbols, back = [], {}
    for k, v in enumerate(variables):
        if isinstance(v.expr, sympy.Symbol):
            symbols.append(v.expr)
            continue
        s = sympy.Dummy(f"u{k}", real=True, positive=True if v.at_train.min() > 0 else None)
        symbols.append(s)
        back[s] = v.expr
    return Data(np.stack([v.at_train for v in variables], axis=1), y, tuple(symbols)), back
