"""Multiplication nodes (KAN 2.0): structure, forward, attribution, pruning, formulas, files, recovery of products."""

import math

import pytest
import sympy
import torch

from kanlab import KAN
from kanlab.data import create_dataset
from kanlab.nodes import Nodes, parse_width

D = torch.float64


def _model(width, arity=2, seed=0, **kw):
    return KAN(width=width, mult_arity=arity, seed=seed, dtype=D, **kw)


def test_parse_width_builds_nodes_per_layer():
    nodes = parse_width([2, [3, 2], [1, 1]], [[], [2, 3], [4]])
    assert nodes == [Nodes(2), Nodes(3, (2, 3)), Nodes(1, (4,))]
    assert [n.n_nodes for n in nodes] == [2, 5, 2]
    assert [n.n_sub for n in nodes] == [2, 8, 5]
    assert nodes[1].subnodes(0) == [0] and nodes[1].subnodes(3) == [3, 4] and nodes[1].subnodes(4) == [5, 6, 7]
    assert nodes[1].sub_to_node() == [0, 1, 2, 3, 3, 4, 4, 4]
    assert parse_width([2, [0, 1], 1], 3)[1] == Nodes(0, (3,))


def test_width_properties():
    m = _model([2, [3, 2], 1], [[], [2, 3], []])
    assert m.width == [2, 5, 1]
    assert m.width_spec == [2, [3, 2], 1]
    assert m.width_out == [2, 8, 1]
    assert m.mult_arity == [[], [2, 3], []]
    assert m.has_mult and not _model([2, 3, 1]).has_mult
    assert (m.layers[0].in_dim, m.layers[0].out_dim, m.layers[1].in_dim) == (2, 8, 5)


@pytest.mark.parametrize("width,arity", [([2, [1, 2], 1], 2), ([3, [2, 2], [1, 1]], [[], [2, 3], [3]]),
                                         ([2, [0, 1]], 4)])
def test_forward_multiplies_the_subnodes(width, arity):
    m = _model(width, arity)
    x = torch.rand(17, m.width[0], dtype=D) * 2 - 1
    h = x
    for l in range(m.depth):
        sub = m.layer_output(l, h)
        spec = m.nodes[l + 1]
        cols = [sub[:, i] for i in range(spec.n_sum)]
        for node in range(spec.n_sum, spec.n_nodes):
            cols.append(math.prod(sub[:, s] for s in spec.subnodes(node)))
        h = torch.stack(cols, dim=1)
    torch.testing.assert_close(m(x), h)
    assert m.layer_inputs(x)[1].shape == (17, m.width[1])


def test_products_are_differentiable_and_gradcheck():
    spec = Nodes(1, (2, 3))
    sub = torch.randn(5, spec.n_sub, dtype=D, requires_grad=True)
    assert torch.autograd.gradcheck(spec.combine, (sub,))
    assert torch.autograd.gradgradcheck(spec.combine, (sub,))
    zero = sub.detach().clone()
    zero[:, 1] = 0.0  # a zero factor: the gradient to the other factors is still exact (no division)
    zero.requires_grad_(True)
    spec.combine(zero)[:, 1].sum().backward()
    torch.testing.assert_close(zero.grad[:, 1], zero.detach()[:, 2])
    torch.testing.assert_close(zero.grad[:, 2], torch.zeros(5, dtype=D))


def test_attribution_passes_a_mult_node_score_to_each_subnode():
    m = _model([2, [0, 1], 1], 2)
    x = torch.rand(200, 2, dtype=D) * 2 - 1
    att = m.attribute(x)
    assert att.edge_scores[0].shape == (2, 2) and att.node_scores[1].shape == (1,)
    acts = m.layer_inputs(x)
    sub_std = m.layer_output(0, acts[0]).std(dim=0)
    from kanlab.prune import edge_std
    expected = edge_std(m, 0, acts[0]) / (sub_std + 1e-4) * att.node_scores[1]
    torch.testing.assert_close(att.edge_scores[0], expected)


def test_prune_node_drops_a_mult_node_with_its_subnodes():
    m = _model([2, [2, 2], 1], [[], [2, 3], []])
    x = torch.rand(100, 2, dtype=D) * 2 - 1
    silenced = m.remove_node(1, 2, mode="up")  # mult node 2 (arity 2) no longer feeds the output
    small = silenced.prune_node(active_neurons_id=[[0, 1, 3]])
    assert small.width_spec == [2, [2, 1], 1] and small.mult_arity == [[], [3], []]
    assert small.width_out == [2, 5, 1]
    torch.testing.assert_close(small(x), silenced(x))
    # scores: a node whose incoming edges are all cut scores 0 and goes
    cut = m.remove_node(1, 3, mode="down")  # mult node 3 (arity 3): subnodes 4, 5, 6
    assert all(float(cut.layers[0].mask[:, s].sum()) == 0 for s in (4, 5, 6))
    assert cut.prune_node(threshold=1e-4, x=x).mult_arity == [[], [2], []]


