"""The native kernels against the torch path (itself checked against scipy in test_splines.py)."""

import pytest
import torch

from kanlab import KANLayer, native
from kanlab.ops import layer_function



def test_kernels_compile():
    assert native.available(), "the native kernels did not compile (is a C compiler installed?)"


def _case(dtype, k, grid, uniform, in_dim=5, out_dim=7, batch=300, seed=0):
    gen = torch.Generator().manual_seed(seed)
    layer = KANLayer(in_dim, out_dim, grid=grid, k=k, noise_scale=1.0, generator=gen, dtype=dtype)
    if not uniform:
        layer.update_grid(torch.randn(400, in_dim, dtype=dtype, generator=gen) * 0.7)
        if grid == 1:  # one interval: the fitted grid is evenly spaced; move an outer knot to make it adaptive
            layer.grid[:, 0] -= 0.1 * (layer.grid[:, 1] - layer.grid[:, 0])
        assert not layer.uniform
    x = torch.randn(batch, in_dim, dtype=dtype, generator=gen) * 1.6  # some points fall off the grid
    g = layer.grid
    x[0, 0] = float("nan")
    x[1, 1] = g[1, 0]  # the first knot: inside
    x[2, 2] = g[2, -1]  # the last knot: outside (half-open)
    x[3, 3] = g[3, k + 2]  # an inner knot
    x[4, 4] = g[4, 1]  # an outer knot
    x[5, :] = g[:, -1] - 1e-7 * (g[:, -1] - g[:, 0])  # just inside the right end
    return layer, x


CASES = [(dtype, k, grid, uniform)
         for dtype in (torch.float32, torch.float64)
         for k, grid in ((1, 5), (2, 1), (3, 5), (3, 30), (4, 6), (5, 4), (7, 3))
         for uniform in (True, False)]


@pytest.mark.parametrize("dtype,k,grid,uniform", CASES)
@pytest.mark.parametrize("mode", ["sparse", "dense"])
def test_values_and_gradients_match_torch_path(dtype, k, grid, uniform, mode):
    layer, x = _case(dtype, k, grid, uniform)
    tol = 1e-12 if dtype == torch.float64 else 2e-5
    w = layer.folded_weight().detach()
    results = {}
    for m in (mode, "torch"):
        xx = x.clone().requires_grad_(True)
        ww = w.clone().requires_grad_(True)
        y = layer_function(xx, ww, layer.grid, k, layer.uniform, layer.base_fun, mode=m)
        go = torch.randn(y.shape, dtype=dtype, generator=torch.Generator().manual_seed(5))
        (y * go).nansum().backward()
        results[m] = (y.detach(), xx.grad, ww.grad)
    (y1, gx1, _), (y2, gx2, _) = results[mode], results["torch"]
    assert torch.isnan(y1[0]).all() and torch.isnan(y2[0]).all()  # NaN in, NaN out: never a silent number
    scale = 1 + y2[1:].abs().max()
    assert (y1[1:] - y2[1:]).abs().max() < tol * scale
    assert (gx1[1:] - gx2[1:]).abs().max() < tol * scale * 10
    # the NaN row poisons the weight gradient on both paths alike; compare it on finite rows
    xx = x[1:].clone()
    for m, store in ((mode, []), ("torch", [])):
        ww = w.clone().requires_grad_(True)
        layer_function(xx, ww, layer.grid, k, layer.uniform, layer.base_fun, mode=m).sum().backward()
        results[m + "w"] = ww.grad
    assert (results[mode + "w"] - results["torchw"]).abs().max() < tol * xx.shape[0]


@pytest.mark.parametrize("mode", ["sparse", "dense"])
def test_gradcheck_native(mode):
    layer, x = _case(torch.float64, 3, 12, False, in_dim=5, out_dim=4, batch=16)
    x = x[6:].clone().requires_grad_(True)  # finite points
    w = layer.folded_weight().detach().requires_grad_(True)

    def f(x, w):
        return layer_function(x, w, layer.grid, 3, layer.uniform, layer.base_fun, mode=mode)

    assert torch.autograd.gradcheck(f, (x, w))
    assert torch.autograd.gradgradcheck(f, (x, w))  # create_graph falls back to the differentiable path


