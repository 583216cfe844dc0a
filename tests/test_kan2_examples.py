"""The two KAN 2.0 examples reproduce their results (the README states them)."""

import sys
from pathlib import Path

import sympy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

import kan2_lagrangian  # noqa: E402
import kan2_relativity  # noqa: E402


def test_relativistic_velocity_addition_through_the_rapidity():
    out = kan2_relativity.run(seed=0, verbose=False)
    u, v = sympy.symbols("u v")
    assert out["exact"] and out["formula"] == sympy.tanh(sympy.atanh(u) + sympy.atanh(v))
    assert out["test_rmse"] < 1e-6


def test_pendulum_lagrangian_from_accelerations():
    out = kan2_lagrangian.run(seed=0, verbose=False)
    q, v = sympy.symbols("q v")
    assert out["euler_lagrange_ok"] and out["qdd"] == -sympy.sin(q)
    normalised = out["L_normalised"]
    assert abs(float(normalised.coeff(v, 2)) - 0.5) < 1e-6 and abs(float(normalised.coeff(sympy.cos(q))) - 1.0) < 1e-12
    assert out["loss_symbolic"] < 1e-20
