"""kanlab.optim: the strong-Wolfe line search and L-BFGS, on numpy and torch vectors."""

import numpy as np
import pytest
import torch

from kanlab.optim import LBFGS, strong_wolfe


def rosenbrock(v):
    x, y = v[0], v[1]
    f = (1 - x) ** 2 + 100 * (y - x * x) ** 2
    g = np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])
    return float(f), g


@pytest.mark.parametrize("t0", [1e-3, 1.0, 50.0])
def test_line_search_meets_strong_wolfe(t0):
    x0 = np.array([-1.2, 1.0])
    f0, g0 = rosenbrock(x0)
    d = -g0
    t, f, g, evals = strong_wolfe(lambda t: rosenbrock(x0 + t * d), d, f0, g0, t0)
    gtd0 = float(g0 @ d)
    assert f <= f0 + 1e-4 * t * gtd0  # sufficient decrease
    assert abs(float(g @ d)) <= 0.9 * abs(gtd0)  # curvature
    assert (f, g.tolist()) == (rosenbrock(x0 + t * d)[0], rosenbrock(x0 + t * d)[1].tolist())
    assert 1 <= evals <= 25


def test_line_search_returns_zero_step_when_nothing_decreases():
    """An ascent 'direction' has no acceptable step: the search returns t = 0 with the starting values."""
    x0 = np.array([0.5, 0.5])
    f0, g0 = rosenbrock(x0)
    t, f, g, _ = strong_wolfe(lambda t: rosenbrock(x0 + t * g0), g0, f0, g0, 1.0)
    assert t == 0.0 and f == f0


def _minimize_rosenbrock(as_tensor: bool):
    p = torch.nn.Parameter(torch.tensor([-1.2, 1.0], dtype=torch.float64))
    opt = LBFGS([p], lr=1, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        x, y = p[0], p[1]
        loss = (1 - x) ** 2 + 100 * (y - x * x) ** 2
        loss.backward()
        return loss

    if as_tensor:  # the torch-vector path (what runs off the CPU), forced on CPU tensors
        opt._as_vector = lambda flat: flat
    opt.step(closure)
    return p.detach()


@pytest.mark.parametrize("as_tensor", [False, True])
def test_lbfgs_solves_rosenbrock(as_tensor):
    np.testing.assert_allclose(_minimize_rosenbrock(as_tensor).numpy(), [1.0, 1.0], atol=1e-8)


def test_lbfgs_matches_torch_on_a_quadratic():
    """On a convex quadratic both optimizers reach the exact minimiser."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(20, 20, generator=gen, dtype=torch.float64)
    hess = a @ a.T + torch.eye(20, dtype=torch.float64)
    b = torch.randn(20, generator=gen, dtype=torch.float64)
    exact = torch.linalg.solve(hess, b)
    for cls, kw in ((LBFGS, {}), (torch.optim.LBFGS, dict(tolerance_grad=1e-12, tolerance_change=1e-14))):
        p = torch.nn.Parameter(torch.zeros(20, dtype=torch.float64))
        opt = cls([p], lr=1, max_iter=300, line_search_fn="strong_wolfe", **kw)

        def closure():
            opt.zero_grad()
            loss = 0.5 * p @ hess @ p - b @ p
            loss.backward()
            return loss

        opt.step(closure)
        torch.testing.assert_close(p.detach(), exact, rtol=0, atol=1e-7)


def test_minimize_keeps_history_between_calls_and_checks_parameters():
    p = torch.nn.Parameter(torch.tensor([-1.2, 1.0], dtype=torch.float64))
    opt = LBFGS([p], max_iter=5)
    x = opt.flat_params()
    for _ in range(30):
        x = opt.minimize(rosenbrock, x, *rosenbrock(x))
    assert len(opt.state[p]["old_dirs"]) == 10  # history_size pairs kept across calls
    np.testing.assert_allclose(x, [1.0, 1.0], atol=1e-6)
    with pytest.raises(ValueError, match="one device with one dtype"):
        LBFGS([p, torch.nn.Parameter(torch.zeros(1, dtype=torch.float32))])
    with pytest.raises(ValueError, match="line_search_fn"):
        LBFGS([p], line_search_fn="backtracking")
