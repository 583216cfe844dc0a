"""prune.py's edges, with expectations computed here: which edges remove_node switches off, which inputs
prune_input keeps (and at which threshold exactly), the index checks and their messages, and what is logged."""

import logging

import pytest
import torch

from kanlab import KAN, attribute
from test_expectations import _base_only  # edges w * silu(x) on a hand-built model
from kanlab.prune import (feature_interaction, node_attribution, node_scores, prune, prune_edge, prune_input,
                          prune_node, remove_node)

X = torch.rand(300, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2 - 1


def _model(width=(3, 3, 2)) -> KAN:
    return KAN(width=list(width), grid=4, k=3, seed=0, dtype=torch.float64)


def _off(model: KAN) -> set:
    """Every (layer, in, out) edge whose numeric mask is 0."""
    return {(l, i, j) for l, layer in enumerate(model.layers) for i, j in torch.nonzero(layer.mask == 0).tolist()}


def test_remove_node_switches_off_exactly_its_edges():
    model = _model()
    assert _off(remove_node(model, 1, 1)) == {(0, 0, 1), (0, 1, 1), (0, 2, 1), (1, 1, 0), (1, 1, 1)}  # 'all'
    assert _off(remove_node(model, 1, 1, mode="up")) == {(1, 1, 0), (1, 1, 1)}
    assert _off(remove_node(model, 1, 1, mode="down")) == {(0, 0, 1), (0, 1, 1), (0, 2, 1)}
    assert _off(remove_node(model, 0, 2)) == {(0, 2, 0), (0, 2, 1), (0, 2, 2)}  # an input has no incoming edges
    assert _off(remove_node(model, 2, 1)) == {(1, 0, 1), (1, 1, 1), (1, 2, 1)}  # an output has no outgoing ones
    assert _off(model) == set()  # the original is unchanged
    removed = remove_node(model, 1, 1)
    assert all(not removed.symbolic[l].mask[i, j] for l, i, j in _off(removed))


@pytest.mark.parametrize("l,i", [(-1, 0), (3, 0), (1, 3), (2, 2), (5, 0)])
def test_remove_node_names_a_missing_node(l, i):
    with pytest.raises(IndexError, match=rf"node \({l}, {i}\) does not exist in a network of width \[3, 3, 2\]"):
        remove_node(_model(), l, i)


def test_remove_node_names_bad_arguments():
    with pytest.raises(ValueError, match="layer must be an integer"):
        remove_node(_model(), 1.5, 0)
    with pytest.raises(ValueError, match="node must be an integer"):
        remove_node(_model(), 1, "0")
    with pytest.raises(ValueError, match="mode must be 'all', 'up' or 'down', got 'sideways'"):
        remove_node(_model(), 1, 0, mode="sideways")


def test_prune_input_keeps_scores_above_the_threshold_exactly():
    model = remove_node(_model(), 0, 1)  # input 1 feeds nothing: score 0
    with torch.no_grad():  # input 0 feeds little
        model.layers[0].coef[0] *= 0.05
        model.layers[0].scale_base[0] *= 0.05
    score = attribute(model, X).feature_score
    assert float(score[1]) < 1e-6  # (rounding in the std)
    kept = prune_input(model, x=X)  # default threshold 1e-2
    assert kept.width[0] == 2
    torch.testing.assert_close(kept(X[:, [0, 2]]), model(X), rtol=1e-12, atol=1e-12)
    assert min(float(score[0]), float(score[2])) < 0.5  # a kept input scores well below 1
    at = float(score[0])  # the weaker kept input's own score: it goes, input 2 stays ("above", not "at")
    assert float(score[2]) > at and prune_input(model, threshold=at, x=X).width[0] == 1


def test_prune_input_keeps_the_best_input_and_warns_when_all_score_low(caplog):
    model = _model()
    score = attribute(model, X).feature_score
    with caplog.at_level(logging.INFO, logger="kanlab.prune"):
        kept = prune_input(model, threshold=100.0, x=X)
    assert kept.width[0] == 1
    best = int(score.argmax())
    torch.testing.assert_close(kept(X[:, [best]]), remove_node(remove_node(model, 0, (best + 1) % 3),
                                                                0, (best + 2) % 3)(X))
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert ("WARNING", "prune_input: every input scored <= 100; keeping the best one") in messages
    assert ("INFO", f"prune_input: kept inputs [{best}]") in messages


def test_prune_input_by_list_and_its_checks():
    model = _model()
    model.fit_input_ = X.clone()
    kept = prune_input(model, active_inputs=[2, 0, 2])
    assert kept.width[0] == 2
    torch.testing.assert_close(kept.fit_input_, X[:, [0, 2]])  # the cached inputs follow the kept columns
    assert prune_input(model, active_inputs=[2]).width[0] == 1  # the last input is a valid one
    assert prune_input(_model((3, 2, 1)), active_inputs=[2]).width[0] == 1  # checked against width[0]
    with pytest.raises(ValueError, match=r"^active_inputs must name inputs in \[0, 3\), got \[3\]$"):
        prune_input(_model((3, 2, 1)), active_inputs=[3])
    for bad in ([], [-1], [3], [0, 3]):
        with pytest.raises(ValueError, match=r"active_inputs must name inputs in \[0, 3\), got "):
            prune_input(model, active_inputs=bad)


def test_prune_input_without_data_says_so():
    with pytest.raises(ValueError, match="data"):
        prune_input(_model())


def test_prune_node_by_list_and_its_checks(caplog):
    model = _model((3, 4, 4, 2))
    with caplog.at_level(logging.INFO, logger="kanlab.prune"):
        kept = prune_node(model, active_neurons_id=[[3, 0], [1]])
    assert kept.width == [3, 2, 1, 2]
    assert ("INFO", "prune_node: width [3, 4, 4, 2] -> [3, 2, 1, 2]") in [(r.levelname, r.getMessage())
                                                                         for r in caplog.records]
    torch.testing.assert_close(kept.layers[1].coef, model.layers[1].coef[[0, 3]][:, [1]])
    with pytest.raises(ValueError, match=r"active_neurons_id needs one list per hidden layer \(2\), got 1"):
        prune_node(model, active_neurons_id=[[0]])
    for bad in ([], [-1], [4]):
        with pytest.raises(ValueError, match=r"active_neurons_id\[1\] must name nodes in \[0, 4\), got "):
            prune_node(model, active_neurons_id=[[0], bad])
    assert prune_node(model, active_neurons_id=[[3], [3]]).width == [3, 1, 1, 2]


def test_prune_node_threshold_is_strict_and_keeps_one_node_per_layer(caplog):
    model = _model((3, 4, 2))
    scores = node_scores(model, X)[1]
    at = float(scores.sort().values[1])  # the second-lowest hidden score
    assert prune_node(model, threshold=at, x=X).width == [3, 2, 2]  # two nodes score above it, one at it
    with caplog.at_level(logging.WARNING, logger="kanlab.prune"):
        assert prune_node(model, threshold=1e9, x=X).width == [3, 1, 2]
    assert caplog.records[0].getMessage() == \
        "prune_node: every node of hidden layer 1 scored <= 1e+09; keeping the best one"
    best = int(scores.argmax())
    kept = prune_node(model, threshold=1e9, x=X)
    torch.testing.assert_close(kept.layers[0].coef, model.layers[0].coef[:, [best]])
    with pytest.raises(ValueError, match="unknown pruning criterion by='size'; choose 'attribution' or 'activation'"):
        prune_node(model, x=X, by="size")


def test_activation_scores_follow_their_definition():
    """by='activation': inputs get their largest outgoing edge std, outputs their largest incoming one, hidden
    nodes the smaller of the two."""
    model = _model((3, 4, 2))
    acts = model.layer_inputs(X)
    from kanlab.prune import edge_std

    e0, e1 = edge_std(model, 0, acts[0]), edge_std(model, 1, acts[1])
    got = node_scores(model, X, by="activation")
    torch.testing.assert_close(got[0], e0.amax(dim=1))
    torch.testing.assert_close(got[1], torch.minimum(e0.amax(dim=0), e1.amax(dim=1)))
    torch.testing.assert_close(got[2], e1.amax(dim=0))


def test_prune_edge_keeps_edges_at_the_threshold_and_drops_masked_ones():
    model = _model((3, 2))
    scores = attribute(model, X).edge_scores[0]
    at = float(scores[1, 0])
    kept = prune_edge(model, threshold=at, x=X)
    torch.testing.assert_close(kept.layers[0].mask, (scores >= at).to(torch.float64))
    masked = remove_node(model, 0, 2)
    assert not prune_edge(masked, threshold=0.0, x=X).layers[0].mask[2].any()  # a masked edge stays masked


def test_feature_interaction_counts_nodes_per_input_set():
    """Hidden node 0 reads inputs 0 and 1, node 1 reads input 2, node 2 reads nothing (below neuron_th)."""
    model = _model((3, 3, 1))
    with torch.no_grad():
        model.layers[0].mask.copy_(torch.tensor([[1.0, 0, 0], [1, 0, 0], [0, 1, 0]]))
    assert feature_interaction(model, 1, x=X) == {(0, 1): 1, (2,): 1}
    assert feature_interaction(model, 1, x=X, feature_th=1.0 - 1e-12) in ({(0,): 1, (2,): 1}, {(1,): 1, (2,): 1})
    assert feature_interaction(model, 1, x=X, neuron_th=1e9) == {}
    for l in (0, 3):
        with pytest.raises(IndexError, match=rf"layer {l} has no incoming edges to attribute .* are 1..2\)"):
            feature_interaction(model, l, x=X)


def test_prune_edge_keeps_the_strongest_path_edge_by_edge():
    model = _base_only([2, 2, 1], {(0, 0, 0): 1.0, (0, 1, 0): 0.2, (0, 0, 1): 0.3, (0, 1, 1): 1.5,
                                   (1, 0, 0): 0.5, (1, 1, 0): 2.0})
    x = X[:, :2]
    scores = attribute(model, x).edge_scores
    i = int(scores[1][:, 0].argmax())
    j = int(scores[0][:, i].argmax())
    assert (i, j) == (1, 1)  # by the weights: the strong hidden node, fed by its strong input
    with pytest.warns(UserWarning) as record:
        pruned = prune_edge(model, threshold=1e9, x=x)
    (w,) = record
    assert str(w.message) == (f"prune_edge: the threshold 1e+09 would cut every path to output(s) [0]; kept the "
                              f"strongest path: edge (1, 1, 0) (score {float(scores[1][1, 0]):.3g}), "
                              f"edge (0, 1, 1) (score {float(scores[0][1, 1]):.3g})")
    assert w.filename == __file__ or "mutmut" in w.filename  # the caller's line (mutmut's trampolines add a frame)
    assert _off(pruned) == {(0, 0, 0), (0, 1, 0), (0, 0, 1), (1, 0, 0)}
    # the hidden node is already reachable: only the last edge is restored
    kept_first = prune_edge(model, threshold=float(scores[0].min()), x=x)
    assert _off(kept_first) == set()
    # a hidden node fed by a symbolic edge is reachable already: only the output's edge is restored
    model.fix_symbolic(0, 1, 1, "x", fit_params=False)
    with pytest.warns(UserWarning, match=r"kept the strongest path: edge \(1, 1, 0\) \(score [0-9.e+-]+\)$"):
        only_top = prune_edge(model, threshold=1e9, x=x)
    assert _off(only_top) == {(0, 0, 0), (0, 1, 0), (0, 0, 1), (0, 1, 1), (1, 0, 0)}


def test_a_symbolic_edge_is_a_path():
    import warnings

    model = _base_only([2, 1], {(0, 1, 0): 1.0})
    model.fix_symbolic(0, 0, 0, "sin", fit_params=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pruned = prune_edge(model, threshold=1e9, x=X[:, :2])  # the symbolic edge carries output 0: no rescue
    assert _off(pruned) == {(0, 0, 0), (0, 1, 0)} and bool(pruned.symbolic[0].mask[0, 0])


def test_attribution_of_an_edge_both_numeric_and_symbolic():
    from kanlab.prune import edge_std

    model = _model((3, 2))
    model.fix_symbolic(0, 1, 0, "sin", fit_params=False)
    with torch.no_grad():
        model.layers[0].mask[1, 0] = 1.0  # numeric back on: the edge is 'ns'
        model.symbolic[0].affine[1, 0] = torch.tensor([2.0, 0.1, 0.7, 0.0], dtype=torch.float64)
    total = model.layers[0].edge_activations(X)[:, 1, 0] + 0.7 * torch.sin(2.0 * X[:, 1] + 0.1)
    got = edge_std(model, 0, X)
    assert float(got[1, 0]) == pytest.approx(float(total.std()), rel=1e-12)
    assert float(got[0, 1]) == pytest.approx(float(model.layers[0].edge_activations(X)[:, 0, 1].std()), rel=1e-12)


def test_pruning_keeps_symbolic_edges_in_their_new_places():
    model = _model((3, 4, 2))
    model.fix_symbolic(0, 2, 3, "x^2", fit_params=False)
    model.fix_symbolic(1, 3, 1, "sin", fit_params=False)
    kept = prune_node(model, active_neurons_id=[[1, 3]])
    assert kept.symbolic[0].names[2][1] == "x^2" and bool(kept.symbolic[0].mask[2, 1])
    assert kept.symbolic[1].names[1][1] == "sin" and bool(kept.symbolic[1].mask[1, 1])
    assert int(kept.symbolic[0].mask.sum()) == 1 and int(kept.symbolic[1].mask.sum()) == 1
    narrow = prune_input(model, active_inputs=[0, 2])
    assert narrow.symbolic[0].names[1][3] == "x^2" and bool(narrow.symbolic[0].mask[1, 3])


def test_remove_edge_and_node_switch_off_symbolic_parts_too():
    from kanlab.prune import remove_edge

    model = _model()
    model.fix_symbolic(0, 1, 1, "sin", fit_params=False)
    model.fix_symbolic(1, 1, 0, "x", fit_params=False)
    assert not remove_node(model, 1, 1).symbolic[0].mask.any()
    assert not remove_node(model, 1, 1).symbolic[1].mask.any()
    cut = remove_edge(model, 0, 1, 1)
    assert not cut.symbolic[0].mask[1, 1] and bool(cut.symbolic[1].mask[1, 0])
    assert _off(remove_edge(_model(), 1, 2, 0)) == {(1, 2, 0)}
    with pytest.raises(IndexError):
        remove_edge(model, 2, 0, 0)


def test_attribution_needs_two_rows_and_data():
    model = _model((1, 2, 1))
    with pytest.raises(ValueError, match="^attribution needs at least 2 samples to measure spread$"):
        attribute(model, X[:1, :1])
    assert attribute(model, X[:2, :1]).feature_score.shape == (1,)  # two rows and one column are enough
    with pytest.raises(ValueError, match="no data to score the network on"):
        attribute(model)
    scores = attribute(_model(), X)
    assert all(s.dtype == torch.float64 for s in scores.node_scores + scores.edge_scores)


def test_default_thresholds_are_pykans():
    """prune_node 1e-2, prune_edge 3e-2, prune both and by attribution: checked on scores that sit between each
    default and 1."""
    model = _base_only([3, 3, 1], {(0, 0, 0): 1.0, (0, 1, 1): 1.0, (0, 2, 2): 1.0,
                                   (1, 0, 0): 1.0, (1, 1, 0): 0.04, (1, 2, 0): 0.001})
    x = X
    nodes = attribute(model, x).node_scores[1]
    edges = attribute(model, x).edge_scores
    assert 1e-2 < float(nodes[1]) < 0.5 and float(nodes[2]) < 1e-2  # node 1 weak but kept, node 2 pruned
    assert prune_node(model, x=x).width == [3, 2, 1]
    assert 3e-2 < float(edges[1][1, 0]) < 0.5
    assert _off(prune_edge(model, x=x)) == _off(model) | {(1, 2, 0)} | {
        (0, i, j) for i in range(3) for j in range(3) if float(edges[0][i, j]) < 3e-2}
    both = prune(model, x=x)
    assert both.width == [3, 2, 1] and both.width == prune(model, 1e-2, 3e-2, x=x, by="attribution").width
    assert prune(model, node_th=0.5, x=x).width == [3, 1, 1]
    assert _off(prune(model, edge_th=0.5, x=x)) != _off(prune(model, x=x))
    act = prune(model, node_th=0.02, x=x, by="activation")  # by reaches prune_node
    assert act.width == prune_node(model, 0.02, x=x, by="activation").width


def test_activation_scores_through_three_layers():
    model = _model((3, 4, 4, 2))
    acts = model.layer_inputs(X)
    from kanlab.prune import edge_std

    e = [edge_std(model, l, acts[l]) for l in range(3)]
    got = node_scores(model, X, by="activation")
    torch.testing.assert_close(got[2], torch.minimum(e[1].amax(dim=0), e[2].amax(dim=1)))
    torch.testing.assert_close(got[3], e[2].amax(dim=0))


def test_feature_interaction_edges():
    model = _model((3, 3, 1))
    with torch.no_grad():
        model.layers[0].mask.copy_(torch.tensor([[1.0, 0, 1], [1, 0, 1], [0, 1, 0]]))
    assert feature_interaction(model, 1, x=X) == {(0, 1): 2, (2,): 1}  # two nodes read the same pair
    assert feature_interaction(model, 2, x=X)  # the last layer is a valid one
    assert feature_interaction(model, 1, x=X, feature_th=1.0) == {(): 3}  # nothing strictly above the top
    rows = node_attribution(model, X)[0]
    low = float(rows.amax(dim=1).min())  # a node whose largest score equals neuron_th is left out
    assert sum(feature_interaction(model, 1, x=X, neuron_th=low).values()) == 2


def test_scores_create_no_tensor_on_the_default_device():
    """Every tensor factory the attribution calls names its device (on a GPU model a default-device tensor would
    land on the CPU): recorded while scoring and pruning a model, as in tests/test_devices.py."""
    import traceback

    from torch.overrides import TorchFunctionMode

    calls = []

    class Recorder(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func in (torch.eye, torch.ones, torch.zeros, torch.full) and kwargs.get("device") is None:
                frame = next(f for f in reversed(traceback.extract_stack()[:-1]) if "torch" not in f.filename
                             or "/src/kanlab/" in f.filename)
                calls.append((frame.name, func.__name__))
            return func(*args, **kwargs)

    model = _model()
    with Recorder():
        attribute(model, X)
        with pytest.warns(UserWarning, match="strongest path"):
            prune_edge(model, threshold=1e9, x=X)
        assert calls == []
        torch.eye(2)  # the recorder works
    assert calls == [("test_scores_create_no_tensor_on_the_default_device", "eye")]


def test_an_output_cut_off_behind_a_reachable_hidden_node_is_rescued():
    """Which nodes count as reached: the inputs always; a hidden node through a kept or symbolic edge; the output
    only through its own incoming edges."""
    one = _base_only([2, 1], {(0, 0, 0): 1.0, (0, 1, 0): 0.5})
    with pytest.warns(UserWarning, match=r"cut every path to output\(s\) \[0\]"):
        assert _off(prune_edge(one, threshold=1e9, x=X[:, :2])) == {(0, 1, 0)}
    model = _base_only([3, 2, 1], {(0, 0, 0): 1.0, (0, 2, 1): 1.0, (1, 0, 0): 0.3, (1, 1, 0): 1.0})
    model.fix_symbolic(0, 1, 0, "x", fit_params=False)  # hidden node 0 stays reached through a symbolic edge
    with pytest.warns(UserWarning, match=r"cut every path to output\(s\) \[0\]; kept the strongest path: edge "
                                         r"\(1, 1, 0\) .*, edge \(0, 2, 1\)"):
        pruned = prune_edge(model, threshold=1e9, x=X)
    assert _off(pruned) == {(l, i, j) for l, i, j in _off(model)} | {(0, 0, 0), (1, 0, 0)}


def _mult_model() -> KAN:
    """[2, [1, 1], 1]: hidden node 0 sums, hidden node 1 multiplies subnodes 1 and 2."""
    return KAN(width=[2, [1, 1], 1], mult_arity=2, grid=4, k=3, seed=0, dtype=torch.float64)


def test_activation_scores_with_a_multiplication_node():
    from kanlab.prune import edge_std

    model = _mult_model()
    x = X[:, :2]
    acts = model.layer_inputs(x)
    e0, e1 = edge_std(model, 0, acts[0]), edge_std(model, 1, acts[1])  # (2, 3 subnodes), (2, 1)
    incoming = torch.stack([e0[:, 0].max(), e0[:, 1:].max()])  # a node's largest incoming over its subnodes
    got = node_scores(model, x, by="activation")
    torch.testing.assert_close(got[1], torch.minimum(incoming, e1.amax(dim=1)))
    torch.testing.assert_close(got[2], e1.amax(dim=0))


def test_the_rescue_gives_every_factor_of_a_product_a_path():
    """Subnode 1 of the product is reached through a symbolic edge; subnode 2 is not: only it gets an edge back
    (a product with one dead factor carries nothing), and the output gets its edge from the product."""
    model = _mult_model()
    x = X[:, :2]
    with torch.no_grad():
        model.layers[1].scale_base[0, 0] = 0.01  # the sum node is the weaker way to the output
        model.layers[1].coef[0, 0] *= 0.01
    model.fix_symbolic(0, 0, 1, "x", fit_params=False)
    scores = attribute(model, x).edge_scores
    assert int(scores[1][:, 0].argmax()) == 1
    j = int(scores[0][:, 2].argmax())
    with pytest.warns(UserWarning, match=rf"kept the strongest path: edge \(1, 1, 0\) .*, edge \(0, {j}, 2\) "
                                         r"\(score [0-9.e+-]+\)$"):
        pruned = prune_edge(model, threshold=1e9, x=x)
    on = {(l, i, o) for l, layer in enumerate(pruned.layers) for i, o in torch.nonzero(layer.mask).tolist()}
    assert on == {(1, 1, 0), (0, j, 2)}