def test_remove_node_down_cuts_every_subnode():
    m = _model([2, [1, 1], 1], 3).remove_node(1, 1, mode="down")
    assert m.layers[0].mask[:, 1:].sum() == 0 and m.layers[0].mask[:, 0].sum() == 2


def test_prune_edge_keeps_a_path_to_every_factor():
    m = _model([2, [0, 1], 1], 2)
    x = torch.rand(100, 2, dtype=D) * 2 - 1
    with pytest.warns(UserWarning, match="kept the strongest path"):
        pruned = m.prune_edge(threshold=1e9, x=x)  # would cut everything
    assert pruned.layers[1].mask.sum() == 1
    assert all(pruned.layers[0].mask[:, s].sum() == 1 for s in (0, 1))  # each factor has one input
    assert pruned(x).std() > 0


def test_refine_and_update_grid_keep_the_function():
    m = _model([2, [1, 1], 1], 2)
    x = torch.rand(300, 2, dtype=D) * 2 - 1
    fine = m.refine(12)
    assert fine.width_spec == m.width_spec and fine.grid == [12, 12]
    torch.testing.assert_close(fine(x), m(x), atol=2e-2, rtol=0)
    before = m(x)
    m.update_grid(x)
    torch.testing.assert_close(m(x), before, atol=2e-2, rtol=0)


def _symbolic_everywhere(m: KAN, names=("x", "x^2", "sin")):
    gen = torch.Generator().manual_seed(3)
    for l, layer in enumerate(m.layers):
        for i in range(layer.in_dim):
            for j in range(layer.out_dim):
                m.fix_symbolic(l, i, j, names[(i + j) % len(names)], fit_params=False)
                a, b, c, d = (torch.rand(4, generator=gen, dtype=D) + 0.5).tolist()
                m.symbolic[l].set_edge(i, j, affine=[a, b, c, d])


@pytest.mark.parametrize("width,arity", [([2, [0, 1], 1], 3), ([3, [1, 2], [1, 1]], [[], [2, 3], [4]])])
def test_formula_matches_the_model_for_any_arity(width, arity):
    """pykan 0.2.8 writes every product with two factors (its issue #404); the formula must equal the model."""
    m = _model(width, arity)
    _symbolic_everywhere(m)
    (exprs, names) = m.symbolic_formula()
    x = torch.rand(20, m.width[0], dtype=D) * 2 - 1
    y = m(x).detach()
    for o, e in enumerate(exprs):
        f = sympy.lambdify(names, e, "math")
        got = torch.tensor([f(*row.tolist()) for row in x], dtype=D)
        torch.testing.assert_close(got, y[:, o])


def test_save_load_round_trip(tmp_path):
    m = _model([2, [1, 2], [1, 1]], [[], [2, 3], [2]])
    m.fix_symbolic(0, 1, 2, "sin", fit_params=False)
    path = m.save(tmp_path / "mult.kan")
    back = KAN.load(path)
    assert back.width_spec == m.width_spec and back.mult_arity == m.mult_arity
    x = torch.rand(9, 2, dtype=D)
    torch.testing.assert_close(back(x), m(x))


def _recover(f, n_var, width, arity, seed=1):
    ds = create_dataset(f, n_var=n_var, seed=0, train_num=1000, ranges=[-2, 2])
    ds = {k: v.to(D) for k, v in ds.items()}
    m = KAN(width=width, mult_arity=arity, base_fun="identity", grid_range=[-2, 2], seed=seed, dtype=D)
    m.fit(ds, steps=20, lamb=0.01, lamb_coef=1.0)
    m = m.prune()
    assert m.width == [n_var, width[1][1], 1]  # only the multiplication nodes are left
    m.fit(ds, steps=20)
    m.auto_symbolic(lib=["x", "x^2", "sin", "exp"])
    hist = m.fit(ds, steps=20)
    assert hist["test_loss"][-1] < 1e-5
    return sympy.simplify(m.symbolic_formula(simplify=True)[0][0])


def test_recovers_x1_x2_with_one_mult_node():
    x1, x2 = sympy.symbols("x_1 x_2")
    assert _recover(lambda x: x[:, [0]] * x[:, [1]], 2, [2, [0, 1], 1], 2) == x1 * x2


def test_recovers_a_triple_product_with_arity_3():
    x1, x2, x3 = sympy.symbols("x_1 x_2 x_3")
    assert _recover(lambda x: x[:, [0]] * x[:, [1]] * x[:, [2]], 3, [3, [0, 1], 1], 3) == x1 * x2 * x3


def test_recovers_two_arities_in_one_layer():
    xs = sympy.symbols("x_1:6")
    f = lambda x: x[:, [0]] * x[:, [1]] + x[:, [2]] * x[:, [3]] * x[:, [4]]  # noqa: E731
    got = _recover(f, 5, [5, [0, 2], 1], [[], [2, 3], []])
    assert sympy.expand(got - (xs[0] * xs[1] + xs[2] * xs[3] * xs[4])) == 0


