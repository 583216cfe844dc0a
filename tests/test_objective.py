"""FlatObjective (the autograd-free loss and gradient fit uses for full-batch L-BFGS) against the autograd path."""

import numpy as np
import pytest
import torch

from kanlab import KAN, create_dataset, native
from kanlab.fit import objective_terms
from kanlab.objective import FlatObjective, applies
from kanlab.optim import LBFGS

pytestmark = pytest.mark.skipif(not native.available(), reason="the flat objective runs on the native kernels")


def _data(dtype=torch.float64, n_var=2):
    f = lambda x: torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)  # noqa: E731
    return create_dataset(f, n_var=n_var, train_num=300, test_num=50, dtype=dtype, seed=0)


def _autograd(model, params, x, y, lamb):
    for p in params:
        p.grad = None
    obj, _, _ = objective_terms(model, x, y, lambda p, t: torch.mean((p - t) ** 2), lamb, 1.0, 10.0, 0.0, 0.0,
                                True, 1000.0)
    obj.backward()
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
    return float(obj.detach()), flat.numpy()


def _agrees_with_autograd(objective, model, params, x, y, lamb, rel=1e-12, rtol=1e-9, atol=1e-12):
    """Evaluate ``objective`` at the model's parameters and compare loss and gradient with the autograd path;
    returns (flat vector, gradient, autograd's gradient)."""
    v = LBFGS(params).flat_params()
    ref_loss, ref_grad = _autograd(model, params, x, y, lamb)
    loss, grad = objective(v)
    assert loss == pytest.approx(ref_loss, rel=rel)
    np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=atol)
    return v, grad, ref_grad


