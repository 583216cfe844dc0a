"""Views of a formula: LaTeX, a NumPy function, a torch module. Built by walking the sympy tree (no eval/exec)."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import sympy
import torch
from torch import Tensor, nn

__all__ = ["to_latex", "to_numpy_function", "to_torch_module", "FormulaModule"]


def to_latex(expr: sympy.Expr | Sequence[sympy.Expr]) -> str | list[str]:
    """LaTeX of one expression or of each in a list."""
    if isinstance(expr, (list, tuple)):
        return [sympy.latex(e) for e in expr]
    return sympy.latex(expr)


def check_finite_constants(exprs: Sequence[sympy.Expr]) -> None:
    """ValueError if a formula holds an infinite or undefined constant (zoo, oo, nan): it cannot be evaluated.

    The usual source is rounding: ex_round(1/(0.0001*x), 2) divides by a coefficient rounded to 0."""
    bad_atoms = (sympy.zoo, sympy.oo, -sympy.oo, sympy.nan)
    for k, e in enumerate(exprs):
        bad = [a for a in sympy.sympify(e).atoms() if a in bad_atoms]
        if bad:
            raise ValueError(f"formula {k} contains {bad[0]} (an infinite or undefined constant) and cannot be "
                             "evaluated; it usually comes from rounding a coefficient to 0 inside a division "
                             "(ex_round with more digits avoids it)")


def to_numpy_function(exprs: sympy.Expr | Sequence[sympy.Expr], symbols: Sequence[sympy.Symbol]) -> Callable:
    """f(X) with X of shape (N, n_inputs) -> (N, n_outputs) as a NumPy array (sympy.lambdify on numpy)."""
    exprs = list(exprs) if isinstance(exprs, (list, tuple)) else [exprs]
    check_finite_constants(exprs)
    fns = [sympy.lambdify(list(symbols), e, modules="numpy") for e in exprs]

    def f(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != len(symbols):
            raise ValueError(f"expected an array of shape (N, {len(symbols)}), got {x.shape}")
        cols = [x[:, k] for k in range(x.shape[1])]
        return np.stack([np.broadcast_to(np.asarray(fn(*cols), dtype=float), (x.shape[0],)) for fn in fns], axis=1)

    return f


_UNARY: dict[type, Callable[[Tensor], Tensor]] = {
    sympy.sin: torch.sin, sympy.cos: torch.cos, sympy.tan: torch.tan, sympy.exp: torch.exp, sympy.log: torch.log,
    sympy.tanh: torch.tanh, sympy.Abs: torch.abs, sympy.sign: torch.sign, sympy.asin: torch.arcsin,
    sympy.acos: torch.arccos, sympy.atan: torch.arctan, sympy.atanh: torch.arctanh, sympy.sinh: torch.sinh,
    sympy.cosh: torch.cosh,
}


def _evaluate(expr: sympy.Expr, env: dict[sympy.Symbol, Tensor], like: Tensor) -> Tensor:
    if expr in env:
        return env[expr]
    if expr.is_Number or expr is sympy.pi or expr is sympy.E or expr.is_NumberSymbol:
        return torch.full_like(like, float(expr))
    if expr.is_Add:
        out = _evaluate(expr.args[0], env, like)
        for a in expr.args[1:]:
            out = out + _evaluate(a, env, like)
        return out
    if expr.is_Mul:
        out = _evaluate(expr.args[0], env, like)
        for a in expr.args[1:]:
            out = out * _evaluate(a, env, like)
        return out
    if expr.is_Pow:
        base, exp = expr.args
        if exp.is_Number:
            e = float(exp)
            b = _evaluate(base, env, like)
            return torch.sqrt(b) if e == 0.5 else (torch.rsqrt(b) if e == -0.5 else b**e)
        return _evaluate(base, env, like) ** _evaluate(exp, env, like)
    fn = _UNARY.get(type(expr))
    if fn is not None:
        return fn(_evaluate(expr.args[0], env, like))
    raise NotImplementedError(f"cannot translate {type(expr).__name__} ({expr}) to torch")


class FormulaModule(nn.Module):
    """Evaluates sympy expressions with torch ops: (N, n_inputs) -> (N, n_outputs). Differentiable."""

    def __init__(self, exprs: Sequence[sympy.Expr], symbols: Sequence[sympy.Symbol]):
        super().__init__()
        self.exprs = list(exprs)
        self.symbols = list(symbols)
        check_finite_constants(self.exprs)
        like = torch.zeros(1)
        env = {s: like for s in self.symbols}
        for e in self.exprs:  # fail now, not at the first call, on anything untranslatable
            _evaluate(e, env, like)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != len(self.symbols):
            raise ValueError(f"expected input of shape (N, {len(self.symbols)}), got {tuple(x.shape)}")
        env = {s: x[:, k] for k, s in enumerate(self.symbols)}
        return torch.stack([_evaluate(e, env, x[:, 0]) for e in self.exprs], dim=1)

    def extra_repr(self) -> str:
        return ", ".join(str(e) for e in self.exprs)


def to_torch_module(exprs: sympy.Expr | Sequence[sympy.Expr], symbols: Sequence[sympy.Symbol]) -> FormulaModule:
    return FormulaModule(list(exprs) if isinstance(exprs, (list, tuple)) else [exprs], symbols)
