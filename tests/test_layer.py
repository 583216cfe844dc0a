import pytest
import torch

from kanlab import KANLayer, native, splines
from kanlab.ops import _KANLayerFoldFunction, layer_function


@pytest.fixture(autouse=True, params=["sparse", "dense", "torch"])
def path(request, monkeypatch):
    """Every test here runs on the three paths: the native sparse and dense kernels and the pure torch one."""
    if request.param != "torch" and not native.available():
        pytest.fail("the native kernels did not compile (is a C compiler installed?)")
    monkeypatch.setattr(native, "DEFAULT_MODE", "dense" if request.param == "dense" else "sparse")
    prev = native.set_enabled(request.param != "torch")
    yield request.param
    native.set_enabled(prev)


def _layer(uniform=True, dtype=torch.float64, in_dim=3, out_dim=4, **kw):
    layer = KANLayer(in_dim, out_dim, grid=5, k=3, noise_scale=1.0, generator=torch.Generator().manual_seed(0),
                     dtype=dtype, **kw)
    if not uniform:
        layer.update_grid(torch.randn(300, in_dim, dtype=dtype, generator=torch.Generator().manual_seed(1)))
        assert not layer.uniform
    return layer


def _x(n=25, in_dim=3, dtype=torch.float64):
    return (torch.randn(n, in_dim, dtype=dtype, generator=torch.Generator().manual_seed(2)) * 1.5)


@pytest.mark.parametrize("uniform", [True, False])
def test_forward_equals_sum_of_edge_activations(uniform):
    layer = _layer(uniform)
    x = _x()
    y = layer(x)
    assert y.shape == (25, 4)
    assert (y - layer.edge_activations(x).sum(1)).abs().max() < 1e-12
    # and the edge activations match the textbook formula through the dense reference basis
    spl = splines.coef2curve(x, layer.grid, layer.coef, layer.k)
    ref = layer.mask * (layer.scale_base * torch.nn.functional.silu(x)[..., None] + layer.scale_sp * spl)
    assert (layer.edge_activations(x) - ref).abs().max() < 1e-12


@pytest.mark.parametrize("uniform", [True, False])
def test_gradcheck_and_double_backward(uniform):
    layer = _layer(uniform)
    x = _x(12).requires_grad_(True)
    w = layer.folded_weight().detach().requires_grad_(True)

    def f(x, w):
        return layer_function(x, w, layer.grid, layer.k, layer.uniform, layer.base_fun)

    assert torch.autograd.gradcheck(f, (x, w))
    assert torch.autograd.gradgradcheck(f, (x, w))
    # parameters get gradients through the folded weight
    coef = layer.coef.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda c: KANLayerWithCoef(layer, c)(x.detach()), (coef,))


def KANLayerWithCoef(layer, coef):
    def run(x):
        w_b = (layer.mask * layer.scale_base).unsqueeze(-1)
        w_s = (layer.mask * layer.scale_sp).unsqueeze(-1) * coef
        w = torch.cat([w_b, w_s], -1).transpose(1, 2)
        return layer_function(x, w, layer.grid, layer.k, layer.uniform, layer.base_fun)
    return run


@pytest.mark.parametrize("uniform", [True, False])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_second_derivative_matches_reference_path(uniform, dtype, tol):
    layer = _layer(uniform, dtype)
    x = _x(30, dtype=dtype).requires_grad_(True)
    fast = layer(x).sum()
    ref = layer.edge_activations(x).sum()  # differentiable path without the custom Function
    (g1,) = torch.autograd.grad(fast, x, create_graph=True)
    (g2,) = torch.autograd.grad(ref, x, create_graph=True)
    assert (g1 - g2).abs().max() < tol
    (h1,) = torch.autograd.grad(g1.sum(), x)
    (h2,) = torch.autograd.grad(g2.sum(), x)
    assert (h1 - h2).abs().max() < tol * 10


def test_saved_memory_is_bounded(path):
    """Per input value, autograd keeps x and: nothing more (sparse), the features, 1 + G + k floats (dense), or
    also the k + 1 slopes and the int64 interval index (torch). Within the issue's 30 floats at G=10 on every path,
    and never a (B, in, out) tensor."""
    layer = KANLayer(16, 16, grid=10, k=3, generator=torch.Generator().manual_seed(0))
    x = torch.randn(256, 16, requires_grad=True)
    saved = []

    def pack(t):
        saved.append(t.numel() * t.element_size() / 4)  # in float32 units
        return t

    w = layer.folded_weight().detach().requires_grad_(True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        layer_function(x, w, layer.grid, layer.k, layer.uniform, layer.base_fun).sum()
    per_value = (sum(saved) - w.numel() - layer.grid.numel()) / x.numel()
    knot_table = (layer.grid.shape[1] + 2 * layer.k + 2) * 16 / x.numel()
    bound = {"sparse": 1 + knot_table, "dense": 1 + (1 + 13) + knot_table, "torch": 1 + (1 + 13) + 4 + 2}[path]
    assert per_value <= bound + 1e-9
    assert per_value <= 30


def test_edge_std_is_exact():
    for uniform in (True, False):
        layer = _layer(uniform)
        x = _x(200)
        assert (layer.edge_std(x) - layer.edge_activations(x).std(dim=0)).abs().max() < 1e-10


@pytest.mark.parametrize("base_fun", ["silu", "identity", "zero"])
def test_base_functions(base_fun):
    layer = _layer(base_fun=base_fun)
    x = _x().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: layer(x), (x,))
    base = {"silu": torch.nn.functional.silu, "identity": lambda t: t, "zero": torch.zeros_like}[base_fun]
    spl = splines.coef2curve(x, layer.grid, layer.coef, layer.k)
    ref = (layer.mask * (layer.scale_base * base(x)[..., None] + layer.scale_sp * spl)).sum(1)
    assert (layer(x) - ref).abs().max() < 1e-12