@pytest.mark.parametrize("lamb", [0.0, 0.01])
@pytest.mark.parametrize("width", [[2, 5, 1], [2, 4, 3, 2]])
def test_matches_autograd(lamb, width):
    ds = _data()
    x, y = ds["train_input"], ds["train_label"].repeat(1, width[-1])
    model = KAN(width, grid=5, k=3, seed=0, dtype=torch.float64)
    model.update_grid(x)  # non-uniform grids
    with torch.no_grad():
        model.layers[1].mask[1, 0] = 0  # a pruned edge
        model.layers[0].coef.add_(0.3 * torch.randn(model.layers[0].coef.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    params = [p for p in model.parameters() if p.requires_grad]
    _, _, ref_grad = _agrees_with_autograd(FlatObjective(model, params, x, y, lamb, 1.0, 10.0), model, params, x, y,
                                           lamb)
    assert np.abs(ref_grad).max() > 1e-3  # a gradient worth comparing


@pytest.mark.parametrize("lamb", [0.0, 0.01])
def test_symbolic_edges_match_autograd(lamb):
    """Symbolic edges (some alongside their splines, a layer with every spline off) through their own graph."""
    ds = _data()
    x, y = ds["train_input"], ds["train_label"]
    model = KAN([2, 3, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    model.fix_symbolic(0, 0, 0, "sin", fit_params=False)
    model.fix_symbolic(0, 1, 2, "log", fit_params=False)  # singular on half the inputs: the safe variant runs
    model.set_mode(0, 1, 2, "ns")
    for j in range(3):
        model.fix_symbolic(1, j, 0, "x^2", fit_params=False)
    with torch.no_grad():
        model.symbolic[0].affine.add_(0.1)
    assert not model.layers[1].mask.any()
    params = [p for p in model.parameters() if p.requires_grad]
    _, grad, _ = _agrees_with_autograd(FlatObjective(model, params, x, y, lamb, 1.0, 10.0), model, params, x, y, lamb)
    at = next(n for n, p in enumerate(params) if p is model.symbolic[1].affine)
    start = sum(p.numel() for p in params[:at])
    assert np.abs(grad[start: start + params[at].numel()]).max() > 1e-3  # the symbolic parameters get theirs


def test_all_symbolic_model_matches_autograd():
    """Every spline off and no penalty: the one-graph path."""
    ds = _data()
    x, y = ds["train_input"], ds["train_label"]
    model = KAN([2, 2, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    for i, j, name in ((0, 0, "sin"), (1, 0, "x^2"), (1, 1, "exp")):
        model.fix_symbolic(0, i, j, name, fit_params=False)
    model.set_mode(0, 0, 1, "n")
    with torch.no_grad():
        model.layers[0].mask[0, 1] = 0  # no edge at all: that node outputs 0
    for i, name in ((0, "exp"), (1, "x^2")):
        model.fix_symbolic(1, i, 0, name, fit_params=False)
    model.symbolic[1].affine.requires_grad_(False)  # a frozen symbolic layer
    assert not any(layer.mask.any() for layer in model.layers)
    params = [p for p in model.parameters() if p.requires_grad]
    objective = FlatObjective(model, params, x, y)
    assert objective._symbolic_only
    v, grad, _ = _agrees_with_autograd(objective, model, params, x, y, 0.0)
    assert np.abs(grad).max() > 1e-3
    with torch.no_grad():
        torch.testing.assert_close(objective.predict(v), model(x, True))


def test_frozen_parameters_and_float32():
    ds = _data(torch.float32)
    model = KAN([2, 3, 1], grid=4, k=2, seed=2, sb_trainable=False, dtype=torch.float32)
    params = [p for p in model.parameters() if p.requires_grad]
    assert all(p is not layer.scale_base for layer in model.layers for p in params)
    x, y = ds["train_input"], ds["train_label"]
    v, _, _ = _agrees_with_autograd(FlatObjective(model, params, x, y, 0.01, 1.0, 10.0), model, params, x, y, 0.01,
                                    rel=1e-5, rtol=1e-3, atol=1e-5)
    assert v.dtype == np.float32


def test_predict_and_a_moved_point():
    ds = _data()
    model = KAN([2, 3, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = LBFGS(params)
    obj = FlatObjective(model, params, ds["train_input"], ds["train_label"])
    v = opt.flat_params() + 0.01
    opt.set_params(v)
    with torch.no_grad():
        torch.testing.assert_close(obj.predict(v, ds["test_input"]), model(ds["test_input"]))
    with pytest.raises(ValueError, match="flat numpy vector"):
        obj(v[:-1])
    with pytest.raises(ValueError, match="flat numpy vector"):
        obj(v.astype(np.float32))


def test_applies_only_where_it_is_exact():
    ds = _data()
    x = ds["train_input"]
    model = KAN([2, 3, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    params = [p for p in model.parameters() if p.requires_grad]
    assert applies(model, params, x)
    assert not applies(model, params + [torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))], x)
    handle = model.register_forward_hook(lambda *a: None)
    assert not applies(model, params, x)
    handle.remove()
    with pytest.raises(ValueError, match="stock KANs"):
        FlatObjective(model, params + [torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))], x,
                      ds["train_label"])
    prev = native.set_enabled(False)
    try:
        assert not applies(KAN([2, 1], dtype=torch.float64), [], x)
    finally:
        native.set_enabled(prev)


def test_fit_takes_the_flat_path_and_matches_autograd(monkeypatch):
    """A short sparsified fit, once on the flat objective and once forced onto autograd (a forward hook), gives
    the same history. (Longer runs drift apart: near-zero edge scales amplify rounding differences, 1/std.)"""
    import kanlab.objective

    calls = []
    original = kanlab.objective.FlatObjective.__call__
    monkeypatch.setattr(kanlab.objective.FlatObjective, "__call__",
                        lambda self, v: calls.append(1) or original(self, v))
    ds = _data()
    runs = []
    for hook in (False, True):
        model = KAN([2, 3, 1], grid=5, k=3, seed=0, dtype=torch.float64)
        if hook:
            model.register_forward_hook(lambda *a: None)
        n = len(calls)
        runs.append(model.fit(ds, opt="LBFGS", steps=2, lamb=0.01, lamb_entropy=10.0, log=0))
        assert (len(calls) > n) == (not hook)
    flat, ref = runs
    for key in ("train_loss", "test_loss", "reg"):
        np.testing.assert_allclose(flat[key], ref[key], rtol=1e-6)
    assert flat["train_loss"][-1] < flat["train_loss"][0]
