"""The formula -> KAN compiler: a KAN whose edges are fixed symbolic functions and that evaluates ``expr`` exactly.

The expression is read as a tree of sums, products and unary functions: every sum is a sum node, every product
of non-constant factors a multiplication node (KAN 2.0) whose arity is the number of factors, and every unary
library function (with an affine argument and a constant factor) an edge. Each factor of a product is one subnode:
a sum of edges plus a constant. Paths are padded with identity edges so that all nodes of one depth form a layer;
in a layer the sum nodes come first, then the products. Reading the model back with ``symbolic_formula`` gives the
formula again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import sympy
import torch

from ..model import KAN
from .library import DEFAULT_LIBRARY, SymbolicLibrary

__all__ = ["kanpiler"]

_FUNCTIONS = {
    sympy.sin: "sin", sympy.cos: "cos", sympy.tan: "tan", sympy.exp: "exp", sympy.log: "log", sympy.tanh: "tanh",
    sympy.Abs: "abs", sympy.sign: "sgn", sympy.asin: "arcsin", sympy.acos: "arccos", sympy.atan: "arctan",
    sympy.atanh: "arctanh",
}
_POWERS = {2: "x^2", 3: "x^3", 4: "x^4", 5: "x^5", -1: "1/x", -2: "1/x^2", -3: "1/x^3", -4: "1/x^4", -5: "1/x^5",
           0.5: "sqrt", 1.5: "x^1.5", -0.5: "1/sqrt(x)"}


@dataclass(eq=False)
class _Input:
    index: int
    depth: int = 0


@dataclass(eq=False)
class _Edge:
    name: str
    a: float
    b: float
    c: float
    d: float
    src: "_Input | _Sum"


@dataclass(eq=False)
class _Sum:
    """A sum node, or one factor (subnode) of a product: the sum of its edges plus a constant."""

    edges: list[_Edge] = field(default_factory=list)
    const: float = 0.0

    @property
    def depth(self) -> int:
        return 1 + max(e.src.depth for e in self.edges)

    @property
    def subnodes(self) -> list["_Sum"]:
        return [self]


@dataclass(eq=False)
class _Prod:
    """A multiplication node: the product of its factors, each a subnode."""

    factors: list[_Sum]

    @property
    def depth(self) -> int:
        return max(f.depth for f in self.factors)

    @property
    def subnodes(self) -> list[_Sum]:
        return self.factors


class _Compiler:
    def __init__(self, symbols: Sequence[sympy.Symbol]):
        self.inputs = {s: _Input(k) for k, s in enumerate(symbols)}

    def to_sum(self, expr: sympy.Expr) -> _Sum:
        node = _Sum()
        for term in sympy.Add.make_args(sympy.sympify(expr)):
            if not term.free_symbols:
                node.const += float(term)
                continue
            coef, rest = term.as_independent(*self.inputs, as_Add=False)
            edge = self.to_edge(rest)
            edge.c *= float(coef)
            edge.d *= float(coef)
            node.edges.append(edge)
        return node

    def to_edge(self, g: sympy.Expr) -> _Edge:
        if g in self.inputs:
            return _Edge("x", 1.0, 0.0, 1.0, 0.0, self.inputs[g])
        if g.is_Symbol:
            raise ValueError(f"kanpiler: symbol {g} is not among the input symbols {list(self.inputs)}")
        if g.is_Mul:  # the constant factor was split off by the caller: every factor here varies
            return _Edge("x", 1.0, 0.0, 1.0, 0.0, _Prod([self.to_sum(f) for f in g.args]))
        if g.is_Pow:
            base, exp = g.args
            if not exp.is_Number:
                raise NotImplementedError(f"kanpiler: power with a non-constant exponent, {g}")
            e = float(exp)
            key = int(e) if e.is_integer() else e
            if key not in _POWERS:
                raise NotImplementedError(f"kanpiler: no library function for x^{exp} (in {g})")
            return self._unary(_POWERS[key], base)
        name = _FUNCTIONS.get(type(g))
        if name is None:
            raise NotImplementedError(f"kanpiler: {type(g).__name__} ({g}) is not in the symbolic library")
        return self._unary(name, g.args[0])

    def _unary(self, name: str, arg: sympy.Expr) -> _Edge:
        if not arg.free_symbols:
            raise NotImplementedError(f"kanpiler: constant sub-expression {arg} should have been evaluated")
        b, rest = arg.as_independent(*self.inputs, as_Add=True)
        a, core = rest.as_independent(*self.inputs, as_Add=False)
        if core in self.inputs:
            return _Edge(name, float(a), float(b), 1.0, 0.0, self.inputs[core])
        return _Edge(name, 1.0, 0.0, 1.0, 0.0, self.to_sum(arg))


def _split_duplicates(node: _Sum | _Prod, seen: set[int]) -> None:
    """One edge per (source, subnode) pair: a second edge from the same source goes through its own sum node."""
    if id(node) in seen:
        return
    seen.add(id(node))
    for sub in node.subnodes:
        sources: set[int] = set()
        for k, e in enumerate(sub.edges):
            if isinstance(e.src, (_Sum, _Prod)):
                _split_duplicates(e.src, seen)
            if id(e.src) in sources:
                inner = _Sum([_Edge(e.name, e.a, e.b, 1.0, 0.0, e.src)])
                sub.edges[k] = _Edge("x", 1.0, 0.0, e.c, e.d, inner)
            sources.add(id(sub.edges[k].src))


def _pad(node: _Sum | _Prod, seen: set[int]) -> None:
    """Insert identity sums so that every edge into a node's subnodes comes from exactly one level below."""
    if id(node) in seen:
        return
    seen.add(id(node))
    for sub in node.subnodes:
        for e in sub.edges:
            if isinstance(e.src, (_Sum, _Prod)):
                _pad(e.src, seen)
    target = node.depth - 1  # a product's factors all sit at the product's level
    for sub in node.subnodes:
        for e in sub.edges:
            while e.src.depth < target:
                e.src = _Sum([_Edge("x", 1.0, 0.0, 1.0, 0.0, e.src)])


