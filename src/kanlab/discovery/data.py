"""Checking the user's data for :func:`kanlab.discover`, and the affine maps that make the search scale-free.

A KAN's regulariser, prune thresholds and symbolic fits all have absolute scales. :class:`Scaling` maps every input
column onto [-1, 1] (the default grid range) and the target onto mean 0 and standard deviation 1, optionally after
a log of |value| (power laws become sums). Training runs in that space; :meth:`Scaling.unscale` writes the formula
found there back in the user's variables. Data given as ``a * y + b`` or with inputs ``c * x + d`` therefore reach
the KAN as the same numbers, up to rounding.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import sympy
import torch

MIN_ROWS = 10


@dataclass(frozen=True)
class Data:
    """The checked data: x (N, n_var) and y (N,) in float64, and one sympy symbol per column."""

    x: np.ndarray
    y: np.ndarray
    symbols: tuple[sympy.Symbol, ...]


def _names_of(X, feature_names) -> list[str] | None:
    if feature_names is not None:
        return [str(n) for n in feature_names]
    columns = getattr(X, "columns", None)  # a pandas DataFrame
    return None if columns is None else [str(c) for c in columns]


def as_float64(a) -> np.ndarray:
    """A float64 numpy copy of a torch tensor, a pandas object, an array or nested lists."""
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    elif hasattr(a, "to_numpy"):  # pandas
        a = a.to_numpy()
    return np.array(a, dtype=np.float64)


def check_data(X, y, feature_names=None) -> Data:
    """Validate and convert: X (N, n_var) or (N,), y (N,) or (N, 1); numpy, torch, pandas or lists.

    Rows where X or y is not finite are dropped with a warning that counts them. Raises ValueError for mismatched
    lengths, a multi-output y, bad feature names, or fewer than 10 usable rows.
    """
    names = _names_of(X, feature_names)
    try:
        x, t = as_float64(X), as_float64(y)
    except (TypeError, ValueError) as err:
        raise ValueError(f"discover needs numeric X and y: {err}") from None
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"X must have shape (N, n_features) or (N,), got {x.shape}")
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim != 1:
        raise ValueError(f"y must have shape (N,) or (N, 1): discover finds one formula per target, got {t.shape}")
    if len(t) != len(x):
        raise ValueError(f"X has {len(x)} rows but y has {len(t)}")
    if x.shape[1] == 0:
        raise ValueError("X has no columns")
    if names is None:
        names = [f"x_{i + 1}" for i in range(x.shape[1])]
    if len(names) != x.shape[1] or len(set(names)) != len(names) or not all(names):
        raise ValueError(f"feature_names must be {x.shape[1]} distinct non-empty names, got {names}")
    keep = np.isfinite(x).all(axis=1) & np.isfinite(t)
    if not keep.all():
        warnings.warn(f"discover: dropped {int((~keep).sum())} of {len(t)} rows where X or y is NaN or infinite",
                      stacklevel=3)
        x, t = x[keep], t[keep]
    if len(t) < MIN_ROWS:
        raise ValueError(f"discover needs at least {MIN_ROWS} rows with finite X and y, got {len(t)}")
    symbols = tuple(sympy.Symbol(n, real=True, positive=True if x[:, i].min() > 0 else None)
                    for i, n in enumerate(names))
    return Data(x, t, symbols)


def one_sign(v: np.ndarray) -> float:
    """+1 or -1 if every value is strictly of that sign, else 0."""
    return 1.0 if (v > 0).all() else -1.0 if (v < 0).all() else 0.0


@dataclass(frozen=True)
class Scaling:
    """The affine (and optionally log) maps between the user's data and the KAN's space.

    Input i: u_i = log(s_i x_i) in log space (s_i its sign), else x_i; then z_i = (u_i - x_mid_i) / x_half_i.
    Target: t = log(s_y y) in log space, else y; then the KAN learns (t - y_mean) / y_std.
    """

    log_space: bool
    x_sign: np.ndarray
    x_mid: np.ndarray
    x_half: np.ndarray
    y_sign: float
    y_mean: float
    y_std: float

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, log_space: bool) -> "Scaling":
        """The maps for training data x (N, n_var), y (N,). Raises ValueError if log space does not apply."""
        if log_space and not log_space_applies(x, y):
            raise ValueError("log space needs every input column and the target to keep one strict sign")
        x_sign = np.array([one_sign(c) for c in x.T]) if log_space else np.ones(x.shape[1])
        y_sign = one_sign(y) if log_space else 1.0
        u = np.log(x * x_sign) if log_space else x
        t = np.log(y * y_sign) if log_space else y
        lo, hi = u.min(axis=0), u.max(axis=0)
        half = (hi - lo) / 2
        half = np.where(half > 0, half, 1.0)  # a constant column stays constant (at 0)
        std = float(t.std())
        return cls(log_space, x_sign, (hi + lo) / 2, half, y_sign, float(t.mean()), std if std > 0 else 1.0)

    def x(self, x: np.ndarray) -> np.ndarray:
        """The KAN's inputs z (N, n_var) for data x (N, n_var)."""
        u = np.log(x * self.x_sign) if self.log_space else x
        return (u - self.x_mid) / self.x_half

    def y(self, y: np.ndarray) -> np.ndarray:
        """The KAN's target (N,) for data y (N,)."""
        t = np.log(y * self.y_sign) if self.log_space else y
        return (t - self.y_mean) / self.y_std

    def unscale(self, expr: sympy.Expr, z: list[sympy.Symbol], symbols: tuple[sympy.Symbol, ...]) -> sympy.Expr:
        """The formula in the user's ``symbols`` for a formula ``expr`` of the KAN's inputs ``z``."""
        subs = {}
        for zi, s, sign, mid, half in zip(z, symbols, self.x_sign, self.x_mid, self.x_half):
            u = sympy.log(int(sign) * s) if self.log_space else s
            subs[zi] = (u - float(mid)) / float(half)
        t = expr.xreplace(subs) * self.y_std + self.y_mean
        return int(self.y_sign) * sympy.exp(t) if self.log_space else t


def log_space_applies(x: np.ndarray, y: np.ndarray) -> bool:
    """Whether every input column and the target keep one strict sign (so log|.| is defined and invertible)."""
    return one_sign(y) != 0 and all(one_sign(c) != 0 for c in x.T)