@pytest.mark.parametrize("mode", ["sparse", "dense"])
def test_threaded_large_batch_matches(mode):
    """Large enough for the OpenMP threads to split the work; chunk and row-block boundaries included."""
    layer, x = _case(torch.float32, 3, 20, True, in_dim=37, out_dim=19, batch=1531)
    w = layer.folded_weight().detach()
    y1 = layer_function(x[6:], w, layer.grid, 3, True, "silu", mode=mode)
    y2 = layer_function(x[6:], w, layer.grid, 3, True, "silu", mode="torch")
    assert (y1 - y2).abs().max() < 1e-4


def test_mode_errors_and_fallbacks():
    layer, x = _case(torch.float64, 3, 5, True)
    w = layer.folded_weight().detach()
    with pytest.raises(ValueError, match="unknown mode"):
        layer_function(x, w, layer.grid, 3, True, "silu", mode="fast")
    big_k = KANLayer(3, 2, grid=4, k=9)
    xk = torch.rand(10, 3)
    assert not native.supports(xk, 9, "silu")  # beyond KMAX: the torch path serves it
    with pytest.raises(ValueError, match="native kernels"):
        layer_function(xk, big_k.folded_weight(), big_k.grid, 9, True, "silu", mode="sparse")
    assert torch.isfinite(big_k(xk)).all()
    assert not native.supports(x.to(torch.float16), 3, "silu")


def test_set_enabled_switches_paths():
    layer, x = _case(torch.float64, 3, 5, True)
    prev = native.set_enabled(False)
    try:
        assert not native.enabled()
        y_torch = layer(x[6:])
    finally:
        native.set_enabled(prev)
    assert native.enabled()
    assert (layer(x[6:]) - y_torch).abs().max() < 1e-12


def test_knot_table_follows_grid_changes():
    layer, x = _case(torch.float64, 3, 5, True)
    y0 = layer(x[6:])
    layer.update_grid(x[6:])  # replaces the grid: the cached table must follow
    layer.coef.data.mul_(2)
    prev = native.set_enabled(False)
    try:
        ref = layer(x[6:])
    finally:
        native.set_enabled(prev)
    assert (layer(x[6:]) - ref).abs().max() < 1e-12
    assert (layer(x[6:]) - y0).abs().max() > 1e-3


def test_fold_weight_matches_torch_and_gradchecks():
    from kanlab.ops import _fold_torch, fold_weight

    gen = torch.Generator().manual_seed(3)
    mask = (torch.rand(4, 3, generator=gen) > 0.3).double()
    sb, sp = torch.randn(4, 3, dtype=torch.float64, generator=gen), torch.randn(4, 3, dtype=torch.float64, generator=gen)
    coef = torch.randn(4, 3, 6, dtype=torch.float64, generator=gen)
    assert native.supports_tensor(coef)
    assert (fold_weight(mask, sb, sp, coef) - _fold_torch(mask, sb, sp, coef)).abs().max() == 0
    args = tuple(t.clone().requires_grad_(True) for t in (sb, sp, coef))
    f = lambda *a: fold_weight(mask, *a)  # noqa: E731
    assert torch.autograd.gradcheck(f, args)
    assert torch.autograd.gradgradcheck(f, args)


@pytest.mark.parametrize("dtype,k,grid,uniform", [c for c in CASES if c[1] in (1, 3, 5)])
def test_feature_cov_matches_torch_and_gradchecks(dtype, k, grid, uniform):
    from kanlab.ops import _feature_cov_torch, feature_cov

    layer, x = _case(dtype, k, grid, uniform)
    x = x[1:].clone()  # finite
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    xn, xt = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    cn = feature_cov(xn, layer.grid, k, layer.uniform, "silu")
    ct = _feature_cov_torch(xt, layer.grid, k, layer.uniform, "silu")
    assert (cn - ct).abs().max() < tol
    g = torch.randn(cn.shape, dtype=dtype, generator=torch.Generator().manual_seed(1))
    (cn * g).sum().backward()
    (ct * g).sum().backward()
    assert (xn.grad - xt.grad).abs().max() < tol * 10


