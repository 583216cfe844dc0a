"""A few equations of the Feynman symbolic-regression benchmark (AI Feynman), with their variable ranges.

Each :class:`Equation` carries a sympy expression (the truth), its variables and ranges, and makes a pykan-style
dataset with :func:`create_dataset`.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy
import torch

from .data import create_dataset
from .symbolic.export import to_torch_module

__all__ = ["Equation", "EQUATIONS", "get_equation", "feynman_dataset"]


@dataclass(frozen=True)
class Equation:
    name: str
    expr: sympy.Expr
    variables: tuple[sympy.Symbol, ...]
    ranges: tuple[tuple[float, float], ...]

    @property
    def n_var(self) -> int:
        return len(self.variables)

    def function(self):
        """A torch function (N, n_var) -> (N, 1) evaluating the equation."""
        return to_torch_module([self.expr], list(self.variables))


def _eq(name: str, expr_of, names: str, ranges) -> Equation:
    syms = sympy.symbols(names, positive=True)
    syms = syms if isinstance(syms, tuple) else (syms,)
    return Equation(name, expr_of(*syms), syms, tuple(tuple(map(float, r)) for r in ranges))


_pi = sympy.pi
EQUATIONS: dict[str, Equation] = {
    e.name: e
    for e in [
        _eq("I.6.2a", lambda t: sympy.exp(-t**2 / 2) / sympy.sqrt(2 * _pi), "theta", [(1, 3)]),
        _eq("I.6.2", lambda t, s: sympy.exp(-(t / s) ** 2 / 2) / (sympy.sqrt(2 * _pi) * s), "theta sigma",
            [(1, 3), (1, 3)]),
        _eq("I.12.1", lambda mu, n: mu * n, "mu N_n", [(1, 5), (1, 5)]),
        _eq("I.14.4", lambda k, x: k * x**2 / 2, "k_spring x", [(1, 5), (1, 5)]),
        _eq("I.25.13", lambda q, c: q / c, "q C", [(1, 5), (1, 5)]),
        _eq("I.29.4", lambda w, c: w / c, "omega c", [(1, 10), (1, 10)]),
        _eq("I.39.1", lambda p, v: sympy.Rational(3, 2) * p * v, "p_F V", [(1, 5), (1, 5)]),
        _eq("II.3.24", lambda p, r: p / (4 * _pi * r**2), "P r", [(1, 5), (1, 5)]),
        _eq("II.8.31", lambda eps, e: eps * e**2 / 2, "epsilon E_f", [(1, 5), (1, 5)]),
        _eq("I.13.4", lambda m, v, u, w: m * (v**2 + u**2 + w**2) / 2, "m v u w", [(1, 5)] * 4),
    ]
}


def get_equation(name: str) -> Equation:
    if name not in EQUATIONS:
        raise ValueError(f"unknown Feynman equation {name!r}; available: {', '.join(EQUATIONS)}")
    return EQUATIONS[name]


def feynman_dataset(name: str, train_num: int = 1000, test_num: int = 1000, dtype: torch.dtype | None = None,
                    seed: int = 0) -> dict[str, torch.Tensor]:
    """The pykan-style dataset dict for one equation, sampled uniformly in its ranges."""
    eq = get_equation(name)
    fn = eq.function()
    return create_dataset(lambda x: fn(x), n_var=eq.n_var, ranges=[list(r) for r in eq.ranges],
                          train_num=train_num, test_num=test_num, dtype=dtype, seed=seed)
