import os

import matplotlib.colors as mcolors
import pytest
import sympy
import torch

from kanlab import KAN, create_dataset
from kanlab.plot import MAX_EDGES, edge_scores, plot_history
from conftest import seed_fn


@pytest.fixture(scope="module")
def trained():
    ds = create_dataset(seed_fn, n_var=2, train_num=300, test_num=100, dtype=torch.float64)
    model = KAN(width=[2, 5, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    model.fit(ds, steps=20, lamb=0.01, lamb_entropy=10.0)
    return model, ds


def _insets(fig):
    main = fig.axes[0]
    return main, main.child_axes  # one inset per drawn edge


def test_diagram_has_one_box_per_edge_and_fades_by_score(trained, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model, _ = trained
    fig = model.plot(beta=3)
    main, boxes = _insets(fig)
    assert len(boxes) == 2 * 5 + 5 * 1
    # curve alpha follows tanh(beta * score): ordering of alphas equals ordering of scores
    scores = torch.cat([s.flatten() for s in edge_scores(model)])
    alphas = torch.tensor([b.lines[0].get_alpha() for b in boxes], dtype=torch.float64)
    assert torch.allclose(alphas, torch.tanh(3 * scores), atol=1e-9)
    assert os.listdir(tmp_path) == []


def test_pruned_and_symbolic_edges(trained, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model, _ = trained
    pruned = model.prune()
    n_active = sum(int(l.mask.sum()) for l in pruned.layers)
    fig = pruned.plot(in_vars=[sympy.Symbol("x_1"), "y"], out_vars=["f"], title="t")
    assert len(_insets(fig)[1]) == n_active
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "$x_{1}$" in texts and "y" in texts and "f" in texts
    pruned.fix_symbolic(0, 0, 0, "sin")
    pruned.set_mode(0, 1, 0, "ns")
    fig = pruned.plot()
    boxes = _insets(fig)[1]
    colours = [mcolors.to_hex(b.lines[0].get_color()) for b in boxes]
    expected, names = [], []
    for layer, sym in zip(pruned.layers, pruned.symbolic):
        for i in range(layer.in_dim):
            for j in range(layer.out_dim):
                n, s_ = bool(layer.mask[i, j]), bool(sym.mask[i, j])
                if n or s_:
                    expected.append({(True, False): "black", (False, True): "red", (True, True): "purple"}[(n, s_)])
                    names.append([sym.names[i][j]] if s_ else [])
    assert colours == [mcolors.to_hex(c) for c in expected]
    assert "red" in expected and "purple" in expected
    assert [[t.get_text() for t in b.texts] for b in boxes] == names
    assert os.listdir(tmp_path) == []


def test_path_saves_and_large_models_fall_back_to_heatmaps(tmp_path):
    model = KAN([4, 8, 8, 1], seed=0)
    x = torch.rand(64, 4) * 2 - 1
    fig = model.plot(x=x, path=str(tmp_path / "net.png"))
    assert (tmp_path / "net.png").stat().st_size > 0 and len(_insets(fig)[1]) == 4 * 8 + 8 * 8 + 8
    big = KAN([16, 16, 1], seed=0)
    assert 16 * 16 + 16 > MAX_EDGES
    with pytest.warns(UserWarning, match="heat maps"):
        fig = big.plot(x=torch.rand(64, 16))
    assert len(fig.axes) == 2 * 2  # one heat map and its colour bar per layer


def test_metrics_and_bad_arguments(trained):
    model, _ = trained
    for metric in ("backward", "forward_u", "forward_n"):
        s = edge_scores(model, metric)
        assert max(float(t.max()) for t in s) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="metric"):
        model.plot(metric="sideways")
    with pytest.raises(ValueError, match="in_vars"):
        model.plot(in_vars=["a"])


def test_sample_points_after_fit(trained):
    """plot(sample=True) on a trained model (parameters require grad) scatters each edge's samples on its curve."""
    model, ds = trained
    fig = model.plot(sample=True)
    _, boxes = _insets(fig)
    first = boxes[0]
    pts = first.collections[0].get_offsets()
    assert len(pts) == ds["train_input"].shape[0]
    with torch.no_grad():
        want = model.layers[0].edge_activations(ds["train_input"])[:, 0, 0]
    assert torch.allclose(torch.as_tensor(pts[:, 1].data, dtype=torch.float64), want, atol=1e-6)


def test_plot_activation_and_history(trained, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model, ds = trained
    m = model.copy()
    m.fix_symbolic(0, 0, 0, "sin")
    fig = m.plot_activation(0, 0, 0)
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels[0].startswith("numeric") and "sin" in labels[-1]
    hist = m.fit(ds, steps=3)
    fig = plot_history(hist)
    assert fig.axes[0].get_yscale() == "log" and len(fig.axes[0].lines) == 3
    with pytest.raises(ValueError):
        plot_history({})
    assert os.listdir(tmp_path) == []


def test_prune_by_activation(trained):
    model, _ = trained
    # pykan 0.1's rule, recomputed here from the per-edge outputs: a hidden node stays when the smaller of its
    # largest incoming and largest outgoing edge std exceeds node_th
    (_, ys0), (_, ys1) = model.activations()
    score = torch.minimum(ys0.std(dim=0).amax(dim=0), ys1.std(dim=0).amax(dim=1))
    assert model.prune(by="activation").width[1] == int((score > 1e-2).sum())
    with pytest.raises(ValueError, match="by="):
        model.prune(by="magic")
