"""kanlab.discovery.symmetry: pairs of inputs that enter only through their ratio, product, difference or sum,
found from a function's gradient and replaced by one variable; and the split candidate searching the reduced
problem."""

from __future__ import annotations

import numpy as np
import sympy
import torch

from kanlab import discover
from kanlab.discovery import Candidate, Scaling
from kanlab.discovery.symmetry import reduce, reduced_data, user_gradient


def _rows(n: int, ranges: list[tuple[float, float]], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(lo, hi, n) for lo, hi in ranges], axis=1)


def _gradient(fn, x: np.ndarray) -> np.ndarray:
    """The exact gradient of a torch function of x's columns: (N, n)."""
    xt = torch.tensor(x, requires_grad=True)
    (g,) = torch.autograd.grad(fn(*xt.T).sum(), xt)
    return g.numpy()


def _reduced(fn, x: np.ndarray, names: str) -> list[sympy.Expr] | None:
    symbols = sympy.symbols(names, real=True)
    found = reduce(_gradient(fn, x), x, x, symbols)
    return None if found is None else [v.expr for v in found]


def _same_variable(found: sympy.Expr, truth: sympy.Expr) -> bool:
    """found is truth, -truth or 1/truth (the reduced problem's formula absorbs either)."""
    return any(sympy.simplify(found - t) == 0 for t in (truth, -truth, 1 / truth))


def test_a_ratio_is_found_and_the_other_inputs_kept():
    # Feynman I.10.7: m0 / sqrt(1 - v^2/c^2)
    x = _rows(300, [(1, 5), (1, 2), (3, 10)])
    found = _reduced(lambda m0, v, c: m0 / torch.sqrt(1 - v ** 2 / c ** 2), x, "m0 v c")
    m0, v, c = sympy.symbols("m0 v c", real=True)
    assert len(found) == 2 and found[0] == m0 and _same_variable(found[1], v / c)


def test_products_and_ratios_chain_into_one_variable_also_across_signs():
    # Feynman I.40.1: n_0 exp(-g m x / (k_b T)); g, m and x take both signs: products need no sign, a ratio
    # divides by the input that keeps one
    x = _rows(300, [(0.1, 1), (-1, 1), (-1, 1), (-1, 1), (1, 2), (1, 2)])
    found = _reduced(lambda n0, m, g, xx, k, t: n0 * torch.exp(-g * m * xx / (k * t)), x, "n0 m g x k T")
    n0, m, g, xx, k, t = sympy.symbols("n0 m g x k T", real=True)
    assert len(found) == 2 and found[0] == n0 and _same_variable(found[1], g * m * xx / (k * t))


def test_differences_are_found():
    # Feynman I.8.4: the distance between two points
    x = _rows(300, [(-1, 1)] * 4)
    found = _reduced(lambda x1, x2, y1, y2: torch.sqrt((x2 - x1) ** 2 + (y2 - y1) ** 2), x, "x1 x2 y1 y2")
    x1, x2, y1, y2 = sympy.symbols("x1 x2 y1 y2", real=True)
    assert len(found) == 2 and _same_variable(found[0], x1 - x2) and _same_variable(found[1], y1 - y2)


def test_no_symmetry_gives_none():
    x = _rows(300, [(-1, 1)] * 3)
    assert _reduced(lambda a, b, c: torch.exp(a * b) + a * c, x, "a b c") is None
    # a ratio needs a denominator of one sign: b crosses 0 and a does not, so b/a, never a/b
    x = _rows(300, [(1, 2), (-1, 1)])
    a, b = sympy.symbols("a b", real=True)
    assert _reduced(lambda a, b: torch.sin(3 * b / a), x, "a b") == [b / a]


def test_reduced_data_keeps_user_inputs_and_writes_new_variables_back():
    x = _rows(200, [(1, 5), (1, 2), (3, 10)])
    symbols = sympy.symbols("m0 v c", real=True, positive=True)
    variables = reduce(_gradient(lambda m0, v, c: m0 / torch.sqrt(1 - v ** 2 / c ** 2), x), x, x, symbols)
    y = np.arange(200.0)
    data, back = reduced_data(variables, y)
    assert data.x.shape == (200, 2) and data.symbols[0] == symbols[0] and data.y is y
    (u,) = back
    assert data.symbols[1] == u and u.is_positive
    values = sympy.lambdify(symbols, back[u])(*x.T)
    np.testing.assert_allclose(data.x[:, 1], values, rtol=1e-12)


def test_the_gradient_through_the_scaling_is_the_users_up_to_a_positive_factor_per_row():
    x = _rows(200, [(1, 3), (2, 4)])
    truth = _gradient(lambda a, b: a ** 2 / b, x)
    for log_space in (False, True):
        y = x[:, 0] ** 2 / x[:, 1]
        scaling = Scaling.fit(x, y, log_space)

        class Scaled(torch.nn.Module):  # the scaled target as an exact function of the scaled inputs
            def forward(self, z):
                u = torch.tensor(scaling.x_mid) + torch.tensor(scaling.x_half) * z
                a, b = (torch.exp(u) * torch.tensor(scaling.x_sign)).T if log_space else u.T
                t = torch.log(a ** 2 / b) if log_space else a ** 2 / b
                return ((t - scaling.y_mean) / scaling.y_std)[:, None]

        g = user_gradient(Scaled(), torch.tensor(scaling.x(x)), x, scaling)
        factor = g / truth
        assert (factor > 0).all()
        np.testing.assert_allclose(factor[:, 0], factor[:, 1], rtol=1e-9)


def test_the_split_candidate_searches_the_reduced_problem():
    # x1*y1 + x2*y2: a product (x1*y1), another, then their sum: one variable, whose formula is itself
    x = _rows(400, [(-1, 1)] * 4)
    y = x[:, 0] * x[:, 1] + x[:, 2] * x[:, 3]
    found = discover(x, y, feature_names=["x1", "y1", "x2", "y2"], time_budget=None,
                     candidates=[Candidate(split=True)])
    x1, y1, x2, y2 = found.best.symbols
    assert found.best.source.endswith("symmetry: found")
    assert found.best.exact and sympy.simplify(found.best.expr - (x1 * y1 + x2 * y2)) == 0