def test_swap_and_auto_swap_keep_products_whole():
    m = _model([2, [2, 2], 1], [[], [2, 3], []])
    x = torch.rand(64, 2, dtype=D) * 2 - 1
    swapped = m.swap(1, 2, 3)  # two multiplication nodes of different arity
    assert swapped.mult_arity == [[], [3, 2], []]
    torch.testing.assert_close(swapped(x), m(x))
    with pytest.raises(ValueError, match="same kind"):
        m.swap(1, 0, 3)
    auto = m.auto_swap(x)
    assert sorted(auto.mult_arity[1]) == [2, 3]
    torch.testing.assert_close(auto(x), m(x))
    assert auto.connection_cost(x) <= m.connection_cost(x) + 1e-12


# ---------------------------------------------------------------------- growing and modules (kanlab.surgery)
def _compiled():
    from kanlab.symbolic.compile import kanpiler

    x, y = sympy.symbols("x y")
    return kanpiler([x, y], sympy.exp(sympy.sin(sympy.pi * x) + y**2), dtype=D)


def test_expand_depth_and_width_keep_the_function():
    m = _compiled()
    x = torch.rand(100, 2, dtype=D) * 2 - 1
    ref = m(x)
    deeper = m.expand_depth()
    assert deeper.width_spec == [2, 1, 1, 1] and deeper.symbolic[-1].names == [["x"]]
    wider = deeper.expand_width(1, 2)
    assert wider.width_spec == [2, 3, 1, 1]
    prod = wider.expand_width(2, 2, sum_bool=False, mult_arity=[2, 3])
    assert prod.width_spec == [2, 3, [1, 2], 1] and prod.mult_arity == [[], [], [2, 3], []]
    for grown in (deeper, wider, prod):
        torch.testing.assert_close(grown(x), ref)
        assert grown.symbolic_formula(var=sympy.symbols("x y"), simplify=True)[0] == \
            m.symbolic_formula(var=sympy.symbols("x y"), simplify=True)[0]
    assert m.width_spec == [2, 1, 1]  # the original is untouched
    trained = KAN(width=[2, [2, 1], 1], seed=0, dtype=D)
    grown = trained.expand_width(1, 1).expand_width(1, 1, sum_bool=False, mult_arity=3)
    assert grown.width_spec == [2, [3, 2], 1] and grown.mult_arity == [[], [2, 3], []]
    torch.testing.assert_close(grown(x), trained(x))
    with pytest.raises(IndexError, match="hidden"):
        trained.expand_width(2, 1)
    with pytest.raises(ValueError, match="lists 1 arities for 2"):
        trained.expand_width(1, 2, sum_bool=False, mult_arity=[2])


def test_perturb_modes():
    m = _compiled().expand_depth().expand_width(1, 2)  # 3 hidden nodes, two of them unused
    x = torch.rand(100, 2, dtype=D) * 2 - 1
    ref = m(x)
    quiet = m.perturb(0.1, "non-intrusive")
    torch.testing.assert_close(quiet(x), ref)  # nothing visible until trained
    assert quiet.layers[0].mask[:, 1:].eq(0.1).all()  # from the active inputs to the unused nodes
    assert quiet.layers[0].mask[:, 0].eq(0).all()  # the used node's edges are left alone
    assert quiet.layers[-1].mask.eq(1).all() and quiet.layers[-1].scale_sp.eq(0).all()
    everything = m.perturb(0.1, "all")
    assert all(layer.mask.eq(0.1).all() for layer in everything.layers)
    assert (everything(x) - ref).abs().max() > 1e-3
    minimal = m.perturb(0.1, "minimal")
    assert minimal.layers[0].mask[:, 0].eq(0.1).all() and minimal.layers[0].mask[:, 1:].eq(0).all()
    with pytest.raises(ValueError, match="mode must be one of"):
        m.perturb(0.1, "some")
    hist = quiet.fit({"train_input": x, "train_label": ref.detach(), "test_input": x, "test_label": ref.detach()},
                     steps=2)
    assert hist["train_loss"][-1] < 1e-6


def test_module_cuts_the_edges_across_its_border():
    m = KAN(width=[4, [3, 1], 2], seed=0, dtype=D)
    mod = m.module(0, "[0,1]->[0,-1]->[0,3]->[1]")  # layer-0 outputs are subnodes: 3 sums + 2 for the product
    mask0, mask1 = mod.layers[0].mask, mod.layers[1].mask
    assert mask0[:2][:, [1, 2, 3]].eq(0).all() and mask0[2:][:, [0, 4]].eq(0).all()
    assert mask0[:2][:, [0, 4]].eq(1).all() and mask0[2:][:, [1, 2, 3]].eq(1).all()
    assert mask1[[0, 3]][:, [0]].eq(0).all() and mask1[[1, 2]][:, [1]].eq(0).all()
    assert mask1[[0, 3]][:, [1]].eq(1).all()
    assert m.layers[0].mask.eq(1).all()
    for bad, err in [("[0]", ValueError), ("[0]->[a]", ValueError), ("[9]->[0]", IndexError),
                     ("[0]->[0]->[0]->[0]->[0]->[0]", IndexError)]:
        with pytest.raises(err):
            m.module(0, bad)
