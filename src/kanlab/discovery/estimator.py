"""SymbolicKANRegressor: :func:`kanlab.discover` as a scikit-learn estimator (also importable from kanlab.sklearn).

``fit`` runs the search and keeps the :class:`~kanlab.discovery.Discovery` as ``discovery_`` and the best formula as
``formula_``; ``predict`` evaluates that formula, so a fitted estimator is a formula, not a network.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from . import discover

__all__ = ["SymbolicKANRegressor"]


class SymbolicKANRegressor(RegressorMixin, BaseEstimator):
    """Find a formula y = f(X) with :func:`kanlab.discover`; the arguments are discover's.

    >>> est = SymbolicKANRegressor(max_candidates=1).fit(X, y)     # doctest: +SKIP
    >>> est.formula_, est.sympy(), est.predict(X_new)                # doctest: +SKIP
    """

    def __init__(self, time_budget: float | None = 60.0, max_candidates: int | None = None, seed: int = 0,
                 val_fraction: float = 0.25, tolerance: float = 1.5, progress: bool = False):
        self.time_budget = time_budget
        self.max_candidates = max_candidates
        self.seed = seed
        self.val_fraction = val_fraction
        self.tolerance = tolerance
        self.progress = progress

    def fit(self, X, y) -> "SymbolicKANRegressor":
        names = getattr(X, "columns", None)
        X, y = validate_data(self, X, y, y_numeric=True, ensure_all_finite=True, dtype=np.float64)
        names = [str(c) for c in names] if names is not None else None  # None: discover's x_1, x_2, ...
        self.discovery_ = discover(X, y, feature_names=names, time_budget=self.time_budget,
                                   max_candidates=self.max_candidates, seed=self.seed,
                                   val_fraction=self.val_fraction, tolerance=self.tolerance, progress=self.progress)
        self.formula_ = self.discovery_.sympy()
        return self

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, ensure_all_finite=True, dtype=np.float64)
        return self.discovery_.predict(X)

    def sympy(self) -> sp.Expr:
        check_is_fitted(self)
        return self.formula_

    def latex(self) -> str:
        check_is_fitted(self)
        return self.discovery_.latex()