def kanpiler(input_symbols: Sequence[sympy.Symbol | str], expr: sympy.Expr | Sequence[sympy.Expr],
             library: SymbolicLibrary = DEFAULT_LIBRARY, dtype: torch.dtype | None = None,
             device: torch.device | str | None = None) -> KAN:
    """Build a KAN that evaluates ``expr`` (one expression or a list, one per output) over ``input_symbols``."""
    symbols = [sympy.Symbol(s) if isinstance(s, str) else s for s in input_symbols]
    if not symbols:
        raise ValueError("kanpiler needs at least one input symbol")
    exprs = list(expr) if isinstance(expr, (list, tuple)) else [expr]
    comp = _Compiler(symbols)
    roots = [comp.to_sum(sympy.sympify(e)) for e in exprs]
    for r in roots:
        if not r.edges:  # a constant: carry it on a zero edge
            r.edges.append(_Edge("0", 1.0, 0.0, 0.0, 0.0, comp.inputs[symbols[0]]))
    seen: set[int] = set()
    for r in roots:
        _split_duplicates(r, seen)
    depth = max(r.depth for r in roots)
    for k, r in enumerate(roots):
        while r.depth < depth:  # equal depth for every output
            r = _Sum([_Edge("x", 1.0, 0.0, 1.0, 0.0, r)])
        roots[k] = r
    seen = set()
    for r in roots:
        _pad(r, seen)
    # collect the nodes of every level, outputs last; in a level the sums come before the products
    levels: list[list] = [[comp.inputs[s] for s in symbols]]
    frontier: list = roots
    upper: list[list] = [roots]
    for _ in range(depth - 1):
        nxt: list = []
        for node in frontier:
            for sub in node.subnodes:
                for e in sub.edges:
                    if isinstance(e.src, (_Sum, _Prod)) and all(e.src is not n for n in nxt):
                        nxt.append(e.src)
        nxt = [n for n in nxt if isinstance(n, _Sum)] + [n for n in nxt if isinstance(n, _Prod)]
        upper.append(nxt)
        frontier = nxt
    levels.extend(reversed(upper))
    index = {id(n): k for lvl in levels for k, n in enumerate(lvl)}
    width = [len(levels[0])] + [[sum(isinstance(n, _Sum) for n in lvl), sum(isinstance(n, _Prod) for n in lvl)]
                                for lvl in levels[1:]]
    arity = [[len(n.factors) for n in lvl if isinstance(n, _Prod)] for lvl in levels]
    model = KAN(width=width, mult_arity=arity, grid=1, k=1, dtype=dtype, device=device, noise_scale=0.0)
    with torch.no_grad():
        for layer in model.layers:
            layer.mask.zero_()
    for l in range(depth):
        spec = model.nodes[l + 1]
        for j, node in enumerate(levels[l + 1]):
            for sub, sub_id in zip(node.subnodes, spec.subnodes(j)):
                for n_edge, e in enumerate(sub.edges):
                    d = e.d + (sub.const if n_edge == 0 else 0.0)
                    sym = model.symbolic[l]
                    sym.library = sym.library.merged(library)
                    sym.set_edge(index[id(e.src)], sub_id, name=e.name, affine=[e.a, e.b, e.c, d], active=True)
    return model
