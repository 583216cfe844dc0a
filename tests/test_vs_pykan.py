"""Behaviour against pykan 0.2.8 (a dev dependency) where pykan is right: bases, layer outputs, regulariser."""

import importlib

import pytest
import torch

kan = pytest.importorskip("kan", reason="pykan is installed by the dev extra; `make test` always has it")

from kan.spline import B_batch  # noqa: E402

from kanlab import KAN, KANLayer, splines  # noqa: E402
from kanlab.regularize import regularization  # noqa: E402


def test_basis_matches_pykan():
    grid = splines.uniform_grid(3, 7, 3, dtype=torch.float64)
    x = torch.rand(200, 3, dtype=torch.float64) * 2.4 - 1.2
    assert (splines.bspline_basis(x, grid, 3) - B_batch(x, grid, k=3)).abs().max() < 1e-12


def _copy_into_pykan(ours: KAN, theirs) -> None:
    with torch.no_grad():
        for a, b in zip(ours.layers, theirs.act_fun):
            b.grid.copy_(a.grid)
            b.coef.copy_(a.coef)
            b.scale_base.copy_(a.scale_base)
            b.scale_sp.copy_(a.scale_sp)
            b.mask.copy_(a.mask)


def test_model_output_and_regulariser_match_pykan():
    torch.set_default_dtype(torch.float64)
    try:
        ours = KAN(width=[2, 4, 3, 1], grid=5, k=3, seed=0, noise_scale=0.5)
        ours.update_grid(torch.rand(300, 2) * 2 - 1)  # non-uniform grids too
        theirs = kan.KAN(width=[2, 4, 3, 1], grid=5, k=3, seed=0, auto_save=False)
        _copy_into_pykan(ours, theirs)
        x = torch.rand(500, 2) * 2 - 1
        assert (ours(x) - theirs(x)).abs().max() < 1e-12
        for kw in [dict(lamb_l1=1.0, lamb_entropy=2.0), dict(lamb_l1=0.5, lamb_entropy=10.0, lamb_coef=0.3,
                                                              lamb_coefdiff=0.2)]:
            mine = regularization(ours, ours.layer_inputs(x), **kw)
            theirs.get_act(x)
            ref = theirs.get_reg("edge_forward_spline_n", kw["lamb_l1"], kw["lamb_entropy"], kw.get("lamb_coef", 0.0),
                                 kw.get("lamb_coefdiff", 0.0))
            assert abs(mine.item() - ref.item()) < 1e-6 * abs(ref.item())
    finally:
        torch.set_default_dtype(torch.float32)


def test_attribution_matches_pykan():
    torch.set_default_dtype(torch.float64)
    try:
        ours = KAN(width=[3, 4, 2], grid=5, k=3, seed=0, noise_scale=0.5)
        theirs = kan.KAN(width=[3, 4, 2], grid=5, k=3, seed=0, auto_save=False)
        _copy_into_pykan(ours, theirs)
        x = torch.rand(400, 3) * 2 - 1
        theirs.get_act(x)
        theirs.attribute(plot=False)
        mine = ours.attribute(x)
        for a, b in zip(mine.node_scores, theirs.node_scores):
            assert (a - b).abs().max() < 1e-6
        for a, b in zip(mine.edge_scores, theirs.edge_scores):
            assert (a - b.t()).abs().max() < 1e-6
    finally:
        torch.set_default_dtype(torch.float32)


def test_layer_init_statistics_match_pykan():
    layer = KANLayer(16, 16, grid=5, k=3, noise_scale=0.5, generator=torch.Generator().manual_seed(0))
    ref = importlib.import_module("kan.KANLayer").KANLayer(16, 16, num=5, k=3, noise_scale=0.5)
    assert torch.allclose(layer.grid, ref.grid.data, atol=1e-6)
    assert abs(layer.scale_sp.mean().item() - ref.scale_sp.mean().item()) < 1e-6
    assert abs(layer.scale_base.abs().mean().item() - ref.scale_base.abs().mean().item()) < 0.05
    assert abs(layer.coef.std().item() - ref.coef.std().item()) < 0.3 * ref.coef.std().item()
