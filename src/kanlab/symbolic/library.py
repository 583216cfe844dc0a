"""The symbolic function library: an immutable table of name -> (torch function, sympy function, complexity,
singularity-safe torch variant).

A library is a value, passed as an argument; nothing here is changed at run time. Build a new one with
``library.with_function(...)`` or ``library.subset([...])``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Iterable, Iterator, Mapping

import sympy
import torch
from torch import Tensor

__all__ = ["SymbolicFunction", "SymbolicLibrary", "DEFAULT_LIBRARY"]

TorchFn = Callable[[Tensor], Tensor]
SafeFn = Callable[[Tensor, float], Tensor]


@dataclass(frozen=True)
class SymbolicFunction:
    """One library entry. ``safe(x, y_th)`` equals ``torch_fn(x)`` away from singularities and stays finite (with
    finite gradients) near them, with |output| bounded by about y_th."""

    name: str
    torch_fn: TorchFn
    sympy_fn: Callable[[sympy.Expr], sympy.Expr]
    complexity: float
    safe: SafeFn

    def __call__(self, x: Tensor) -> Tensor:
        return self.torch_fn(x)


class SymbolicLibrary(Mapping[str, SymbolicFunction]):
    """An immutable, ordered mapping of function names to :class:`SymbolicFunction`."""

    def __init__(self, functions: Iterable[SymbolicFunction]):
        table: dict[str, SymbolicFunction] = {}
        for fn in functions:
            if fn.name in table:
                raise ValueError(f"duplicate symbolic function name {fn.name!r}")
            table[fn.name] = fn
        self._table = MappingProxyType(table)

    def __getitem__(self, name: str) -> SymbolicFunction:
        try:
            return self._table[name]
        except KeyError:
            raise KeyError(f"unknown symbolic function {name!r}; valid names: {', '.join(self._table)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def __repr__(self) -> str:
        return f"SymbolicLibrary({list(self._table)})"

    def __deepcopy__(self, memo) -> "SymbolicLibrary":
        return self  # immutable

    def __reduce__(self):
        # entries of the default library pickle by name (their functions are lambdas); others by value
        if all(_DEFAULT_ENTRIES.get(n) is f for n, f in self._table.items()):
            return (_default_subset, (list(self._table),))
        return (SymbolicLibrary, (list(self._table.values()),))

    def merged(self, other: "SymbolicLibrary") -> "SymbolicLibrary":
        """This library plus the entries of ``other`` it lacks (``other`` wins on a name clash)."""
        if other is self:
            return self
        return SymbolicLibrary([f for f in self._table.values() if f.name not in other] + list(other.values()))

    def get_function(self, name: str) -> SymbolicFunction:
        """Like ``lib[name]`` but raises ValueError (listing the valid names) for an unknown name."""
        if name not in self._table:
            raise ValueError(f"unknown symbolic function {name!r}; valid names: {', '.join(self._table)}")
        return self._table[name]

    def with_function(self, name: str, torch_fn: TorchFn, sympy_fn: Callable, complexity: float = 1,
                      safe: SafeFn | None = None) -> "SymbolicLibrary":
        """A new library with one more (or one replaced) function. ``safe`` defaults to the plain function."""
        if not isinstance(name, str) or not name:
            raise ValueError("a symbolic function needs a non-empty name")
        entry = SymbolicFunction(name, torch_fn, sympy_fn, float(complexity), safe or (lambda x, y_th: torch_fn(x)))
        return SymbolicLibrary([f for f in self._table.values() if f.name != name] + [entry])

    def subset(self, names: Iterable[str] | None) -> "SymbolicLibrary":
        """The entries named, in the given order (None: this library). Unknown names raise ValueError."""
        if names is None:
            return self
        return SymbolicLibrary([self.get_function(n) for n in names])


# ---------------------------------------------------------------------------------------------------- safe variants
def _away_from_zero(x: Tensor, x_th: float) -> Tensor:
    """x with |x| raised to at least x_th, keeping the sign (0 goes to +x_th)."""
    sign = torch.where(x < 0, -torch.ones_like(x), torch.ones_like(x))
    return sign * torch.clamp(x.abs(), min=x_th)


def _inv_power(n: int) -> SafeFn:
    return lambda x, y_th: _away_from_zero(x, y_th ** (-1.0 / n)) ** (-n)


def _safe_sqrt(x: Tensor, y_th: float) -> Tensor:
    return torch.sqrt(torch.clamp(x, min=1.0 / y_th**2))


def _safe_inv_sqrt(x: Tensor, y_th: float) -> Tensor:
    return torch.rsqrt(torch.clamp(x, min=1.0 / y_th**2))


def _safe_log(x: Tensor, y_th: float) -> Tensor:
    floor = max(math.exp(-y_th), torch.finfo(x.dtype).tiny) if x.is_floating_point() else math.exp(-y_th)
    return torch.log(torch.clamp(x, min=floor))


def _safe_exp(x: Tensor, y_th: float) -> Tensor:
    # exp has no singularity, only overflow: clamping at log(y_th) would change the function wherever a fitted
    # edge c * exp(a x + b) uses a large b with a tiny c, so only guard against overflow (float32 included)
    return torch.exp(torch.clamp(x, max=80.0))


def _safe_tan(x: Tensor, y_th: float) -> Tensor:
    # distance to the nearest pole pi/2 + k pi kept above delta, so |tan| <= y_th
    delta = math.pi / 2 - math.atan(y_th)
    shifted = torch.remainder(x + math.pi / 2, math.pi)  # 0 at a pole
    shifted = torch.clamp(shifted, delta, math.pi - delta)
    return torch.tan(shifted - math.pi / 2)


def _clip_unit(fn: TorchFn) -> SafeFn:
    return lambda x, y_th: fn(torch.clamp(x, -1.0 + 1e-7, 1.0 - 1e-7))


def _safe_arctanh(x: Tensor, y_th: float) -> Tensor:
    lim = min(math.tanh(y_th), 1.0 - 1e-7)
    return torch.atanh(torch.clamp(x, -lim, lim))


def _plain(fn: TorchFn) -> SafeFn:
    return lambda x, y_th: fn(x)


def _entry(name: str, fn: TorchFn, sym: Callable, complexity: float, safe: SafeFn | None = None) -> SymbolicFunction:
    return SymbolicFunction(name, fn, sym, float(complexity), safe or _plain(fn))


_sqrt = torch.sqrt


def _inv_sqrt(x: Tensor) -> Tensor:
    return 1 / torch.sqrt(x)


def _default_subset(names: list[str]) -> SymbolicLibrary:
    return DEFAULT_LIBRARY.subset(names)


DEFAULT_LIBRARY = SymbolicLibrary([
    _entry("x", lambda x: x, lambda x: x, 1),
    _entry("x^2", lambda x: x**2, lambda x: x**2, 2),
    _entry("x^3", lambda x: x**3, lambda x: x**3, 3),
    _entry("x^4", lambda x: x**4, lambda x: x**4, 3),
    _entry("x^5", lambda x: x**5, lambda x: x**5, 3),
    _entry("1/x", lambda x: 1 / x, lambda x: 1 / x, 2, _inv_power(1)),
    _entry("1/x^2", lambda x: 1 / x**2, lambda x: 1 / x**2, 2, _inv_power(2)),
    _entry("1/x^3", lambda x: 1 / x**3, lambda x: 1 / x**3, 3, _inv_power(3)),
    _entry("1/x^4", lambda x: 1 / x**4, lambda x: 1 / x**4, 4, _inv_power(4)),
    _entry("1/x^5", lambda x: 1 / x**5, lambda x: 1 / x**5, 5, _inv_power(5)),
    _entry("sqrt", _sqrt, sympy.sqrt, 2, _safe_sqrt),
    _entry("x^0.5", _sqrt, sympy.sqrt, 2, _safe_sqrt),
    _entry("x^1.5", lambda x: torch.sqrt(x) ** 3, lambda x: sympy.sqrt(x) ** 3, 4,
           lambda x, y_th: torch.clamp(x, min=0) ** 1.5),
    _entry("1/sqrt(x)", _inv_sqrt, lambda x: 1 / sympy.sqrt(x), 2, _safe_inv_sqrt),
    _entry("1/x^0.5", _inv_sqrt, lambda x: 1 / sympy.sqrt(x), 2, _safe_inv_sqrt),
    _entry("exp", torch.exp, sympy.exp, 2, _safe_exp),
    _entry("log", torch.log, sympy.log, 2, _safe_log),
    _entry("abs", torch.abs, sympy.Abs, 3),
    _entry("sin", torch.sin, sympy.sin, 2),
    _entry("cos", torch.cos, sympy.cos, 2),
    _entry("tan", torch.tan, sympy.tan, 3, _safe_tan),
    _entry("tanh", torch.tanh, sympy.tanh, 3),
    _entry("sgn", torch.sign, sympy.sign, 3),
    _entry("arcsin", torch.arcsin, sympy.asin, 4, _clip_unit(torch.arcsin)),
    _entry("arccos", torch.arccos, sympy.acos, 4, _clip_unit(torch.arccos)),
    _entry("arctan", torch.arctan, sympy.atan, 4),
    _entry("arctanh", torch.arctanh, sympy.atanh, 4, _safe_arctanh),
    _entry("0", torch.zeros_like, lambda x: sympy.Integer(0), 0),
    _entry("gaussian", lambda x: torch.exp(-(x**2)), lambda x: sympy.exp(-(x**2)), 3),
])
_DEFAULT_ENTRIES: dict[str, SymbolicFunction] = dict(DEFAULT_LIBRARY.items())
