"""Workflow tests with independent expectations: hand-built models whose scores are computed here from the
definitions, so that a bug in prune, attribution, save/load, the estimators or fit's grid schedule changes a
result these tests predict (issue 18's planted bugs). None of them needs pykan."""

import numpy as np
import pytest
import torch

from kanlab import KAN, attribute

X3 = torch.rand(400, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2 - 1


def _base_only(width, weights: dict) -> KAN:
    """A KAN whose edges are w * silu(x) (splines zeroed): weights[(l, i, j)] = w, every other edge masked off."""
    model = KAN(width=width, grid=5, k=3, seed=0, dtype=torch.float64)
    with torch.no_grad():
        for layer in model.layers:
            layer.coef.zero_()
            layer.scale_sp.zero_()
            layer.scale_base.zero_()
            layer.mask.zero_()
        for (l, i, j), w in weights.items():
            model.layers[l].scale_base[i, j] = w
            model.layers[l].mask[i, j] = 1.0
    return model


def _silu(x: np.ndarray) -> np.ndarray:
    return x / (1 + np.exp(-x))


def test_attribution_follows_its_definition_on_a_one_layer_model():
    """[3, 1] with edges w_i silu(x_i): edge score = std(w_i silu(x_i)) / (std(output) + 1e-4), from numpy."""
    w = [2.0, 0.5, 0.05]
    model = _base_only([3, 1], {(0, i, 0): w[i] for i in range(3)})
    x = X3.numpy()
    e = np.array([np.std(w[i] * _silu(x[:, i]), ddof=1) for i in range(3)])
    out = sum(w[i] * _silu(x[:, i]) for i in range(3))
    want = e / (np.std(out, ddof=1) + 1e-4)
    got = attribute(model, X3).edge_scores[0][:, 0].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-10)
    np.testing.assert_allclose(attribute(model, X3).feature_score.numpy(), want, rtol=1e-10)


def test_prune_uses_each_threshold_for_its_own_job():
    """On [3, 1] there are no hidden nodes: node_th must not mask edges; edge_th masks exactly the edges scoring
    below it (scores from the definition above: about 0.97, 0.24, 0.024)."""
    model = _base_only([3, 1], {(0, 0, 0): 2.0, (0, 1, 0): 0.5, (0, 2, 0): 0.05})
    kept = model.prune(node_th=0.5, edge_th=0.0, x=X3)
    assert kept.layers[0].mask[:, 0].tolist() == [1.0, 1.0, 1.0]
    cut = model.prune(node_th=0.0, edge_th=0.1, x=X3)
    assert cut.layers[0].mask[:, 0].tolist() == [1.0, 1.0, 0.0]


def test_attribution_counts_symbolic_edges():
    """[3, 2, 1]: hidden node 0 is fed by x0 and x1 (numeric), hidden node 1 only by a symbolic edge 2 sin(x2).
    Both matter, so prune keeps both hidden nodes: [3, 2, 1]. Scoring numeric parts only would drop node 1."""
    model = _base_only([3, 2, 1], {(0, 0, 0): 1.0, (0, 1, 0): 1.0, (1, 0, 0): 1.0, (1, 1, 0): 1.0})
    model.fix_symbolic(0, 2, 1, "sin", fit_params=False)
    with torch.no_grad():
        model.symbolic[0].affine[2, 1] = torch.tensor([1.0, 0.0, 2.0, 0.0], dtype=torch.float64)
    scores = attribute(model, X3)
    assert float(scores.node_scores[1][1]) > 0.1 and float(scores.feature_score[2]) > 0.1
    assert model.prune(x=X3).width == [3, 2, 1]


def test_prune_by_activation_looks_both_ways():
    """[2, 2, 1]: hidden node 1 has strong inputs but no output edge. pykan 0.1's rule (the smaller of the largest
    incoming and the largest outgoing edge) removes it; looking at incoming edges alone would keep it."""
    model = _base_only([2, 2, 1], {(0, 0, 0): 1.0, (0, 1, 0): 1.0, (0, 0, 1): 3.0, (0, 1, 1): 3.0, (1, 0, 0): 1.0})
    assert model.prune_node(threshold=1e-2, x=X3[:, :2], by="activation").width == [2, 1, 1]
    assert model.prune_node(threshold=1e-2, x=X3[:, :2]).width == [2, 1, 1]  # attribution agrees


