"""symbolic/formula.py with expectations written out by hand: which constants snap to what, rounding, the formula
of a hand-built symbolic model, and the error messages."""

import math

import pytest
import sympy
import torch

from kanlab import KAN
from kanlab.symbolic.formula import _snap, ex_round, numeric_edges, simplify_formula, snap_constants

x, y = sympy.symbols("x y")


@pytest.mark.parametrize("v,want", [
    (0.5, sympy.Rational(1, 2)), (-3.0, sympy.Integer(-3)), (2 / 3, sympy.Rational(2, 3)),
    (5 / 12, sympy.Rational(5, 12)), (math.pi, sympy.pi), (-math.pi / 12, -sympy.pi / 12),
    (3 * math.pi / 11, 3 * sympy.pi / 11), (1 / math.pi, 1 / sympy.pi),
    (2 / (7 * math.pi), sympy.Rational(2, 7) / sympy.pi),
    (1e-7, sympy.Integer(0)), (-9e-7, sympy.Integer(0)),
])
def test_snap_finds_the_constant(v, want):
    assert _snap(v, 1e-6, 1e-6) == want


@pytest.mark.parametrize("v", [0.123456, 5 / 13, math.e, 1.5e-6 * 7])
def test_snap_leaves_other_numbers_alone(v):
    assert _snap(v, 1e-6, 1e-6) is None


def test_snap_tolerances_are_relative_and_inclusive():
    assert _snap(0.5 * (1 + 1e-6), 1e-6, 1e-6) == sympy.Rational(1, 2)  # err = tol * |v| (to rounding) snaps
    assert _snap(0.5 * (1 + 3e-6), 1e-6, 1e-6) is None
    assert _snap(0.5 * (1 + 3e-6), 1e-5, 1e-6) == sympy.Rational(1, 2)
    assert _snap(2e-6, 1e-6, 1e-6) is None and _snap(2e-6, 1e-6, 3e-6) == 0  # zero_tol is its own threshold
    assert _snap(12.0, 1e-6, 1e-6) == 12 and _snap(1 / 12, 1e-6, 1e-6) == sympy.Rational(1, 12)
    assert _snap(1 / 13, 1e-6, 1e-6) is None  # q stops at 12


def test_snap_prefers_the_closest_then_the_simplest():
    # 0.3333334 is within 1e-6 of 1/3 only; 1.0 is 1/1 and also 2/2 ...: the smallest q wins a tie
    assert _snap(0.3333334, 1e-6, 1e-6) == sympy.Rational(1, 3)
    v = 1.0471976  # pi/3 to 8 digits: closer to pi/3 than any p/q with q <= 12
    assert _snap(v, 1e-6, 1e-6) == sympy.pi / 3


def test_snap_constants_and_ex_round():
    e = (sympy.Float(0.5000000001) * x + sympy.Float(3.14159265358979) * y + sympy.Float(1e-9) * x * y
         + sympy.Float(0.1234) * sympy.sin(x))
    assert snap_constants(e) == x / 2 + sympy.pi * y + sympy.Float(0.1234) * sympy.sin(x)
    assert snap_constants(sympy.Float(0.25 + 1e-5) * x, tol=1e-4) == x / 4
    assert snap_constants(sympy.Float(0.25 + 1e-5) * x) == sympy.Float(0.25 + 1e-5) * x
    assert snap_constants(sympy.Float(2e-6) * x, zero_tol=1e-5) == 0
    assert snap_constants(sympy.Float(2e-6) + x) == sympy.Float(2e-6) + x
    assert ex_round(sympy.Float(1.23456) * x + sympy.Float(0.98765), 2) == sympy.Float(1.23) * x + sympy.Float(0.99)


