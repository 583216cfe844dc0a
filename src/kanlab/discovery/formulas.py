"""Formulas found by :func:`kanlab.discover`: their constants refitted, their complexity and error, the Pareto front.

A :class:`Formula` is a sympy expression in the user's variables with its validation error. The
:class:`Discovery` holds every formula tried and the Pareto front among them (no other formula is both simpler
and more accurate), the way PySR's hall of fame does, and picks the best one by a stated rule (:func:`pick_best`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from time import monotonic

import numpy as np
import scipy.optimize
import sympy

from ..symbolic.export import to_latex, to_numpy_function
from .data import as_float64

EXACT_NRMSE = 1e-6  # a formula whose validation error is below this (relative to std(y)) is flagged exact
EQUAL_NRMSE = 1e-9  # below this, errors are rounding and count as equal when picking the best formula
MAX_POLISH_CONSTANTS = 40


def complexity(expr: sympy.Expr) -> int:
    """The number of nodes in the expression tree (symbols, constants, operations, functions), as PySR counts, with
    every constant one node however it is written: pi/4 counts as 0.785398, so that snapping a constant to its
    exact form never makes a formula look more complex."""
    if expr.is_number:
        return 1
    numbers = [arg for arg in expr.args if arg.is_number]
    if isinstance(expr, (sympy.Add, sympy.Mul)) and numbers:  # 1/4 * 1/pi in a product: one constant
        return 2 + sum(complexity(arg) for arg in expr.args if not arg.is_number)
    return 1 + sum(complexity(arg) for arg in expr.args)


def evaluate(expr: sympy.Expr, symbols, x: np.ndarray) -> np.ndarray:
    """expr at the rows of x (N, n_var): (N,); non-finite where the formula is undefined."""
    with np.errstate(all="ignore"):
        try:
            return to_numpy_function([expr], list(symbols))(x)[:, 0]
        except (ValueError, TypeError, ZeroDivisionError, OverflowError):
            return np.full(len(x), np.nan)


def nrmse(pred: np.ndarray, y: np.ndarray, scale: float) -> float:
    """RMSE of pred (N,) against y (N,), divided by ``scale`` (std of y); inf where pred is not finite."""
    if not np.isfinite(pred).all():
        return math.inf
    return float(np.sqrt(np.mean((pred - y) ** 2)) / scale)


class _Deadline(Exception):
    pass


def polish(expr: sympy.Expr, symbols, x: np.ndarray, y: np.ndarray, deadline: float = math.inf) -> sympy.Expr:
    """Refit every float constant of ``expr`` by least squares on (x (N, n_var), y (N,)), keeping the structure.

    The KAN's refit leaves constants near, not at, their values (0.49999 for 1/2); this brings an expression of
    the right form to rounding error, so that constant snapping then finds the exact numbers. Returns ``expr``
    itself if the refit does not lower the error or fails. Past ``deadline`` (``time.monotonic()``) the refit
    stops and the best constants evaluated so far are kept: with 30 constants a refit takes half a minute
    (measured on Weinberg 15.2.1), which would otherwise overrun discover's time budget.
    """
    floats = sorted(expr.atoms(sympy.Float), key=lambda f: (float(f), str(f)))
    if not floats or len(floats) > MAX_POLISH_CONSTANTS or len(floats) >= len(y):
        return expr
    params = sympy.symbols(f"_c0:{len(floats)}")
    template = expr.xreplace(dict(zip(floats, params)))
    try:
        fn = sympy.lambdify([*symbols, *params], template, modules="numpy")
    except (TypeError, SyntaxError, KeyError):
        return expr
    cols = list(x.T)

    def errors(c: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            r = np.broadcast_to(np.asarray(fn(*cols, *c), dtype=float), y.shape) - y
        return np.where(np.isfinite(r), r, 1e10)

    c0 = np.array([float(f) for f in floats])
    before = float(np.sum(errors(c0) ** 2))
    best: list = [math.inf, None]  # the lowest sum of squares the refit has seen, and its constants

    def residual(c: np.ndarray) -> np.ndarray:
        if monotonic() > deadline:
            raise _Deadline
        r = errors(c)
        sse = float(np.sum(r ** 2))
        if sse < best[0]:
            best[:] = sse, np.array(c, dtype=float)
        return r

    try:
        scipy.optimize.least_squares(residual, c0, method="lm", max_nfev=100 * (len(c0) + 1), xtol=1e-15,
                                     ftol=1e-15, gtol=1e-15)
    except _Deadline:
        pass
    except (ValueError, FloatingPointError, OverflowError):
        return expr
    sse, c = best
    if c is None or not np.isfinite(c).all() or not sse < before:
        return expr
    return template.xreplace({p: sympy.Float(float(v)) for p, v in zip(params, c)})


@dataclass(frozen=True)
class Formula:
    """One formula: ``expr`` in ``symbols``, its node count, and its validation error relative to std(y)."""

    expr: sympy.Expr
    symbols: tuple[sympy.Symbol, ...]
    complexity: int
    nrmse: float
    source: str  # which candidate (and stage) produced it
    width: tuple[int, ...] | None = None  # the KAN's width after pruning (None for the constant)

    @property
    def exact(self) -> bool:
        """Whether it fits the validation data to EXACT_NRMSE (1e-6) of std(y): exact for noise-free data."""
        return self.nrmse < EXACT_NRMSE

    def sympy(self) -> sympy.Expr:
        return self.expr

    def latex(self) -> str:
        return to_latex(self.expr)

    def predict(self, X) -> np.ndarray:
        """The formula at the rows of X (N, n_var) (numpy, torch or pandas): (N,)."""
        x = as_float64(X)
        x = x[:, None] if x.ndim == 1 else x
        if x.ndim != 2 or x.shape[1] != len(self.symbols):
            raise ValueError(f"X must have shape (N, {len(self.symbols)}), got {x.shape}")
        with np.errstate(all="ignore"):
            return to_numpy_function([self.expr], list(self.symbols))(x)[:, 0]


def pareto_front(formulas: list[Formula]) -> list[Formula]:
    """The formulas that no other beats on both counts, by increasing complexity (so by decreasing error).

    Of formulas with equal complexity and error, the first found stays.
    """
    front: list[Formula] = []
    for f in sorted(formulas, key=lambda f: (f.complexity, f.nrmse)):
        if math.isfinite(f.nrmse) and (not front or f.nrmse < front[-1].nrmse):
            front.append(f)
    return front


def pick_best(front: list[Formula], tolerance: float = 1.5) -> Formula:
    """The rule: the simplest formula on the front whose error is at most ``tolerance`` times the front's lowest
    error, errors below EQUAL_NRMSE (1e-9, rounding) counting as equal."""
    if not front:
        raise ValueError("no formula to pick from")
    bar = max(tolerance * min(f.nrmse for f in front), EQUAL_NRMSE)
    return next(f for f in front if f.nrmse <= bar)


@dataclass
class Discovery:
    """The result of :func:`kanlab.discover`: every formula tried, the Pareto front, and the best formula.

    ``sympy()``, ``latex()`` and ``predict()`` use the best formula; ``table()`` and ``plot()`` show the front.
    ``failures`` lists the candidates that raised (with the error), ``skipped`` those not run: past the time budget,
    or all of them for a constant target.
    """

    formulas: list[Formula]
    front: list[Formula]
    best: Formula
    y_std: float
    seconds: float
    failures: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return self.best.exact

    def sympy(self) -> sympy.Expr:
        return self.best.expr

    def latex(self) -> str:
        return self.best.latex()

    def predict(self, X) -> np.ndarray:
        return self.best.predict(X)

    def table(self) -> str:
        """The front as a markdown table: complexity, validation error (relative and absolute), exact, formula."""
        rows = ["| | complexity | validation NRMSE | validation RMSE | exact | formula | from |",
                "|---|---|---|---|---|---|---|"]
        for f in self.front:
            mark = "best" if f is self.best else ""
            rows.append(f"| {mark} | {f.complexity} | {f.nrmse:.2e} | {f.nrmse * self.y_std:.2e} | "
                        f"{'yes' if f.exact else 'no'} | `{f.expr}` | {f.source} |")
        return "\n".join(rows)

    def __str__(self) -> str:
        return self.table()

    def plot(self, ax=None):
        """Complexity against validation error: every formula (dots) and the front (steps); the best is circled.
        Needs matplotlib. Returns the axes."""
        import matplotlib.pyplot as plt  # optional dependency (the `plot` extra)

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        floor = EQUAL_NRMSE / 10  # errors of 0 still show on the log axis
        shown = [f for f in self.formulas if math.isfinite(f.nrmse)]
        ax.scatter([f.complexity for f in shown], [max(f.nrmse, floor) for f in shown], s=12, color="0.6",
                   label="formulas tried")
        ax.step([f.complexity for f in self.front], [max(f.nrmse, floor) for f in self.front], where="post",
                color="C0", marker="o", label="Pareto front")
        ax.scatter([self.best.complexity], [max(self.best.nrmse, floor)], s=120, facecolors="none",
                   edgecolors="C3", label="best")
        ax.set_yscale("log")
        ax.set_xlabel("complexity (expression nodes)")
        ax.set_ylabel("validation RMSE / std(y)")
        ax.legend(frameon=False)
        return ax
