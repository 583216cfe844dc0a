"""Two-level compositions for a target of one input, for :func:`kanlab.discover`.

A KAN edge snaps to ``A * g(a * u + b) + B``: one library function of an affine map. After a symmetry has reduced a
problem to one variable u, the rest is often a composition of two functions: m0 / sqrt(1 - u^2) (Feynman I.10.7),
1 / (exp(u) - 1) (III.4.32), sin(u)^2 (III.8.54). A KAN of one edge cannot write these, and a deeper one is pruned to
the wrong path. For one input the space is small enough to search by brute force, as AI Feynman does:

    y = A * g(a * h(c * u + e) + b) + B

for every outer g in :data:`OUTER` and inner h in :data:`INNER`. A and B are solved by least squares for each choice
of the other constants (variable projection), which are fitted by Levenberg-Marquardt from a few fixed starts on the
scaled data (u and y standardised), so the search is scale-free and deterministic. The best formulas go back to the
search, which refits their constants on the user's rows, snaps them and scores them on validation rows like every
other formula.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import sympy
from scipy.optimize import least_squares


@dataclass(frozen=True)
class Fn:
    """A function by name: its numpy form and its sympy form."""

    name: str
    np_fn: Callable[[np.ndarray], np.ndarray]
    sym: Callable[[sympy.Expr], sympy.Expr]


def _sqrt(t):
    return np.sqrt(t) if np.all(t >= 0) else np.full_like(t, np.nan)


def _log(t):
    return np.log(t) if np.all(t > 0) else np.full_like(t, np.nan)


def _asin(t):
    return np.arcsin(t) if np.all(np.abs(t) <= 1) else np.full_like(t, np.nan)


# outer functions: a domain violated on any training row makes the whole choice invalid (NaN), not clipped
OUTER = (
    Fn("x", lambda t: t, lambda t: t),
    Fn("x^2", np.square, lambda t: t ** 2),
    Fn("x^3", lambda t: t ** 3, lambda t: t ** 3),
    Fn("1/x", lambda t: 1 / t, lambda t: 1 / t),
    Fn("1/x^2", lambda t: 1 / t ** 2, lambda t: 1 / t ** 2),
    Fn("sqrt", _sqrt, sympy.sqrt),
    Fn("1/sqrt", lambda t: 1 / _sqrt(t), lambda t: 1 / sympy.sqrt(t)),
    Fn("exp", np.exp, sympy.exp),
    Fn("log", _log, sympy.log),
    Fn("sin", np.sin, sympy.sin),
    Fn("tanh", np.tanh, sympy.tanh),
    Fn("asin", _asin, sympy.asin),
    Fn("atan", np.arctan, sympy.atan),
)
# inner functions of c * u + e; "x" leaves a * (c * u + e) + b, the outer function of an affine map
INNER = (
    Fn("x", lambda t: t, lambda t: t),
    Fn("x^2", np.square, lambda t: t ** 2),
    Fn("1/x", lambda t: 1 / t, lambda t: 1 / t),
    Fn("exp", np.exp, sympy.exp),
    Fn("sin", np.sin, sympy.sin),
    Fn("cosh", np.cosh, sympy.cosh),
    Fn("sqrt", _sqrt, sympy.sqrt),
)
STARTS = 3  # fixed starting points per (g, h)
MAX_EVALS = 80  # residual evaluations per start
FIT_ROWS = 120  # the rows the constants are fitted on (the caller refits them on all)
KEEP = 3  # formulas returned
EXACT = 1e-9  # a training RMSE (in units of the target's spread) below this ends the search


@dataclass(frozen=True)
class Fit:
    """One fitted composition in the scaled input s: A * g(a * h(c * s + e) + b) + B, and its training RMSE (in
    units of the scaled target)."""

    g: Fn
    h: Fn
    p: tuple[float, float, float, float]  # (a, b, c, e); for h = x, (c, e) = (1, 0) and unused
    ab: tuple[float, float]  # (A, B)
    rmse: float

    def expr(self, s: sympy.Expr) -> sympy.Expr:
        F = sympy.Float
        if self.h.name == "x":
            inner = F(self.p[0]) * s + F(self.p[1])
        else:
            a, b, c, e = (F(v) for v in self.p)
            inner = a * self.h.sym(c * s + e) + b
        return F(self.ab[0]) * self.g.sym(inner) + F(self.ab[1])


def _inner_values(g: Fn, h: Fn, p: np.ndarray, s: np.ndarray) -> np.ndarray:
    if h.name == "x":
        return g.np_fn(p[0] * s + p[1])
    return g.np_fn(p[0] * h.np_fn(p[2] * s + p[3]) + p[1])


# outer functions that are homogeneous, A * g(a z + b) = (A a^k) g(z + b / a): a = 1, A takes the scale
_HOMOGENEOUS = ("x^2", "x^3", "1/x", "1/x^2")


def _fixed(g: Fn, h: Fn) -> dict[int, float]:
    """The constants of (a, b, c, e) held fixed for (g, h): those a flat direction of the fit makes redundant, and
    for h = x the inner map (c, e) = (1, 0). A flat direction lets the last bit of rounding move the constants."""
    fixed = {2: 1.0, 3: 0.0} if h.name == "x" else {}
    if g.name in _HOMOGENEOUS:
        fixed[0] = 1.0
    if h.name in ("x^2", "1/x"):  # a (c s + e)^k = (a c^k) (s + e / c)^k
        fixed[2] = 1.0
    if h.name == "exp":  # a exp(c s + e) = (a e^e) exp(c s)
        fixed[3] = 0.0
    return fixed


def _project(z: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """Residual t - (A z + B) with A, B by least squares; (N,) and (A, B). The sums are exact (math.fsum): numpy's
    depend on the arrays' memory alignment in the last bit, which Levenberg-Marquardt carries along the flat
    directions of the fit (A * (a z + b)^2 = (A a^2) (z + b / a)^2) into different constants from call to call."""
    n = len(z)
    z_mean, t_mean = math.fsum(z) / n, math.fsum(t) / n
    zc = z - z_mean
    var = math.fsum(zc * zc)
    A = math.fsum(zc * (t - t_mean)) / var if var > 0 else 0.0
    B = t_mean - A * z_mean
    return t - (A * z + B), (A, B)


def _fit(g: Fn, h: Fn, s: np.ndarray, t: np.ndarray, rng: np.random.Generator, deadline: float) -> Fit | None:
    fixed = _fixed(g, h)
    free = [i for i in range(4) if i not in fixed]
    bad = np.full(len(t), 1e3)

    def full(q: np.ndarray) -> np.ndarray:
        p = np.empty(4)
        p[free] = q
        for i, v in fixed.items():
            p[i] = v
        return p

    def residual(q: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            z = _inner_values(g, h, full(q), s)
        if not np.all(np.isfinite(z)) or np.ptp(z) < 1e-12 or np.max(np.abs(z)) > 1e12:
            return bad
        return _project(z, t)[0]

    starts = rng.uniform(-2.0, 2.0, size=(STARTS, 4))
    # the first starts map the data's range onto (-0.9, 0.9) and (0.1, 0.9): inside the domains of asin, sqrt, log;
    # the third is a fixed one, the rest random. The map is the outer one for h = x, else the inner one
    starts[2] = [0.25, 0.5, 1.0, 0.0]
    lo, hi = float(s.min()), float(s.max())
    for i, (a0, b0) in enumerate(((-0.9, 0.9), (0.1, 0.9))):
        scale = (b0 - a0) / (hi - lo)
        starts[i] = (scale, a0 - scale * lo, 1.0, 0.0) if h.name == "x" else (1.0, 0.0, scale, a0 - scale * lo)
        for j in fixed:  # a fixed scale: the shift alone places the range
            if j in (0, 2) and j + 1 not in fixed:
                starts[i, j + 1] = a0 - lo
    best = None
    for p0 in starts[:, free]:
        if time.monotonic() > deadline:
            break
        if not np.all(residual(p0) != bad[0]):
            continue  # a start outside the domain: LM cannot leave it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                r = least_squares(residual, p0, method="lm", max_nfev=MAX_EVALS)
            except (ValueError, np.linalg.LinAlgError):
                continue
        res = residual(r.x)
        rmse = math.sqrt(math.fsum(res * res) / len(res))
        if math.isfinite(rmse) and (best is None or rmse < best[0]):
            p = full(r.x)
            with np.errstate(all="ignore"):
                ab = _project(_inner_values(g, h, p, s), t)[1]
            best = (rmse, tuple(float(v) for v in p), ab)
    if best is None or best[0] >= 0.99:
        return None
    return Fit(g, h, best[1], best[2], best[0])


def compositions(u: np.ndarray, y: np.ndarray, symbol: sympy.Symbol, deadline: float = math.inf,
                 keep: int = KEEP) -> list[sympy.Expr]:
    """The ``keep`` compositions A * g(a * h(c * v + e) + b) + B that fit y (N,) best, with v = u (N,) and, where u
    keeps one sign, also v = 1 / u (a symmetry may leave hbar / (E t) where sin(E t / hbar)^2 needs its inverse); as
    formulas in ``symbol``, best first (fitted on the standardised data; constants as Floats for the caller to
    refit). Stops trying further (g, h) past ``deadline`` and returns what it has."""
    y_mean, y_std = float(y.mean()), float(y.std())
    if not y_std > 0:
        return []
    rows = np.linspace(0, len(u) - 1, min(len(u), FIT_ROWS)).astype(int)
    t = (y[rows] - y_mean) / y_std
    variables = [(u, symbol)]
    if np.all(u > 0) or np.all(u < 0):
        variables.append((1 / u, 1 / symbol))
    fits = []
    for v, v_sym in variables:
        v_mean, v_std = float(v.mean()), float(v.std())
        if not v_std > 0:
            continue
        s = (v[rows] - v_mean) / v_std
        scaled = (v_sym - sympy.Float(v_mean)) / sympy.Float(v_std)
        for g in OUTER:
            if fits and min(f[0] for f in fits) < EXACT:
                break  # the outer functions go simplest first: an exact fit ends the search after its own g
            for h in INNER:
                if time.monotonic() > deadline:
                    break
                if g.name == "x" and h.name != "x":
                    continue  # A * (a * h(.) + b) + B is h of an affine map: g = h, h = x covers it
                rng = np.random.default_rng([OUTER.index(g), INNER.index(h)])
                fit = _fit(g, h, s, t, rng, deadline)
                if fit is not None:
                    fits.append((fit.rmse, fit.expr(scaled)))
    # exact fits tie: their RMSEs (1e-16) differ by rounding, which can change with the arrays' memory alignment,
    # so below EXACT the first found (the simplest g) stays first
    fits.sort(key=lambda f: max(f[0], EXACT))
    return [sympy.Float(y_mean) + sympy.Float(y_std) * e for _, e in fits[:keep]]
