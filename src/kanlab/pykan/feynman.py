"""pykan's ``kan.feynman``: ``get_feynman_dataset(name)`` for the 120 equations of the Feynman symbolic-regression
benchmark, from :mod:`kanlab.feynman`, with the variable ranges in pykan's form (a single pair for all variables,
or one pair each). Names follow the published list; pykan's three misnamed entries are also found under pykan's spelling ('I.10.9' for II.10.9, 'Rutherforld scattering'), except
that 'I.18.4' means I.18.4 (pykan returns I.18.12 for it, since both of its entries carry that name).
"""

from __future__ import annotations

import math
from typing import Callable

import sympy
import torch

from ..feynman import TABLE as FEYNMAN, get_equation
from ..symbolic.export import to_torch_module

__all__ = ["get_feynman_dataset", "FEYNMAN", "feynman_names"]

_ALIASES = {"I.10.9": 60, "Rutherforld scattering": 101}
_BY_NAME = {name: row for row in FEYNMAN for name in (row[1], row[0])}
_BY_NAME.update({alias: FEYNMAN[num - 1] for alias, num in _ALIASES.items()})


def feynman_names() -> list[str]:
    """The 120 equation names, in the benchmark's order (number i is feynman_names()[i - 1])."""
    return [row[1] for row in FEYNMAN]


def get_feynman_dataset(name) -> tuple[list[sympy.Symbol], sympy.Expr, Callable, list]:
    """(symbols, expression, f, ranges) for equation ``name`` (its name, or its number 1..120; 'test' is pykan's
    toy formula). ``f`` maps (N, n_var) inputs to (N, 1) outputs; ``ranges`` feeds ``create_dataset``."""
    if name == "test":
        x, y = sympy.symbols("x y")
        return [x, y], (x + y) * sympy.sin(sympy.exp(2 * y)), _torch_fn((x + y) * sympy.sin(sympy.exp(2 * y)),
                                                                         [x, y]), [-1, 1]
    key = int(name) if isinstance(name, (int,)) and not isinstance(name, bool) else name
    if key not in _BY_NAME:
        raise KeyError(f"no Feynman equation {name!r}: use a number 1..120 or one of the names in feynman_names()")
    number, _, _, _, ranges = _BY_NAME[key]
    eq = get_equation(number)
    bounds = eval(ranges, {"__builtins__": {}}, {"pi": math.pi})  # a literal of numbers and pi only
    return list(eq.variables), eq.expr, _torch_fn(eq.expr, list(eq.variables)), bounds


def _torch_fn(expr: sympy.Expr, symbols: list[sympy.Symbol]) -> Callable[[torch.Tensor], torch.Tensor]:
    module = to_torch_module([expr], symbols)

    def f(x: torch.Tensor) -> torch.Tensor:
        return module(x)

    return f
