"""scikit-learn estimators: KANRegressor and KANClassifier.

``__init__`` only stores its arguments; ``fit`` builds and trains a :class:`~kanlab.KAN` and returns self; learned
attributes end in ``_`` (``model_``, ``history_``, ``n_features_in_``, ``feature_names_in_``, ``classes_``).
After ``auto_symbolic()`` the formula is available as ``.sympy()`` and ``.latex()``.
"""

from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np
import sympy
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .discovery.estimator import SymbolicKANRegressor
from .model import KAN

__all__ = ["KANRegressor", "KANClassifier", "SymbolicKANRegressor"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class _KANEstimator(BaseEstimator):
    def __init__(self, hidden_width: Sequence = (5,), grid: int = 5, k: int = 3, steps: int = 50,
                 opt: str = "LBFGS", lr: float = 1.0, lamb: float = 0.0, lamb_entropy: float = 2.0,
                 update_grid: bool = True, batch: int = -1, dtype: str = "float64", prune: bool = False,
                 random_state=None, mult_arity=2):
        self.hidden_width = hidden_width
        self.mult_arity = mult_arity
        self.grid = grid
        self.k = k
        self.steps = steps
        self.opt = opt
        self.lr = lr
        self.lamb = lamb
        self.lamb_entropy = lamb_entropy
        self.update_grid = update_grid
        self.batch = batch
        self.dtype = dtype
        self.prune = prune
        self.random_state = random_state

    # ------------------------------------------------------------------ helpers
    def _torch_dtype(self) -> torch.dtype:
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {list(_DTYPES)}, got {self.dtype!r}")
        return _DTYPES[self.dtype]

    def _seed(self) -> int:
        rs = self.random_state
        if rs is None:
            return 0
        if isinstance(rs, numbers.Integral):
            return int(rs)
        if isinstance(rs, np.random.RandomState):
            return int(rs.randint(0, 2**31 - 1))
        raise ValueError(f"random_state must be None, an int or a numpy RandomState, got {rs!r}")

    def _hidden(self) -> list:
        """Hidden width entries: n sum nodes, or (n_sum, n_mult) with multiplication nodes."""
        hidden = [self.hidden_width] if isinstance(self.hidden_width, numbers.Integral) else list(self.hidden_width)

        def entry(h):
            if isinstance(h, (list, tuple)) and len(h) == 2 and all(isinstance(v, numbers.Integral) and v >= 0
                                                                     for v in h) and sum(h) > 0:
                return [int(h[0]), int(h[1])]
            if isinstance(h, numbers.Integral) and not isinstance(h, bool) and h >= 1:
                return int(h)
            raise ValueError(f"hidden_width entries must be positive integers or (n_sum, n_mult) pairs, got "
                             f"{self.hidden_width!r}")

        return [entry(h) for h in hidden]

    def _arity(self):
        """mult_arity for the whole width: an int as is; a list covers the hidden layers only."""
        if isinstance(self.mult_arity, (list, tuple)):
            return [[], *self.mult_arity, []]
        return self.mult_arity

    def _train(self, x: np.ndarray, y: torch.Tensor, n_out: int, loss_fn=None) -> None:
        dtype, seed = self._torch_dtype(), self._seed()  # one draw from a RandomState, for the model and for fit
        xt = torch.tensor(x, dtype=dtype)  # a copy: sklearn may hand over read-only arrays
        self.model_ = KAN(width=[x.shape[1], *self._hidden(), n_out], mult_arity=self._arity(), grid=self.grid,
                          k=self.k, seed=seed, dtype=dtype)
        data = {"train_input": xt, "train_label": y, "test_input": xt, "test_label": y}
        self._train_data, self._loss_fn = data, loss_fn  # for the refit after auto_symbolic
        kw = dict(opt=self.opt, steps=self.steps, lr=self.lr, update_grid=self.update_grid, batch=self.batch,
                  loss_fn=loss_fn, log=0, seed=seed)
        self.history_ = self.model_.fit(data, lamb=self.lamb, lamb_entropy=self.lamb_entropy, **kw)
        if self.prune and self.model_.depth > 1:  # pykan's workflow: sparsify (lamb > 0), prune, retrain
            self.model_ = self.model_.prune()
            more = self.model_.fit(data, **kw)
            self.history_ = {key: self.history_[key] + more[key] for key in more}

    def _forward(self, X) -> np.ndarray:
        check_is_fitted(self)
        x = validate_data(self, X, reset=False, dtype=np.float64)
        with torch.no_grad():
            return self.model_(torch.tensor(x, dtype=self.model_.dtype)).cpu().numpy()

    # ------------------------------------------------------------------ symbolic views
    def auto_symbolic(self, lib=None, r2_threshold: float = 0.0, weight_simple: float = 0.8, refit_steps: int = 50):
        """Snap every edge to a library function, then tune the affine parameters on the training data."""
        check_is_fitted(self)
        self.model_.auto_symbolic(lib=lib, r2_threshold=r2_threshold, weight_simple=weight_simple)
        if refit_steps:
            self.model_.fit(self._train_data, steps=refit_steps, log=0, update_grid=False, loss_fn=self._loss_fn)
        return self

    def _symbols(self) -> list[sympy.Symbol]:
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            return list(sympy.symbols(f"x_1:{self.n_features_in_ + 1}"))
        return [sympy.Symbol(str(n)) for n in names]

    def sympy(self, simplify: bool = True) -> list[sympy.Expr]:
        """One sympy expression per model output (raises if edges are still numeric: call auto_symbolic)."""
        check_is_fitted(self)
        exprs, _ = self.model_.symbolic_formula(var=self._symbols(), simplify=simplify)
        return exprs

    def latex(self, simplify: bool = True) -> list[str]:
        return [sympy.latex(e) for e in self.sympy(simplify)]


class KANRegressor(RegressorMixin, _KANEstimator):
    """A KAN regressor: width [n_features, *hidden_width, n_targets], trained with mean squared error.

    A hidden_width entry ``(n_sum, n_mult)`` adds multiplication nodes (KAN 2.0) of arity ``mult_arity`` (an int,
    or one entry per hidden layer: an int or a list with one arity per multiplication node).

    With ``prune=True`` (and a sparsity penalty ``lamb`` > 0) the network is pruned after training and retrained
    for another ``steps``, as in pykan's workflow, which keeps formulas from ``auto_symbolic`` small.
    """

    def fit(self, X, y):
        x, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        self._y_1d = y.ndim == 1
        y2 = y.reshape(-1, 1) if self._y_1d else y
        self._train(x, torch.tensor(y2, dtype=self._torch_dtype()), y2.shape[1])  # a copy, integer targets cast
        return self

    def predict(self, X) -> np.ndarray:
        out = self._forward(X)
        return out[:, 0] if self._y_1d else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


class KANClassifier(ClassifierMixin, _KANEstimator):
    """A KAN classifier: one output per class, trained with cross-entropy; predict_proba is the softmax."""

    def fit(self, X, y):
        x, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) == 1:  # nothing to learn: always that class
            self.model_ = None
            self._constant = True
            self.history_ = {"train_loss": [], "test_loss": [], "reg": []}
            return self
        self._constant = False
        self._train(x, torch.as_tensor(encoded), len(self.classes_),  # int64 class indices
                    loss_fn=torch.nn.CrossEntropyLoss())
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self)
        if self._constant:
            x = validate_data(self, X, reset=False, dtype=np.float64)
            return np.ones((x.shape[0], 1))
        logits = self._forward(X)
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