def test_simplify_formula_expands_snaps_and_snaps_again():
    e = sympy.Float(2.0) * (sympy.Float(0.5000000001) * x + 1) ** 2
    assert simplify_formula(e) == x ** 2 / 2 + 2 * x + 2
    assert simplify_formula(sympy.sin(sympy.Float(0.5) * (x + sympy.Float(2.0)))) == sympy.sin(x / 2 + 1)
    assert simplify_formula(sympy.Float(1.0000003) * x, tol=1e-7) == sympy.Float(1.0000003) * x


def _symbolic_model() -> KAN:
    """[2, 1, 1]: node = 2 sin(3 x_1 + 0.5) - 1 + 0.5 x_2^2; output = exp(node) (c = 1, d = 0)."""
    model = KAN(width=[2, 1, 1], grid=3, k=3, seed=0, dtype=torch.float64)
    model.fix_symbolic(0, 0, 0, "sin", fit_params=False)
    model.fix_symbolic(0, 1, 0, "x^2", fit_params=False)
    model.fix_symbolic(1, 0, 0, "exp", fit_params=False)
    with torch.no_grad():
        model.symbolic[0].affine[0, 0] = torch.tensor([3.0, 0.5, 2.0, -1.0], dtype=torch.float64)
        model.symbolic[0].affine[1, 0] = torch.tensor([1.0, 0.0, 0.5, 0.0], dtype=torch.float64)
        model.symbolic[1].affine[0, 0] = torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    return model


def test_symbolic_formula_of_a_hand_built_model():
    model = _symbolic_model()
    (expr,), inputs = model.symbolic_formula(simplify=True)
    x1, x2 = sympy.symbols("x_1 x_2")
    assert inputs == [x1, x2]
    want = sympy.exp(2 * sympy.sin(3 * x1 + sympy.Rational(1, 2)) - 1 + x2 ** 2 / 2)
    for a, b in [(0.3, -0.7), (-0.9, 0.2), (0.0, 1.0)]:
        assert float(expr.subs({x1: a, x2: b})) == pytest.approx(float(want.subs({x1: a, x2: b})), rel=1e-12)
    assert {sympy.Rational(1, 2), 2, 3} <= expr.atoms(sympy.Number)  # the constants came out exact
    (named,), inputs = model.symbolic_formula(var=["a", sympy.Symbol("b")])
    assert inputs == list(sympy.symbols("a b")) and named.free_symbols == set(sympy.symbols("a b"))
    (rounded,), _ = model.symbolic_formula(n_digit=1)
    assert sympy.Float(0.5) in rounded.atoms(sympy.Float) and all(round(float(f), 1) == float(f)
                                                                  for f in rounded.atoms(sympy.Float))
    t = torch.tensor([[0.3, -0.7]], dtype=torch.float64)
    f = sympy.lambdify(sympy.symbols("x_1 x_2"), expr)
    assert f(0.3, -0.7) == pytest.approx(float(model(t)), rel=1e-12)


def test_symbolic_formula_expands_affine_compositions():
    (expr,), _ = _symbolic_model().symbolic_formula()
    x1 = sympy.Symbol("x_1")
    # the argument of sin is expanded to 3.0*x_1 + 0.5, each coefficient standing alone
    (s,) = [a for a in expr.atoms(sympy.sin)]
    assert s.args[0] == sympy.Float(3.0) * x1 + sympy.Float(0.5)


def test_formula_errors_name_the_problem():
    model = KAN(width=[2, 5, 1], grid=3, seed=0)
    assert numeric_edges(model)[:3] == [(0, 0, 0), (0, 0, 1), (0, 0, 2)] and len(numeric_edges(model)) == 15
    with pytest.raises(ValueError, match=r"^15 edge\(s\) are still numeric splines: \(0, 0, 0\), \(0, 0, 1\), .*"
                                         r"\(0, 1, 2\) \.\.\.; fix them with auto_symbolic\(\) or fix_symbolic\(\) "
                                         r"before asking for a formula$"):
        model.symbolic_formula()
    small = KAN(width=[1, 1], grid=3, seed=0)
    with pytest.raises(ValueError, match=r"^1 edge\(s\) are still numeric splines: \(0, 0, 0\); fix"):
        small.symbolic_formula()
    small.fix_symbolic(0, 0, 0, "x", fit_params=False)
    with pytest.raises(ValueError, match="var has 2 entries but the model has 1 inputs"):
        small.symbolic_formula(var=["a", "b"])


