"""The kernels as torch custom ops (opcheck, torch.compile, torch.export), and the checks that guard them against
whatever a user did to a layer."""

import pytest
import torch

from kanlab import KAN, KANLayer, native
from kanlab.ops import layer_function

pytestmark = pytest.mark.skipif(not native.available(), reason="the native kernels did not build")


def _layer(out_dim=3, grid=6, adaptive=True, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    layer = KANLayer(4, out_dim, grid=grid, k=3, noise_scale=1.0, generator=gen, dtype=dtype)
    if adaptive:
        layer.update_grid(torch.randn(300, 4, dtype=dtype, generator=gen) * 0.6)
    return layer


def _torch_path(fn):
    prev = native.set_enabled(False)
    try:
        return fn()
    finally:
        native.set_enabled(prev)


# ------------------------------------------------------------------------------------------------ the ops themselves
@pytest.mark.parametrize("mode", ["sparse", "dense", "torch"])
def test_layer_op_passes_opcheck(mode):
    layer = _layer()
    x = (torch.rand(23, 4, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    args = (x, layer.mask, layer.scale_base, layer.scale_sp, layer.coef, layer.grid, 3, "silu", mode)
    torch.library.opcheck(torch.ops.kanlab.layer.default, args)


def test_fold_and_feature_cov_ops_pass_opcheck():
    layer = _layer()
    torch.library.opcheck(torch.ops.kanlab.fold.default, (layer.mask, layer.scale_base, layer.scale_sp, layer.coef))
    x = (torch.rand(31, 4, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    torch.library.opcheck(torch.ops.kanlab.feature_cov.default, (x, layer.grid, 3, "silu"))


@pytest.mark.parametrize("mode", ["sparse", "dense"])
def test_layer_op_matches_eager_and_gradchecks(mode):
    layer = _layer()
    x = (torch.rand(17, 4, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    sb, sp, coef = (p.detach().clone().requires_grad_(True) for p in (layer.scale_base, layer.scale_sp, layer.coef))

    def op(x, sb, sp, coef):
        return torch.ops.kanlab.layer(x, layer.mask, sb, sp, coef, layer.grid, 3, "silu", mode)

    assert (op(x, sb, sp, coef) - layer(x)).abs().max() < 1e-12
    assert torch.autograd.gradcheck(op, (x, sb, sp, coef))
    assert torch.autograd.gradgradcheck(op, (x, sb, sp, coef))  # create_graph: the differentiable torch ops


def test_ops_refuse_a_mode_they_cannot_run():
    layer = _layer()
    x = torch.rand(5, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="unknown mode"):
        torch.ops.kanlab.layer(x, layer.mask, layer.scale_base, layer.scale_sp, layer.coef, layer.grid, 3, "silu", "x")
    with pytest.raises(ValueError, match="native kernels"):
        torch.ops.kanlab.layer(x, layer.mask, layer.scale_base, layer.scale_sp, layer.coef, layer.grid, 9, "silu",
                               "sparse")


# ------------------------------------------------------------------------------------------------ compile and export
def _model():
    model = KAN([3, 5, 4, 1], grid=5, k=3, seed=0)
    model.update_grid(torch.randn(200, 3, generator=torch.Generator().manual_seed(1)) * 0.5)  # adaptive grids
    return model


def test_torch_compile_has_no_graph_break_and_matches_eager():
    model = _model()
    x = torch.rand(64, 3, generator=torch.Generator().manual_seed(2)) * 2 - 1
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")  # fullgraph: a graph break is an error
    y_eager, y_comp = model(x), compiled(x)
    assert torch.allclose(y_comp, y_eager, atol=1e-6)
    g_eager = torch.autograd.grad(y_eager.square().sum(), list(model.parameters()), allow_unused=True)
    g_comp = torch.autograd.grad(y_comp.square().sum(), list(model.parameters()), allow_unused=True)
    for a, b in zip(g_eager, g_comp):
        assert (a is None and b is None) or torch.allclose(a, b, atol=1e-5)


def test_torch_compile_inductor_matches_eager():
    model = _model()
    x = torch.rand(64, 3, generator=torch.Generator().manual_seed(3)) * 2 - 1
    compiled = torch.compile(model, fullgraph=True)
    assert torch.allclose(compiled(x), model(x), atol=1e-6)


def test_torch_export_holds_the_op_and_round_trips(tmp_path):
    model = _model()
    x = torch.rand(32, 3, generator=torch.Generator().manual_seed(4)) * 2 - 1
    ep = torch.export.export(model, (x,))
    assert "kanlab.layer" in str(ep.graph)
    path = tmp_path / "model.pt2"
    torch.export.save(ep, path)
    loaded = torch.export.load(path)
    assert torch.allclose(loaded.module()(x), model(x), atol=1e-6)


# ------------------------------------------------------------------------------------------------ user edits
@pytest.mark.parametrize("native_on", [True, False])
def test_grid_data_assignment_is_seen(native_on):
    """pykan's idiom `layer.grid.data = new_grid` keeps the tensor object and bumps no version: the cached knot
    table and uniform flag must follow the values anyway."""
    layer = _layer(adaptive=False)
    x = torch.rand(50, 4, dtype=torch.float64) * 2 - 1
    prev = native.set_enabled(native_on)
    try:
        layer(x)  # fills the cache
        new = layer.grid * 1.3 + 0.05
        layer.grid.data = new.clone()
        got = layer(x)
        layer.grid.data.copy_(new * 0.9)  # in place through .data: no version bump either
        got2 = layer(x)
    finally:
        native.set_enabled(prev)
    ref = KANLayer(4, 3, grid=6, k=3, dtype=torch.float64)
    ref.load_state_dict(layer.state_dict())
    assert torch.allclose(got2, _torch_path(lambda: ref(x)), atol=1e-12)
    ref.grid.copy_(new)
    assert torch.allclose(got, _torch_path(lambda: ref(x)), atol=1e-12)


@pytest.mark.parametrize("native_on", [True, False])
def test_inconsistent_layer_edits_are_refused(native_on):
    x = torch.rand(20, 4, dtype=torch.float64)
    prev = native.set_enabled(native_on)
    try:
        layer = _layer()
        layer.grid.data = torch.linspace(-1, 1, 1000, dtype=torch.float64).expand(4, -1).contiguous()  # bigger grid
        with pytest.raises(ValueError, match="coef has shape"):
            layer(x)
        layer = _layer()
        layer.coef.data = torch.zeros(4, 3, 20, dtype=torch.float64)  # coef.data = ... with another grid size
        with pytest.raises(ValueError, match="coef has shape"):
            layer(x)
        layer = _layer()
        layer.k = 2
        with pytest.raises(ValueError, match="coef has shape"):
            layer(x)
        layer = _layer()
        layer.in_dim = 5
        with pytest.raises(ValueError, match="grid has shape|expects input"):
            layer(torch.rand(20, 5, dtype=torch.float64))
        layer = _layer()
        layer.grid.data[1, 3] = float("nan")
        with pytest.raises(ValueError, match="NaN"):
            layer(x)
        layer = _layer()
        layer.scale_sp.data = layer.scale_sp.data.float()
        with pytest.raises(TypeError, match="scale_sp"):
            layer(x)
    finally:
        native.set_enabled(prev)


def test_native_entry_points_check_everything():
    layer = _layer()
    x = torch.rand(10, 4, dtype=torch.float64)
    table, m = native.knot_table(layer.grid, 3), __import__("kanlab").splines.uniform_matrix(3, torch.float64)
    w = layer.folded_weight().detach()
    nk = layer.grid.shape[1]
    with pytest.raises(ValueError, match="knot table"):
        native.sparse_forward(x, w, native.knot_table(layer.grid[:, :-1], 3), nk, 3, False, m, "silu")
    with pytest.raises(ValueError, match="weight has shape"):
        native.sparse_forward(x, w[:, :-1], table, nk, 3, False, m, "silu")
    with pytest.raises(ValueError, match="spline order"):
        native.features(x, table, nk, 8, False, m, "silu")
    with pytest.raises(ValueError, match="uniform matrix"):
        native.features(x, table, nk, 3, True, m[:, :-1], "silu")
    with pytest.raises(ValueError, match="output gradient"):
        native.sparse_backward(x, w, torch.ones(9, 3, dtype=torch.float64), table, nk, 3, False, m, "silu", True,
                               True)
    with pytest.raises(TypeError, match="float64"):
        native.sparse_forward(x, w.float(), table, nk, 3, False, m, "silu")


@pytest.mark.parametrize("mode", ["sparse", "dense", "torch"])
def test_zero_width_output_and_zero_rows(mode):
    """A sparse call with output width 0 once divided by zero in C; a zero-row batch once failed on the torch path."""
    layer = _layer()
    w = layer.folded_weight().detach()
    x0 = torch.rand(7, 4, dtype=torch.float64)
    y = layer_function(x0, w[..., :0], layer.grid, 3, False, "silu", mode=mode)
    assert y.shape == (7, 0)
    x = torch.empty(0, 4, dtype=torch.float64, requires_grad=True)
    ww = w.clone().requires_grad_(True)
    y = layer_function(x, ww, layer.grid, 3, False, "silu", mode=mode)
    assert y.shape == (0, 3)
    y.sum().backward()
    assert x.grad.shape == (0, 4) and torch.equal(ww.grad, torch.zeros_like(ww))
    model = KAN([4, 3, 1], grid=5, seed=0)
    assert model(torch.empty(0, 4)).shape == (0, 1)


def test_state_dict_round_trip_keeps_the_adaptive_grid():
    """`uniform` is derived from the grid, so torch.save(model.state_dict()) into a fresh KAN evaluates the
    fitted (non-uniform) grid correctly on both paths."""
    model = _model()
    assert not any(layer.uniform for layer in model.layers)
    fresh = KAN([3, 5, 4, 1], grid=5, k=3, seed=1)
    assert all(layer.uniform for layer in fresh.layers)
    fresh.load_state_dict(model.state_dict())
    x = torch.rand(100, 3) * 2 - 1
    assert not any(layer.uniform for layer in fresh.layers)
    assert torch.allclose(fresh(x), model(x), atol=1e-6)
    assert torch.allclose(_torch_path(lambda: fresh(x)), model(x), atol=1e-5)
