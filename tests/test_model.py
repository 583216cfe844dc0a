import os
import random

import numpy as np
import pytest
import torch

from kanlab import KAN, create_dataset
from conftest import seed_fn


def test_width_list_is_not_mutated_and_shapes():
    width = [3, 4, 2]
    model = KAN(width=width, grid=5, k=3, seed=0)
    assert width == [3, 4, 2] and model.width == [3, 4, 2] and model.width is not width
    assert model(torch.rand(7, 3)).shape == (7, 2)


def test_per_layer_grid_and_k():
    model = KAN(width=[2, 3, 1], grid=[4, 6], k=[2, 3])
    assert model.grid == [4, 6] and model.k == [2, 3]
    with pytest.raises(ValueError, match="entries"):
        KAN(width=[2, 3, 1], grid=[4, 6, 7])


@pytest.mark.parametrize("kwargs,err,match", [
    (dict(width=[2, 0, 1]), ValueError, "positive"),
    (dict(width=[2]), ValueError, "at least"),
    (dict(width="2,1"), TypeError, "width"),
    (dict(width=[2, 1], grid=0), ValueError, "grid"),
    (dict(width=[2, 1], k=0), ValueError, "k must"),
    (dict(width=[2, 1], base_fun="gelu"), ValueError, "base_fun"),
    (dict(width=[[2, 1], 1]), ValueError, "input layer cannot have multiplication"),
    (dict(width=[2, [3, 2, 1], 1]), ValueError, "pair"),
    (dict(width=[2, [0, 0], 1]), ValueError, "no nodes"),
    (dict(width=[2, [1, 1], 1], mult_arity=1), ValueError, "mult_arity"),
    (dict(width=[2, [1, 2], 1], mult_arity=[[], [2], []]), ValueError, "lists 1 arities"),
    (dict(width=[2, [1, 2], 1], mult_arity=[2, 2]), ValueError, "one entry per width entry"),
    (dict(width=[2, 1], not_a_kwarg=1), TypeError, "not_a_kwarg"),
])
def test_bad_constructor_arguments(kwargs, err, match):
    with pytest.raises(err, match=match):
        KAN(**kwargs)


def test_input_width_mismatch_is_an_error():
    model = KAN(width=[2, 3, 1])
    with pytest.raises(ValueError, match="width"):
        model(torch.rand(5, 3))
    with pytest.raises(ValueError, match="width"):
        model(torch.rand(5))


def test_input_dtype_mismatch_is_a_clear_error():
    model = KAN(width=[2, 3, 1])
    with pytest.raises(TypeError, match="dtype"):
        model(torch.rand(5, 2, dtype=torch.float64))
    with pytest.raises(TypeError, match="must be a floating-point tensor, got torch.int64"):
        model(torch.randint(0, 3, (5, 2)))


def test_no_global_rng_use_and_no_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    t_state, np_state, py_state = torch.get_rng_state(), np.random.get_state(), random.getstate()
    ds = create_dataset(seed_fn, n_var=2, train_num=100, test_num=50)
    model = KAN(width=[2, 3, 1], grid=3, seed=0)
    model.fit(ds, steps=3, lamb=0.01)
    model.prune().refine(6)
    assert torch.equal(torch.get_rng_state(), t_state)
    assert np.random.get_state()[1].tolist() == np_state[1].tolist() and random.getstate() == py_state
    assert os.listdir(tmp_path) == []


def test_seed_makes_init_reproducible():
    a, b, c = KAN([2, 3, 1], seed=0), KAN([2, 3, 1], seed=0), KAN([2, 3, 1], seed=1)
    x = torch.rand(10, 2)
    assert torch.equal(a(x), b(x)) and not torch.equal(a(x), c(x))


def test_dtype_and_device_arguments():
    model = KAN([2, 3, 1], dtype=torch.float64, device="cpu")
    assert model.dtype == torch.float64 and model(torch.rand(3, 2, dtype=torch.float64)).dtype == torch.float64