@pytest.mark.parametrize("frozen", [("coef",), ("scale_base", "scale_sp"), ("coef", "scale_base", "scale_sp")])
def test_load_keeps_every_trainable_flag(tmp_path, frozen):
    model = KAN(width=[2, 3, 1], seed=0, sp_trainable=False)
    for layer in model.layers:
        for name in frozen:
            getattr(layer, name).requires_grad_(False)
    model.save(tmp_path / "m.kan")
    back = KAN.load(tmp_path / "m.kan")
    for mine, theirs in zip(model.layers, back.layers):
        for name, p in mine.named_parameters():
            assert getattr(theirs, name).requires_grad == p.requires_grad, name


def test_fit_moves_the_grid_to_the_data_only_when_asked():
    x = torch.rand(200, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 6 - 3
    ds = {"train_input": x, "train_label": x[:, :1] ** 2, "test_input": x, "test_label": x[:, :1] ** 2}
    moved = KAN(width=[2, 1], seed=0, dtype=torch.float64)
    moved.fit(ds, steps=1)
    layer = moved.layers[0]
    inner = layer.grid[:, layer.k], layer.grid[:, -layer.k - 1]
    assert (inner[0] < -2.9).all() and (inner[1] > 2.9).all()  # the samples' range, [-3, 3]
    kept = KAN(width=[2, 1], seed=0, dtype=torch.float64)
    with pytest.warns(UserWarning, match="outside the first layer's grid"):
        kept.fit(ds, steps=1, update_grid=False)
    assert torch.equal(kept.layers[0].grid, KAN(width=[2, 1], seed=0, dtype=torch.float64).layers[0].grid)


def _regression_data():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (150, 2))
    return X, np.sin(np.pi * X[:, 0]) + X[:, 1] ** 2


def test_random_state_decides_the_model():
    from kanlab.sklearn import KANRegressor

    X, y = _regression_data()
    kw = dict(hidden_width=(3,), grid=3, steps=2)
    a = KANRegressor(random_state=0, **kw).fit(X, y).predict(X)
    b = KANRegressor(random_state=0, **kw).fit(X, y).predict(X)
    c = KANRegressor(random_state=1, **kw).fit(X, y).predict(X)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


def test_auto_symbolic_refits_the_affine_parameters():
    """The estimator's auto_symbolic tunes the snapped functions' parameters on the training data: the refit
    changes them and does not make the fit worse."""
    from kanlab.sklearn import KANRegressor

    X, y = _regression_data()
    est = KANRegressor(hidden_width=(2,), grid=5, steps=20, random_state=0).fit(X, y)
    snapped = KANRegressor(hidden_width=(2,), grid=5, steps=20, random_state=0).fit(X, y)
    snapped.auto_symbolic(refit_steps=0)
    est.auto_symbolic(refit_steps=10)
    before = torch.cat([s.affine.flatten() for s in snapped.model_.symbolic])
    after = torch.cat([s.affine.flatten() for s in est.model_.symbolic])
    assert (after - before).abs().max() > 1e-6
    err = lambda e: float(np.mean((e.predict(X) - y) ** 2))  # noqa: E731
    assert err(est) <= err(snapped) + 1e-12


def test_early_stopping_restores_the_best_state():
    """Recompute the validation loss of the restored model: it equals the best one in the history."""
    x = torch.rand(300, 2, generator=torch.Generator().manual_seed(2)) * 2 - 1
    y = torch.sin(3 * x[:, :1]) + x[:, 1:] ** 2
    xv = torch.rand(100, 2, generator=torch.Generator().manual_seed(3)) * 2 - 1
    yv = torch.sin(3 * xv[:, :1]) + xv[:, 1:] ** 2
    model = KAN(width=[2, 3, 1], seed=0)
    hist = model.fit((x, y), batch=32, epochs=12, lr=0.05, val_data=(xv, yv), patience=2)
    with torch.no_grad():
        val = float(torch.sqrt(torch.mean((model(xv) - yv) ** 2)))  # the history holds RMSE
    assert val == pytest.approx(min(hist["val_loss"]), rel=1e-5)


def test_fit_after_an_edge_snapped_to_zero():
    """An all-symbolic model whose last edge is '0' (a constant): earlier layers no longer reach the loss, and the
    fast path's gradient must treat their parameters' gradients as 0 (it raised before)."""
    model = KAN(width=[2, 1, 1], seed=0, dtype=torch.float64)
    for i, name in ((0, "sin"), (1, "x")):
        model.fix_symbolic(0, i, 0, name, fit_params=False)
    model.fix_symbolic(1, 0, 0, "0", fit_params=False)
    x = X3[:, :2]
    ds = {"train_input": x, "train_label": x[:, :1] * 0 + 0.7, "test_input": x, "test_label": x[:, :1] * 0 + 0.7}
    hist = model.fit(ds, steps=2, update_grid=False)
    assert hist["train_loss"][-1] < 1e-6  # only the constant d matters, and it fits 0.7 exactly
