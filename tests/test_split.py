"""The split by separability (kanlab.discovery.split): the groups a surrogate separates into, the parts' targets in
the user's units, and the split candidate recovering a sum of products that no single default KAN shape finds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
import torch

from kanlab import discover
from kanlab.discovery import Candidate, Scaling, symmetry
from kanlab.discovery.split import _surrogate, joined, part_targets, split_groups


def _rows(n: int, n_var: int, lo: float = 1.0, hi: float = 2.0, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(lo, hi, size=(n, n_var))


class _Exact(torch.nn.Module):
    """A known function of the scaled inputs, standing in for a surrogate KAN."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.fn(z)[:, None]


def test_a_surrogate_separates_additive_groups():
    x = torch.tensor(_rows(400, 3, -1, 1), dtype=torch.float64)
    y = (x[:, 0] * x[:, 1] + torch.sin(2 * x[:, 2]))[:, None]
    model = _surrogate(x, y, seed=0, steps=30, check_time=lambda *a: None)
    assert split_groups(model, x, bias=None) == ("add", [[0, 1], [2]])
    # a product of all three does not separate additively; with the bias it separates as a product
    y = ((1.5 + x[:, 0]) * (1.5 + x[:, 1]) * (1.5 + x[:, 2]))[:, None]
    mean, std = float(y.mean()), float(y.std())
    model = _surrogate(x, (y - mean) / std, seed=0, steps=30, check_time=lambda *a: None)
    assert split_groups(model, x, bias=None) is None
    assert split_groups(model, x, bias=mean / std) == ("mul", [[0], [1], [2]])


@pytest.mark.parametrize("log_space", [False, True])
def test_additive_parts_rebuild_the_function(log_space):
    x = _rows(200, 3)
    y = np.exp(x[:, 0] * x[:, 1]) * x[:, 2] ** 2 if log_space else x[:, 0] * x[:, 1] + np.sin(x[:, 2])
    scaling = Scaling.fit(x, y, log_space)
    z = torch.tensor(scaling.x(x))
    truth = torch.tensor(scaling.y(y))
    # the scaled target as an exact function of the scaled inputs: the additive groups are [[0, 1], [2]]
    u = lambda z, i: torch.tensor(scaling.x_mid[i]) + torch.tensor(scaling.x_half[i]) * z[:, i]  # noqa: E731
    if log_space:
        fn = lambda z: (torch.exp(u(z, 0) + u(z, 1)) + 2 * u(z, 2) - scaling.y_mean) / scaling.y_std  # noqa: E731
    else:
        fn = lambda z: (u(z, 0) * u(z, 1) + torch.sin(u(z, 2)) - scaling.y_mean) / scaling.y_std  # noqa: E731
    np.testing.assert_allclose(fn(z).numpy(), truth.numpy(), atol=1e-10)
    how, constant, parts = part_targets(_Exact(fn), z, scaling, "add", [[0, 1], [2]])
    assert how == ("mul" if log_space else "add")
    rebuilt = constant * parts[0] * parts[1] if log_space else constant + parts[0] + parts[1]
    np.testing.assert_allclose(rebuilt, y, rtol=1e-10)


def test_multiplicative_parts_rebuild_the_function():
    x = _rows(200, 3)
    y = (x[:, 0] + x[:, 1]) * np.cos(x[:, 2])
    scaling = Scaling.fit(x, y, False)
    z = torch.tensor(scaling.x(x))
    u = lambda z, i: torch.tensor(scaling.x_mid[i]) + torch.tensor(scaling.x_half[i]) * z[:, i]  # noqa: E731
    fn = lambda z: ((u(z, 0) + u(z, 1)) * torch.cos(u(z, 2)) - scaling.y_mean) / scaling.y_std  # noqa: E731
    how, constant, parts = part_targets(_Exact(fn), z, scaling, "mul", [[0, 1], [2]])
    assert how == "mul"
    np.testing.assert_allclose(constant * parts[0] * parts[1], y, rtol=1e-10)


def test_joined_keeps_the_constant_refittable():
    a, b = sympy.symbols("a b")
    assert joined("add", 2.5, [a, b ** 2]) == sympy.Float(2.5) + a + b ** 2
    e = joined("mul", 0.5, [a, sympy.sqrt(b)])
    assert e.atoms(sympy.Float) == {sympy.Float(0.5)} and e / (a * sympy.sqrt(b)) == sympy.Float(0.5)


def test_the_split_candidate_recovers_a_sum_of_products(monkeypatch):
    # x1*y1 + x2*y2: no default single KAN shape recovers Feynman I.11.19 (x1*y1 + x2*y2 + x3*y3) in 60 s; split
    # into two products, each part is one product candidate. Fewer rows and two pairs keep the test short. The
    # symmetries (x1*y1, then a sum) would reduce it first: test_symmetry.py has that path
    monkeypatch.setattr(symmetry, "THRESHOLD", 0.0)
    x = _rows(400, 4, -1, 1)
    y = x[:, 0] * x[:, 1] + x[:, 2] * x[:, 3]
    found = discover(x, y, feature_names=["x1", "y1", "x2", "y2"], time_budget=None,
                     candidates=[Candidate(split=True)])
    x1, y1, x2, y2 = found.best.symbols
    assert found.best.exact and sympy.simplify(found.best.expr - (x1 * y1 + x2 * y2)) == 0
    assert found.best.source.startswith("split by symmetry or separability, direct, seed 0: separability")
    assert math.isfinite(found.best.nrmse)


def test_the_split_candidate_gives_nothing_without_symmetry_or_separability():
    x = _rows(300, 3, -1, 1)
    y = np.exp(x[:, 0] * x[:, 1]) + x[:, 0] * x[:, 2]  # no pair enters through a ratio, product, difference or sum
    found = discover(x, y, time_budget=None, candidates=[Candidate(split=True)])
    assert [f.source for f in found.formulas] == ["constant: training mean"]
    assert found.failures == []