def test_expansion_keeps_what_it_promises_to_keep():
    """Powers of sums are expanded, inside function arguments too; products of sums, exp of sums, log of products
    and trigonometric sums are left alone (symbols declared positive, so that sympy could split the log)."""
    from kanlab.symbolic.formula import _expand_affine

    p, q = sympy.symbols("p q", positive=True)
    e = (sympy.sin(p * (q + 1)) + sympy.sin((p + 1) ** 2) + sympy.exp(2 * p + 2 * q) + sympy.log(p * q)
         + (p + 1) ** 2 * q + (p + 1) * (q + 2) + sympy.cos(p + q))
    want = (sympy.sin(p * (q + 1)) + sympy.sin(p ** 2 + 2 * p + 1) + sympy.exp(2 * p + 2 * q) + sympy.log(p * q)
            + q * (p ** 2 + 2 * p + 1) + (p + 1) * (q + 2) + sympy.cos(p + q))
    assert str(_expand_affine(e)) == str(want)
    simple = simplify_formula(sympy.exp(p + q) + sympy.log(p * q) + sympy.Float(0.1234) * p + sympy.sin((p + 1) ** 2))
    assert str(simple) == str(sympy.Float(0.1234) * p + sympy.exp(p + q) + sympy.log(p * q)
                              + sympy.sin(p ** 2 + 2 * p + 1))


def test_snap_boundaries():
    assert _snap(1e-6, 1e-6, 1e-6) is None  # zero_tol is strict
    assert _snap(0.5, 0.0, 1e-6) == sympy.Rational(1, 2)  # an exact match passes a zero tolerance
    assert _snap(0.524, 0.1, 1e-6) == sympy.pi / 6  # the closest wins over the simpler 1/2 (also within 10%)


def test_formula_defaults_and_message_cut():
    model = _symbolic_model()
    (plain,), _ = model.symbolic_formula()
    assert plain.atoms(sympy.Float)  # not simplified by default
    with torch.no_grad():
        model.symbolic[0].affine[1, 0, 2] = 0.501
    (loose,), _ = model.symbolic_formula(simplify=True, tol=1e-2)
    assert sympy.Rational(1, 2) in loose.atoms(sympy.Rational) and not loose.atoms(sympy.Float)
    eight = KAN(width=[2, 4], grid=3, seed=0)
    with pytest.raises(ValueError, match=r"\(0, 1, 3\); fix them"):  # 8 edges: all shown, no ' ...'
        eight.symbolic_formula()
    nine = KAN(width=[3, 3], grid=3, seed=0)
    with pytest.raises(ValueError, match=r"\(0, 2, 1\) \.\.\.; fix them"):  # 9: the first 8, then ' ...'
        nine.symbolic_formula()
    assert str(simplify_formula(sympy.Float(0.1234) * x)) == "0.1234*x"  # the default tolerance is tight


def test_formula_of_a_multiplication_node():
    model = KAN(width=[2, [0, 1], 1], mult_arity=2, grid=3, seed=0, dtype=torch.float64)
    model.fix_symbolic(0, 0, 0, "x", fit_params=False)
    model.fix_symbolic(0, 1, 1, "sin", fit_params=False)
    model.fix_symbolic(1, 0, 0, "x", fit_params=False)
    with torch.no_grad():  # the product's subnodes: x_1 and sin(x_2); the cross edges off
        model.layers[0].mask[0, 1] = model.layers[0].mask[1, 0] = 0.0
    (expr,), (x1, x2) = model.symbolic_formula(simplify=True)
    assert sympy.simplify(expr - x1 * sympy.sin(x2)) == 0
