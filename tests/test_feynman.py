"""kanlab.feynman: the 120 equations of the AI Feynman benchmark, their ranges and datasets."""

import numpy as np
import pytest
import sympy
import torch

from kanlab.feynman import EQUATIONS, QUICK, TABLE, feynman_dataset, get_equation


def test_the_table():
    assert len(EQUATIONS) == len(TABLE) == 120 and [row[0] for row in TABLE] == list(range(1, 121))
    assert set(QUICK) <= set(EQUATIONS) and len(QUICK) == 10
    for eq in EQUATIONS.values():
        assert eq.expr.free_symbols == set(eq.variables), eq.name
        assert len(eq.ranges) == eq.n_var and all(lo < hi for lo, hi in eq.ranges), eq.name
    assert get_equation(8) is EQUATIONS["I.12.1"] and get_equation("I.12.1").number == 8
    # the symbols know their range's sign, so sympy writes sigma, not |sigma|
    g = get_equation("I.6.20")
    assert g.ranges == ((-1.0, 1.0), (0.5, 2.0)) and not g.expr.atoms(sympy.Abs)
    assert g.variables[1].is_positive and g.variables[0].is_positive is None
    assert get_equation("I.30.3").ranges[2] == pytest.approx((0.4 * np.pi, 1.6 * np.pi))


@pytest.mark.parametrize("name", [0, 121, True, "IX.99", 1.0])
def test_unknown_equations(name):
    with pytest.raises(ValueError, match=r"^unknown Feynman equation .*: give a number 1\.\.120 or one of the names"):
        get_equation(name)


def test_sample_and_dataset_evaluate_the_expression():
    eq = get_equation("I.12.2")  # q1*q2/(4*pi*eps*r**2)
    x, y = eq.sample(64, seed=3)
    assert x.shape == (64, 4) and y.shape == (64, 1) and x.dtype == torch.float64
    lo, hi = np.array(eq.ranges).T
    assert (x.numpy() >= lo).all() and (x.numpy() <= hi).all()
    q1, q2, eps, r = x.numpy().T
    np.testing.assert_allclose(y[:, 0].numpy(), q1 * q2 / (4 * np.pi * eps * r**2), rtol=1e-12)
    torch.testing.assert_close(eq.sample(64, seed=3)[0], x)
    assert not torch.equal(eq.sample(64, seed=4)[0], x)
    ds = feynman_dataset("I.12.1", train_num=50, test_num=20, dtype=torch.float64)
    assert ds["train_input"].shape == (50, 2) and ds["test_label"].shape == (20, 1)
    torch.testing.assert_close(ds["train_label"][:, 0], ds["train_input"].prod(dim=1))