def _trained(steps=10):
    ds = create_dataset(seed_fn, n_var=2, train_num=300, test_num=100, dtype=torch.float64)
    model = KAN(width=[2, 5, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    model.fit(ds, steps=steps, lamb=0.01, lamb_entropy=10.0)
    return model, ds


def test_refine_keeps_a_trained_models_function():
    model, ds = _trained()
    fine = model.refine(10)
    assert fine.grid == [10, 10] and model.grid == [5, 5]
    x = ds["test_input"]
    # nested knots (10 = 2 x 5): the transfer is exact up to the least-squares solve's rounding (measured 2.5e-10)
    assert (fine(x) - model(x)).abs().max() < 1e-8
    # a non-multiple ratio (knots not nested) is still close in RMS
    assert (model.refine(7)(x) - model(x)).pow(2).mean().sqrt() < 0.02 * model(x).std()


def test_update_grid_keeps_predictions():
    model, ds = _trained()
    x = ds["train_input"]
    before = model(x)
    model.update_grid(x)
    # a spline on new knots is a projection, not a copy: close in RMS
    assert (model(x) - before).pow(2).mean().sqrt() < 0.01 * before.std()


def test_prune_node_gives_same_predictions_on_kept_part():
    model, ds = _trained()
    # silence hidden nodes 1 and 3 exactly: their outgoing edges carry nothing
    with torch.no_grad():
        model.layers[1].mask[[1, 3]] = 0
    x = ds["test_input"]
    pruned = model.prune_node(1e-6)
    assert pruned.width == [2, 3, 1] and model.width == [2, 5, 1]
    assert (pruned(x) - model(x)).abs().max() < 1e-12
    manual = model.prune_node(active_neurons_id=[[0, 2, 4]])
    assert (manual(x) - model(x)).abs().max() < 1e-12


def test_prune_workflow_shrinks_seed_model():
    model, ds = _trained(steps=20)
    pruned = model.prune()
    scores = model.attribute()
    # the hidden nodes kept are exactly those scoring above node_th (here 3 of 5: two score about 1e-5)
    kept = [i for i, s in enumerate(scores.node_scores[1].tolist()) if s > 1e-2]
    assert pruned.width == [2, len(kept), 1] and len(kept) == 3
    # (prune judges by spread: a dropped node or edge may still have carried a constant offset, so the outputs are
    # not compared here; test_prune_node_gives_same_predictions_on_kept_part does that on silenced nodes)
    assert [s.shape for s in scores.node_scores] == [(2,), (5,), (1,)]
    assert [s.shape for s in scores.edge_scores] == [(2, 5), (5, 1)]
    assert scores.feature_score.shape == (2,)


def test_prune_edge_masks_weak_edges():
    model, ds = _trained()
    scores = model.attribute().edge_scores
    th = scores[0].median().item()
    new = model.prune_edge(th)
    assert torch.equal(new.layers[0].mask, (scores[0] >= th).to(new.layers[0].mask.dtype))
    assert model.layers[0].mask.sum() == 10  # original untouched


def test_prune_input_drops_unused_inputs():
    f = lambda x: torch.sin(2 * x[:, [0]])  # noqa: E731 - the second and third inputs are irrelevant
    ds = create_dataset(f, n_var=3, train_num=300, test_num=100, dtype=torch.float64)
    model = KAN(width=[3, 3, 1], grid=5, seed=0, dtype=torch.float64)
    model.fit(ds, steps=20, lamb=0.01, lamb_entropy=2.0)
    score = model.attribute().feature_score
    assert score[0] > 5 * score[1:].max()
    small = model.prune_input(threshold=0.1)
    assert small.width[0] == 1 and small.fit_input_.shape[1] == 1
    small.fit({k: v[:, [0]] if k.endswith("input") else v for k, v in ds.items()}, steps=10)
    assert (small(ds["test_input"][:, [0]]) - ds["test_label"]).pow(2).mean().sqrt() < 0.01
    with pytest.raises(ValueError, match="active_inputs"):
        model.prune_input(active_inputs=[5])


def test_prune_needs_data():
    with pytest.raises(ValueError, match="pass x"):
        KAN([2, 3, 1]).prune()
    assert KAN([2, 3, 1]).prune(x=torch.rand(50, 2)).width[0] == 2


def test_helpers_convert_data_to_the_model_dtype():
    model = KAN(width=[2, 3, 1], seed=0)  # float32
    x64 = torch.rand(50, 2, dtype=torch.float64)
    assert model.attribute(x64).feature_score.dtype == torch.float32
    hist = model.fit((x64, x64.sum(1, keepdim=True)), epochs=1)
    assert len(hist["train_loss"]) == 1
    with pytest.raises(TypeError, match="floating-point"):
        model.attribute(torch.zeros(5, 2, dtype=torch.long))


def test_numpy_integers_are_integers_everywhere(tmp_path):
    """pykan users pass np.int64 from np.arange & co.: widths, grids, k, seed, steps, batch, edge indices."""
    import numpy as np

    from kanlab import KAN, LBFGS, create_dataset, ex_round  # ex_round and LBFGS at the top level

    assert callable(ex_round) and LBFGS.__name__ == "LBFGS"
    i64 = np.int64
    model = KAN(width=[i64(2), np.int32(3), 1], grid=i64(5), k=i64(3), seed=i64(0))
    same = KAN(width=[2, 3, 1], grid=5, k=3, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), same.state_dict().values()))
    assert type(model.config.grid[0]) is int and type(model.config.seed) is int  # saved as plain ints
    ds = create_dataset(lambda x: x[:, [0]] ** 2, n_var=i64(2), train_num=i64(60), test_num=i64(20))
    hist = model.fit(ds, steps=i64(2), batch=i64(30))
    assert len(hist["train_loss"]) == 2
    model.fix_symbolic(i64(0), i64(0), i64(0), "x^2")
    assert model.symbolic[0].names[0][0] == "x^2"
    assert model.refine(i64(7)).grid == [7, 7]
    assert float(model.remove_node(i64(1), i64(0)).layers[0].mask[:, 0].sum()) == 0
    for bad in (2.0, True, "3"):
        with pytest.raises(ValueError, match="grid must be an integer"):
            KAN(width=[2, 1], grid=bad)
    with pytest.raises(ValueError, match="steps must be an integer >= 0"):
        model.fit(ds, steps=-1)