def test_feature_cov_gradcheck_and_edge_std():
    from kanlab.ops import feature_cov

    layer, x = _case(torch.float64, 3, 6, False, batch=40)
    x = x[6:].clone().requires_grad_(True)
    f = lambda x: feature_cov(x, layer.grid, 3, False, "silu")  # noqa: E731
    assert torch.autograd.gradcheck(f, (x,))
    assert torch.autograd.gradgradcheck(f, (x,))
    std = layer.edge_std(x)
    assert (std - layer.edge_activations(x).std(dim=0)).abs().max() < 1e-10


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("out_dim", [1, 2, 16, 33, 64])
@pytest.mark.parametrize("k", [2, 3, 6])
def test_output_widths_cover_every_kernel_branch(dtype, out_dim, k):
    """Scalar single-output code, per-element rows, register tiles with and without leftover columns; unrolled
    (k <= 5) and row-by-row (k = 6) orders; on both native modes, against the torch path."""
    layer, x = _case(dtype, k, 7, True, in_dim=5, out_dim=out_dim, batch=700)
    x = x[1:]
    tol = 1e-12 if dtype == torch.float64 else 5e-5
    w = layer.folded_weight().detach()
    out = {}
    for mode in ("sparse", "dense", "torch"):
        xx, ww = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
        y = layer_function(xx, ww, layer.grid, k, True, "silu", mode=mode)
        (y * torch.linspace(-1, 1, out_dim, dtype=dtype)).sum().backward()
        out[mode] = (y.detach(), xx.grad, ww.grad)
    for mode in ("sparse", "dense"):
        for a, b in zip(out[mode], out["torch"]):
            assert (a - b).abs().max() < tol * (1 + b.abs().max())


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-6), (torch.float64, 1e-12)])
@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("uniform", [True, False])
def test_basis_values_and_slopes_match_the_reference(dtype, tol, k, uniform):
    """The kernels' bases against the dense Cox-de Boor reference of splines.py (itself checked against scipy):
    values to 1e-6 / 1e-12 (float32 / float64), slopes likewise relative to their size, inside and off the grid."""
    from kanlab import splines

    layer, x = _case(dtype, k, 6, uniform, batch=400)
    x = x[1:]  # finite
    g, nk = layer.grid, layer.grid.shape[1]
    table, m = native.knot_table(g, k), splines.uniform_matrix(k, dtype)
    feat = native.features(x, table, nk, k, layer.uniform, m, "zero").view(x.shape[0], x.shape[1], -1)
    x64 = x.double().requires_grad_(True)
    ref = splines.bspline_basis(x64, g.double(), k)  # (B, in, nb)
    assert (feat[..., 1:].double() - ref).abs().max() < tol
    nb = ref.shape[-1]
    for c in range(nb):
        onehot = torch.zeros(x.shape[0], x.shape[1], 1 + nb, dtype=dtype)
        onehot[..., 1 + c] = 1
        slope = native.backward_x(x, onehot.view(x.shape[0], -1), table, nk, k, layer.uniform, m, "zero")
        (ref_slope,) = torch.autograd.grad(ref[..., c].sum(), x64, retain_graph=True)
        rows = slice(5, None) if k == 1 else slice(None)  # k = 1 has kinks: a point on a knot has two slopes
        err = (slope.double() - ref_slope)[rows].abs().max()
        assert err < tol * (1 + ref_slope.abs().max()) * 10


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")  # shape checks become constants: expected
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.trace itself is deprecated in torch 2.13
def test_jit_trace_records_the_registered_op():
    """torch.jit.trace records kanlab::layer (the kernels' torch op, not an opaque Python call), and the traced
    model matches the eager one."""
    from kanlab import KAN

    model = KAN([3, 4, 2], grid=5, k=3, seed=0)
    x = torch.rand(16, 3) * 2 - 1
    traced = torch.jit.trace(model, x, check_trace=False)
    assert "kanlab::layer" in str(traced.inlined_graph)
    assert (traced(x) - model(x)).abs().max() < 1e-5


