"""kanlab.discovery.compose: two-level compositions A * g(a * h(c * u + e) + b) + B of one input, found by brute
force; the candidate that runs them in discover."""

from __future__ import annotations

import time

import numpy as np
import pytest
import sympy

from kanlab import discover
from kanlab.discovery import Candidate, default_candidates
from kanlab.discovery.compose import compositions
from kanlab.discovery.data import check_data
from kanlab.discovery.symmetry import KINDS, oriented

U = sympy.Symbol("u", real=True)


def _rel_rmse(expr: sympy.Expr, u: np.ndarray, y: np.ndarray) -> float:
    pred = sympy.lambdify(U, expr, "numpy")(u)
    return float(np.sqrt(np.mean((pred - y) ** 2)) / y.std())


@pytest.mark.parametrize("fn, lo, hi", [
    (lambda u: 1 / np.sqrt(1 - u ** 2), 0.05, 0.95),  # Feynman I.10.7 after v/c
    (lambda u: 1 / (np.exp(u) - 1), 0.2, 5.0),  # III.4.32 after hbar omega / (k_b T)
    (lambda u: np.arcsin(u), -0.9, 0.85),  # I.30.5 after lambda / (n d): near the edge of asin's domain
    (lambda u: np.sin(u) ** 2, 0.5, 5.0),  # III.8.54
    (lambda u: np.sin(3 / u) ** 2, 1.0, 5.0),  # the inverse of the variable a symmetry left
    (lambda u: np.sqrt((1 + u) / (1 - u)), 0.05, 0.9),  # I.34.14's one-variable part
])
def test_two_level_compositions_are_fitted_to_rounding(fn, lo, hi):
    u = np.random.default_rng(0).uniform(lo, hi, 400)
    y = fn(u)
    found = compositions(u, y, U)
    assert found and _rel_rmse(found[0], u, y) < 1e-8
    assert found[0].free_symbols == {U}
    fresh = np.random.default_rng(1).uniform(lo, hi, 100)  # a formula, not a fit to the rows
    assert _rel_rmse(found[0], fresh, fn(fresh)) < 1e-8


def test_no_composition_fits_noise_and_the_search_is_deterministic():
    rng = np.random.default_rng(3)
    u, y = rng.uniform(-1, 1, 300), rng.normal(size=300)
    found = compositions(u, y, U)
    assert all(_rel_rmse(e, u, y) > 0.5 for e in found)
    u2 = np.random.default_rng(0).uniform(0.2, 5.0, 300)
    assert compositions(u2, 1 / (np.exp(u2) - 1), U) == compositions(u2, 1 / (np.exp(u2) - 1), U)


def test_a_constant_target_or_a_past_deadline_gives_nothing():
    u = np.linspace(1, 2, 50)
    assert compositions(u, np.full(50, 3.0), U) == []
    t0 = time.monotonic()
    assert compositions(u, u ** 2, U, deadline=time.monotonic() - 1) == []
    assert time.monotonic() - t0 < 5


def test_the_candidate_comes_first_for_one_input_only():
    x = np.random.default_rng(0).uniform(1, 2, (50, 2))
    one = default_candidates(check_data(x[:, :1], x[:, 0] ** 2))
    assert one[0].compose and sum(c.compose for c in one) == 1
    assert not any(c.compose for c in default_candidates(check_data(x, x[:, 0] * x[:, 1])))


def test_discover_finds_a_composition_a_kan_edge_cannot_write():
    u = np.random.default_rng(2).uniform(0.2, 5.0, 300)
    r = discover(u, 2.0 / (np.exp(u) - 1), feature_names=["u"], candidates=[Candidate(compose=True)],
                 time_budget=None)
    assert r.best.exact
    s = r.best.symbols[0]
    assert sympy.simplify(r.sympy() - 2 / (sympy.exp(s) - 1)) == 0


def test_the_compose_candidate_refuses_two_inputs():
    x = np.random.default_rng(0).uniform(1, 2, (50, 2))
    r = discover(x, x[:, 0] * x[:, 1], candidates=[Candidate(compose=True)], time_budget=None)
    assert r.failures and "one input" in r.failures[0][1]


def test_a_ratio_divides_by_the_input_farther_from_zero():
    ratio = next(k for k in KINDS if k.divides)
    near_zero = np.linspace(1e-4, 1.0, 50)  # Feynman II.6.11's p_d
    away = np.linspace(0.5, 2.0, 50)  # its epsilon
    assert oriented(ratio, near_zero, away) is False  # near_zero / away
    assert oriented(ratio, away, near_zero) is True  # swapped: again near_zero / away
    both_signs = np.linspace(-1.0, 1.0, 50)
    assert oriented(ratio, both_signs, away) is False and oriented(ratio, away, both_signs) is True
    assert oriented(ratio, both_signs, -both_signs) is None