def test_activations_and_remove_edge_node():
    """activations(x): per layer (inputs, per-edge outputs) summing to the next layer's input (the node sums);
    remove_edge/remove_node return new models and leave this one alone."""
    from kanlab import KAN

    model = KAN(width=[2, 3, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    x = torch.rand(40, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    model.fix_symbolic(0, 1, 2, "sin", fit_params=False)
    model.set_mode(0, 1, 2, "ns")
    acts = model.activations(x)
    nxt = model.layer_inputs(x)
    for l, (xin, ys) in enumerate(acts):
        assert ys.shape == (40, model.width[l], model.width[l + 1])
        torch.testing.assert_close(xin, nxt[l])
        torch.testing.assert_close(ys.sum(dim=1), nxt[l + 1].detach())
    cut = model.remove_edge(0, 1, 2)
    assert model.layers[0].mask[1, 2] == 1 and model.symbolic[0].mask[1, 2] == 1
    assert cut.layers[0].mask[1, 2] == 0 and cut.symbolic[0].mask[1, 2] == 0
    assert float(cut.activations(x)[0][1][:, 1, 2].abs().max()) == 0.0
    gone = model.remove_node(1, 2, mode="down")
    assert float(gone.layers[0].mask[:, 2].sum()) == 0 and float(gone.layers[1].mask[2].sum()) == 1
    with pytest.raises(ValueError, match="mode"):
        model.remove_node(1, 0, mode="sideways")
    with pytest.raises(IndexError, match="does not exist"):
        model.remove_edge(0, 2, 0)