@pytest.mark.parametrize("grid", [5, 30])
def test_dtype_mismatch_is_a_clear_error(grid):
    """The kernels read raw memory, so a float64 input on a float32 layer must be refused, not reinterpreted."""
    layer = KANLayer(3, 130, grid=grid)
    with pytest.raises(TypeError, match="dtype"):
        layer(torch.rand(10, 3, dtype=torch.float64))
    layer64 = KANLayer(3, 2, grid=grid, dtype=torch.float64)
    with pytest.raises(TypeError, match="dtype"):
        layer64(torch.rand(10, 3))


def test_layer_function_checks_shapes():
    layer, x = _case(torch.float64, 3, 5, True)
    w = layer.folded_weight().detach()
    with pytest.raises(ValueError, match="shapes do not fit"):
        layer_function(x[:, :4], w, layer.grid, 3, True, "silu")
    with pytest.raises(ValueError, match="shapes do not fit"):
        layer_function(x, w[:, :-1], layer.grid, 3, True, "silu")
    with pytest.raises(ValueError, match="knot table"):
        layer_function(x, w, layer.grid, 3, True, "silu", table=native.knot_table(layer.grid, 2))


@pytest.mark.parametrize("mode", ["sparse"])  # dense ends in MKL's GEMM, whose blocking may follow the threads
def test_results_do_not_depend_on_the_thread_count(mode):
    """Each output row and each weight row is owned by one thread, so 1 and 2 threads give the same bits."""
    layer, x = _case(torch.float32, 3, 8, False, in_dim=40, out_dim=48, batch=900)
    x = x[1:]
    w = layer.folded_weight().detach()
    prev = torch.get_num_threads()
    out = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            xx, ww = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
            y = layer_function(xx, ww, layer.grid, 3, False, "silu", mode=mode)
            (y * y).sum().backward()
            out.append((y.detach(), xx.grad, ww.grad))
    finally:
        torch.set_num_threads(prev)
    for a, b in zip(*out):
        assert torch.equal(a, b)


def test_bound_calls_check_once_and_rerun_on_new_values():
    """native.bind_*: the arguments are checked when bound (contiguous, detached, shapes of the outputs); the call
    then reruns on the same memory and sees values written in between."""
    from kanlab import splines
    from kanlab.ops import dense_basis, grid_state

    layer = KANLayer(3, 2, grid=5, k=3, dtype=torch.float64)
    uniform, table = grid_state(layer.grid, 3)
    spline = (table, layer.grid.shape[1], 3, uniform, splines.uniform_matrix(3, torch.float64), "silu")
    x = torch.rand(50, 3, dtype=torch.float64) * 2 - 1
    w = layer.folded_weight().detach().clone()
    y = torch.empty(50, 2, dtype=torch.float64)
    call = native.bind_sparse_forward(x, w, *spline, y)
    call()
    torch.testing.assert_close(y, native.sparse_forward(x, w, *spline))
    x.mul_(0.5)  # new values, same memory
    call()
    torch.testing.assert_close(y, native.sparse_forward(x, w, *spline))
    assert dense_basis(x, layer.grid, 3).shape == (50, 3, 8)
    with pytest.raises(ValueError, match="contiguous tensor of shape"):
        native.bind_sparse_forward(x, w, *spline, torch.empty(49, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="contiguous tensor of shape"):
        native.bind_sparse_forward(x, w, *spline, torch.empty(2, 50, dtype=torch.float64).t())
    with pytest.raises(ValueError, match="contiguous and detached"):
        native.bind_sparse_forward(x.t().contiguous().t(), w, *spline, y)
    with pytest.raises(ValueError, match="contiguous and detached"):
        native.bind_sparse_forward(x, w.requires_grad_(True), *spline, y)
    with pytest.raises(TypeError, match="float64"):
        native.bind_fold_forward(*(t.float() for t in (layer.scale_base.detach(), layer.scale_sp.detach(),
                                                       layer.coef.detach())), w.detach())
    gx = torch.empty(0, 3, dtype=torch.float64)
    gw = torch.full_like(w.detach(), 7.0)
    empty = native.bind_sparse_backward(x[:0], w.detach(), torch.empty(0, 2, dtype=torch.float64), *spline, gx, gw)
    gw.fill_(7.0)
    empty()  # nothing to compute: the weight gradient of an empty batch is zero, on every call
    assert not gw.any()
