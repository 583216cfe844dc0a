import pytest
import torch


@pytest.fixture
def f64():
    return torch.float64


def seed_fn(x):
    """The seed workflow's target, f(x1, x2) = exp(sin(pi x1) + x2^2)."""
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)
