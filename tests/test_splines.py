import numpy as np
import pytest
import torch
from scipy.interpolate import BSpline

from kanlab import splines


def _grids(k, dtype=torch.float64, n_in=3, num=6):
    uni = splines.uniform_grid(n_in, num, k, (-1.0, 1.0), dtype=dtype)
    gen = torch.Generator().manual_seed(k)
    inner = torch.sort(torch.rand(n_in, num + 1, generator=gen, dtype=torch.float64) * 2 - 1, dim=1).values
    inner[:, 0], inner[:, -1] = -1.0, 1.0
    non = splines.extend_grid(inner.to(dtype), k)
    return [(uni, True), (non, False)]


def _points(n_in, dtype=torch.float64, n=400):
    gen = torch.Generator().manual_seed(1)
    return torch.rand(n, n_in, generator=gen, dtype=dtype) * 5 - 2.5  # well outside the grid on both sides


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_dense_basis_matches_scipy(k):
    for grid, _ in _grids(k):
        x = _points(grid.shape[0])
        basis = splines.bspline_basis(x, grid, k)
        assert basis.shape == (x.shape[0], grid.shape[0], grid.shape[1] - k - 1)
        for i in range(grid.shape[0]):
            t = grid[i].numpy()
            for c in range(basis.shape[2]):
                ref = np.nan_to_num(BSpline.basis_element(t[c : c + k + 2], extrapolate=False)(x[:, i].numpy()))
                np.testing.assert_allclose(basis[:, i, c].numpy(), ref, atol=1e-12, rtol=0)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_spline_curve_matches_scipy(k):
    grid, _ = _grids(k)[1]
    coef = torch.randn(grid.shape[0], 2, grid.shape[1] - k - 1, dtype=torch.float64,
                       generator=torch.Generator().manual_seed(0))
    inner_lo, inner_hi = grid[:, k].max().item(), grid[:, -k - 1].min().item()
    x = torch.linspace(inner_lo, inner_hi - 1e-9, 300, dtype=torch.float64)[:, None].expand(-1, grid.shape[0])
    y = splines.coef2curve(x.contiguous(), grid, coef, k)
    for i in range(grid.shape[0]):
        for o in range(2):
            ref = BSpline(grid[i].numpy(), coef[i, o].numpy(), k)(x[:, i].numpy())
            assert np.abs(y[:, i, o].numpy() - ref).max() < 1e-10


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_local_basis_equals_dense_reference(k, dtype, tol):
    for grid, uniform in _grids(k, dtype):
        x = _points(grid.shape[0], dtype).requires_grad_(True)
        nb = grid.shape[1] - k - 1
        idx, vals, ders = splines.local_basis(x, grid, k, uniform)
        dense = splines.bspline_basis(x, grid, k)
        assert (splines.padded_dense(idx, vals, nb) - dense).abs().max() < tol
        # first derivative of every basis, against autograd through the reference
        ref_d = torch.stack([torch.autograd.grad(dense[..., c].sum(), x, retain_graph=True)[0] for c in range(nb)], -1)
        scale = max(1.0, ref_d.abs().max().item())
        assert (splines.padded_dense(idx, ders, nb) - ref_d).abs().max() < tol * 10 * scale
        # second derivative of a spline through the local path vs the reference path
        coef = torch.randn(grid.shape[0], nb, dtype=dtype, generator=torch.Generator().manual_seed(2))
        fast = (splines.padded_dense(idx, vals, nb) * coef).sum()
        ref = (dense * coef).sum()
        g_fast = torch.autograd.grad(fast, x, create_graph=True)[0]
        g_ref = torch.autograd.grad(ref, x, create_graph=True)[0]
        h_fast, h_ref = (torch.autograd.grad(g.sum(), x)[0] if g.requires_grad else torch.zeros_like(x)
                         for g in (g_fast, g_ref))
        s = max(1.0, h_ref.abs().max().item())
        assert (h_fast - h_ref).abs().max() < tol * 100 * s


def test_local_basis_outside_grid_is_zero():
    grid = splines.uniform_grid(1, 5, 3, dtype=torch.float64)
    x = torch.tensor([[-100.0], [grid[0, 0].item() - 1e-9], [grid[0, -1].item()], [50.0]], dtype=torch.float64)
    for uniform in (True, False):
        i, vals, ders = splines.local_basis(x, grid, 3, uniform)
        assert splines.padded_dense(i, vals, 8).abs().max() == 0 and splines.padded_dense(i, ders, 8).abs().max() == 0
        assert torch.isfinite(vals).all()


