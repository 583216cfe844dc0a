"""Reading a formula off a symbolic KAN, and making it readable: rounding and snapping constants."""

from __future__ import annotations

import math
from typing import Sequence

import sympy
import torch

from ..model import KAN

__all__ = ["symbolic_formula", "ex_round", "snap_constants", "simplify_formula", "numeric_edges"]


def numeric_edges(model: KAN) -> list[tuple[int, int, int]]:
    """Edges (l, i, j) whose numeric spline is still on."""
    return [(l, i, j) for l, layer in enumerate(model.layers) for i, j in torch.nonzero(layer.mask).tolist()]


def _symbols(var, n: int) -> list[sympy.Expr]:
    if var is None:
        return list(sympy.symbols(f"x_1:{n + 1}"))
    var = [sympy.Symbol(v) if isinstance(v, str) else v for v in var]
    if len(var) != n:
        raise ValueError(f"var has {len(var)} entries but the model has {n} inputs")
    return var


def symbolic_formula(model: KAN, var: Sequence | None = None, simplify: bool = False, n_digit: int | None = None,
                     tol: float = 1e-6) -> tuple[list[sympy.Expr], list[sympy.Expr]]:
    """([one sympy expression per output], input symbols) of a model whose active edges are all symbolic.

    The affine compositions come out expanded (``1.0*exp(1.0*x_2**2 + 1.0*sin(3.1416*x_1))`` after ``ex_round(.,
    4)``, as pykan prints it), so that each printed coefficient can be rounded on its own.
    var: input names (strings or sympy symbols; default x_1 .. x_n). simplify: snap constants close to integers,
    simple fractions and multiples of pi (relative tolerance ``tol``) and drop negligible terms. n_digit: round
    the remaining floats. Numeric edges left raise ValueError: call ``auto_symbolic`` or ``fix_symbolic`` first.
    """
    left = numeric_edges(model)
    if left:
        shown = ", ".join(map(str, left[:8])) + (" ..." if len(left) > 8 else "")
        raise ValueError(f"{len(left)} edge(s) are still numeric splines: {shown}; fix them with auto_symbolic() "
                         "or fix_symbolic() before asking for a formula")
    inputs = _symbols(var, model.width[0])
    nodes: list[sympy.Expr] = list(inputs)
    for l, sym in enumerate(model.symbolic):
        out: list[sympy.Expr] = [sympy.Integer(0)] * sym.out_dim  # one per subnode
        affine = sym.affine.detach().double().cpu()
        for i, j in torch.nonzero(sym.mask).tolist():
            a, b, c, d = (sympy.Float(float(v)) for v in affine[i, j])
            f = sym.library[sym.names[i][j]].sympy_fn
            out[j] = out[j] + c * f(a * nodes[i] + b) + d
        nodes = model.nodes[l + 1].combine_values(out)  # multiplication nodes: the product of their subnodes
    # expand the affine compositions (c * (a x + b)^2 + d -> c a^2 x^2 + ...), inside function arguments too, so
    # that every coefficient stands alone and rounding one (ex_round) changes the function by that much only;
    # exp(u + v) and log(u v) stay as they are
    nodes = [_expand_affine(e) for e in nodes]
    if simplify:
        nodes = [simplify_formula(e, tol) for e in nodes]
    if n_digit is not None:
        nodes = [ex_round(e, n_digit) for e in nodes]
    return nodes, inputs


def _expand_affine(expr: sympy.Expr) -> sympy.Expr:
    """Expand powers of sums and distribute constants, inside function arguments too, but leave products of sums
    factored: a multiplication node's (a x + b)(c y + d) stays a product (multiplying it out grows exponentially
    with depth and arity; :func:`simplify_formula` does it on request)."""
    return sympy.expand(expr, deep=True, mul=False, multinomial=True, power_exp=False, power_base=False, log=False,
                        trig=False)


def ex_round(expr: sympy.Expr, n_digit: int) -> sympy.Expr:
    """Round every float in ``expr`` to ``n_digit`` decimals."""
    return expr.xreplace({f: sympy.Float(round(float(f), n_digit)) for f in expr.atoms(sympy.Float)})


def _snap(v: float, tol: float, zero_tol: float) -> sympy.Expr | None:
    """The closest of p/q, p pi/q and p/(q pi) (q <= 12) within relative ``tol`` of v (the simplest on a tie)."""
    if abs(v) < zero_tol:
        return sympy.Integer(0)
    candidates: list[tuple[float, int, sympy.Expr]] = []
    for q in range(1, 13):
        for scale, make in ((1.0, lambda p, q: sympy.Rational(p, q)),
                            (math.pi, lambda p, q: sympy.pi * sympy.Rational(p, q)),
                            (1.0 / math.pi, lambda p, q: sympy.Rational(p, q) / sympy.pi)):
            p = round(v * q / scale)
            err = abs(v - p * scale / q)
            if p != 0 and err <= tol * abs(v):
                candidates.append((err, q, make(p, q)))
    return min(candidates, key=lambda c: (c[0], c[1]))[2] if candidates else None


def snap_constants(expr: sympy.Expr, tol: float = 1e-6, zero_tol: float = 1e-6) -> sympy.Expr:
    """Replace floats within relative ``tol`` of p/q (q <= 12), p pi/q or p/(q pi) by the exact constant, and floats
    below ``zero_tol`` in size by 0."""
    repl = {}
    for f in expr.atoms(sympy.Float):
        s = _snap(float(f), tol, zero_tol)
        if s is not None:
            repl[f] = s
    return expr.xreplace(repl)


def simplify_formula(expr: sympy.Expr, tol: float = 1e-6) -> sympy.Expr:
    """Expand products and powers inside every function (not exp of sums), snap constants, tidy up."""
    expanded = sympy.expand(expr, power_exp=False, power_base=False, log=False, deep=True)
    snapped = snap_constants(expanded, tol)
    # a second pass: snapping can expose new products of exact constants and small leftover floats
    return snap_constants(sympy.expand(snapped, power_exp=False, power_base=False, log=False, deep=True), tol)
