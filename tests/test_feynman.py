import importlib.util
import sys
from pathlib import Path

import pytest
import sympy
import torch

from kanlab.feynman import EQUATIONS, feynman_dataset, get_equation


def test_equations_and_datasets():
    assert len(EQUATIONS) == 10
    ds = feynman_dataset("I.12.1", train_num=50, test_num=20, dtype=torch.float64)
    x, y = ds["train_input"], ds["train_label"]
    assert x.shape == (50, 2) and y.shape == (50, 1)
    assert (x >= 1).all() and (x <= 5).all()
    assert torch.allclose(y[:, 0], x[:, 0] * x[:, 1])
    with pytest.raises(ValueError, match="available"):
        get_equation("IX.99")


def test_example_pipeline_recovers_a_product():
    path = Path(__file__).resolve().parents[1] / "examples" / "feynman.py"
    spec = importlib.util.spec_from_file_location("feynman_example", path)
    example = importlib.util.module_from_spec(spec)
    dont_write, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no examples/__pycache__ in the tree
    try:
        spec.loader.exec_module(example)
    finally:
        sys.dont_write_bytecode = dont_write
    eq = get_equation("I.25.13")
    x, y = example.sample(eq, 500, 0)
    xv, yv = example.sample(eq, 500, 1)
    rmse, expr = example.candidate(eq, x, y, xv, yv, log_space=True, hidden=False, seed=0)
    assert rmse < 1e-8 and sympy.simplify(expr - eq.expr) == 0