def test_curve2coef_recovers_coefficients_and_survives_singular_systems():
    k = 3
    grid = splines.uniform_grid(2, 8, k, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    coef = torch.randn(2, 3, 11, dtype=torch.float64, generator=gen)
    x = torch.rand(500, 2, dtype=torch.float64, generator=gen) * 2 - 1
    y = splines.coef2curve(x, grid, coef, k)
    assert (splines.curve2coef(x, y, grid, k) - coef).abs().max() < 1e-6
    # samples only in a quarter of the range: most bases are unseen and the plain system is singular
    xs = torch.rand(50, 2, dtype=torch.float64, generator=gen) * 0.5 - 1
    got = splines.curve2coef(xs, splines.coef2curve(xs, grid, coef, k), grid, k)
    assert torch.isfinite(got).all()
    assert (splines.coef2curve(xs, grid, got, k) - splines.coef2curve(xs, grid, coef, k)).abs().max() < 1e-6
    # a single repeated sample
    got = splines.curve2coef(torch.zeros(5, 2, dtype=torch.float64), torch.ones(5, 2, 1, dtype=torch.float64), grid, k)
    assert torch.isfinite(got).all()


def test_curve2coef_rejects_bad_input():
    grid = splines.uniform_grid(1, 5, 3)
    with pytest.raises(ValueError, match="NaN"):
        splines.curve2coef(torch.tensor([[float("nan")], [0.0]]), torch.zeros(2, 1, 1), grid, 3)
    with pytest.raises(ValueError, match="expected"):
        splines.curve2coef(torch.zeros(2, 1), torch.zeros(2, 1), grid, 3)


def test_refine_grid_nests_and_transfers_exactly():
    k = 3
    for grid, _ in _grids(k, num=5):
        fine = splines.refine_grid(grid, k, 10)
        assert fine.shape == (grid.shape[0], 10 + 2 * k + 1)
        # every old inner knot is a new knot
        assert torch.allclose(fine[:, k : -k : 2], grid[:, k:-k])
        assert torch.equal(fine[:, :k], grid[:, :k]) and torch.equal(fine[:, -k:], grid[:, -k:])
        coef = torch.randn(grid.shape[0], 1, 5 + k, dtype=torch.float64)
        lo, hi = grid[:, k], grid[:, -k - 1]
        x = lo + (hi - lo) * torch.rand(2000, 1, dtype=torch.float64)
        new = splines.curve2coef(x, splines.coef2curve(x, grid, coef, k), fine, k)
        xt = lo + (hi - lo) * torch.rand(500, 1, dtype=torch.float64)
        err = (splines.coef2curve(xt, fine, new, k) - splines.coef2curve(xt, grid, coef, k)).abs().max()
        assert err < 1e-7


def test_sample_grid_blends_uniform_and_quantiles():
    x = torch.randn(1000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    xs = torch.sort(x, 0).values
    g1 = splines.sample_grid(x, 4, 3, grid_eps=1.0)[:, 3:-3]
    assert torch.allclose(g1, torch.linspace(0, 1, 5, dtype=torch.float64) * (xs[-1] - xs[0])[:, None] + xs[0][:, None])
    g0 = splines.sample_grid(x, 4, 3, grid_eps=0.0)[:, 3:-3]
    assert torch.allclose(g0[:, 2], xs[500])
    # a constant input still gives strictly increasing knots
    g = splines.sample_grid(torch.ones(100, 1), 5, 3, 0.02)
    assert (g.diff(dim=1) > 0).all()
    # so do ties with a pure quantile grid (grid_eps = 0): no interval collapses
    tied = torch.cat([torch.zeros(500, 1), torch.rand(500, 1)])
    g = splines.sample_grid(tied, 5, 3, 0.0)
    assert (g.diff(dim=1) > 1e-4).all()


def test_bad_grid_arguments():
    with pytest.raises(ValueError, match="grid"):
        splines.uniform_grid(2, 0, 3)
    with pytest.raises(ValueError, match="k"):
        splines.uniform_grid(2, 5, 0)
    with pytest.raises(ValueError, match="grid_range"):
        splines.uniform_grid(2, 5, 3, (1.0, -1.0))


def test_extend_grid_rules():
    grid = torch.tensor([[0.0, 0.1, 0.5, 1.0]], dtype=torch.float64)
    ends = splines.extend_grid(grid, 2)
    avg = splines.extend_grid(grid, 2, "average")
    torch.testing.assert_close(ends[0, :2], torch.tensor([-0.2, -0.1], dtype=torch.float64))
    torch.testing.assert_close(ends[0, -2:], torch.tensor([1.5, 2.0], dtype=torch.float64))
    h = 1.0 / 3
    torch.testing.assert_close(avg[0, :2], torch.tensor([-2 * h, -h], dtype=torch.float64))
    torch.testing.assert_close(avg[0, -2:], torch.tensor([1 + h, 1 + 2 * h], dtype=torch.float64))
    uniform = torch.linspace(-1, 1, 6, dtype=torch.float64).unsqueeze(0)
    torch.testing.assert_close(splines.extend_grid(uniform, 3), splines.extend_grid(uniform, 3, "average"))
    with pytest.raises(ValueError, match="grid extension rule"):
        splines.extend_grid(grid, 1, "mirror")