def test_update_grid_keeps_function_on_samples():
    layer = _layer()
    # a smooth spline (the grid cannot keep arbitrary noise on different knots, in pykan either)
    xs = torch.linspace(-1, 1, 200, dtype=torch.float64)[:, None].expand(-1, 3).contiguous()
    target = torch.sin(2 * xs)[..., None].expand(-1, -1, 4)
    layer.coef.data = splines.curve2coef(xs, target, layer.grid, layer.k)
    x = torch.rand(500, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 1.8 - 0.9
    before = layer.spline_activations(x)
    layer.update_grid(x)
    assert (layer.spline_activations(x) - before).abs().max() < 3e-3
    assert (layer.grid.diff(dim=1) > 0).all()


@pytest.mark.parametrize("uniform", [True, False])
def test_refine_keeps_function(uniform):
    layer = _layer(uniform)
    fine = layer.refine(10)
    assert fine.num == 10 and fine.coef.shape == (3, 4, 13) and layer.num == 5
    lo, hi = layer.grid[:, 0], layer.grid[:, -1]  # the outer intervals too
    x = lo + (hi - lo) * torch.rand(1000, 1, dtype=torch.float64)
    assert (fine(x) - layer(x)).abs().max() < 1e-8


def test_subset_keeps_selected_edges():
    layer = _layer()
    sub = layer.subset([0, 2], [1, 3])
    x = _x()
    assert (sub.edge_activations(x[:, [0, 2]]) - layer.edge_activations(x)[:, [0, 2]][:, :, [1, 3]]).abs().max() < 1e-12


def test_sparse_init_and_trainable_flags():
    layer = KANLayer(4, 6, sparse_init=True, sp_trainable=False, sb_trainable=False)
    assert layer.mask.sum() < 24 and (layer.mask.sum(0) >= 1).all() and (layer.mask.sum(1) >= 1).all()
    assert not layer.scale_sp.requires_grad and not layer.scale_base.requires_grad


def test_layer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="base_fun"):
        KANLayer(2, 2, base_fun="relu")
    with pytest.raises(ValueError, match="grid"):
        KANLayer(2, 2, grid=0)
    with pytest.raises(ValueError, match="k must"):
        KANLayer(2, 2, k=0)
    with pytest.raises(ValueError, match="in_dim"):
        KANLayer(0, 2)
    with pytest.raises(ValueError, match="shape"):
        KANLayer(2, 2)(torch.zeros(4, 3))


@pytest.mark.parametrize("uniform", [True, False])
def test_nan_input_propagates_instead_of_crashing(uniform):
    layer = _layer(uniform)
    x = _x(4)
    x[1, 0] = float("nan")
    y = layer(x)
    assert torch.isnan(y[1]).all() and torch.isfinite(y[[0, 2, 3]]).all()


def test_parameter_gradients_through_the_layer(path):
    """The layer folds its weight inside its autograd function (in sparse mode the fold's gradient comes straight
    from the backward kernel): gradcheck and gradgradcheck on scale_base, scale_sp and coef, with masked edges."""
    layer = _layer(uniform=False)
    layer.mask[0, 1] = 0
    layer.mask[2, 3] = 0
    x = _x(15)
    params = [layer.scale_base, layer.scale_sp, layer.coef]

    table = native.knot_table(layer.grid, layer.k) if path != "torch" else None

    def f(sb, sp, coef):
        return _KANLayerFoldFunction.apply(x, layer.mask, sb, sp, coef, layer.grid, layer.k, layer.uniform,
                                           layer.base_fun, table, path)

    args = tuple(p.detach().clone().requires_grad_(True) for p in params)
    assert torch.autograd.gradcheck(f, args)
    assert torch.autograd.gradgradcheck(f, args)
    # and through the module itself: the masked edges get no gradient
    layer.zero_grad()
    layer(x).square().sum().backward()
    assert layer.scale_base.grad[0, 1] == 0 and layer.coef.grad[2, 3].abs().max() == 0
