"""kanlab.hypothesis: separability and symmetry tests, on functions with a known structure, on a KAN, and against
pykan's kan.hypothesis on the same samples."""

import pytest
import torch

from kanlab import KAN
import kanlab.hypothesis as H  # its test_* functions are not pytest tests: reach them through the module
from kanlab.hypothesis import detect_separability, hessian, jacobian, separability_scores

X = torch.normal(0, 1, size=(200, 3), generator=torch.Generator().manual_seed(0))
ADD = lambda x: x[:, [0]] ** 2 + torch.exp(x[:, [1]] + x[:, [2]])  # noqa: E731  {0} + {1, 2}
MUL = lambda x: x[:, [0]] ** 2 * (x[:, [1]] + x[:, [2]])  # noqa: E731  {0} * {1, 2}
GEN = lambda x: x[:, [0]] ** 2 * (x[:, [1]] ** 2 + x[:, [2]] ** 2) ** 2  # noqa: E731  g(x0, x1^2 + x2^2)


def test_derivatives_are_float64_and_exact():
    x = X[:5].float()
    f = lambda x: x[:, [0]] ** 2 * x[:, [1]] + torch.sin(x[:, [2]])  # noqa: E731
    g, h = jacobian(f, x), hessian(f, x)
    x64 = x.double()
    assert g.dtype == h.dtype == torch.float64
    torch.testing.assert_close(g, torch.stack([2 * x64[:, 0] * x64[:, 1], x64[:, 0] ** 2, torch.cos(x64[:, 2])], 1))
    want = torch.zeros(5, 3, 3, dtype=torch.float64)
    want[:, 0, 0], want[:, 0, 1], want[:, 1, 0], want[:, 2, 2] = 2 * x64[:, 1], 2 * x64[:, 0], 2 * x64[:, 0], \
        -torch.sin(x64[:, 2])
    torch.testing.assert_close(h, want)


def test_known_structures():
    assert detect_separability(ADD, X).groups == [[0], [1, 2]]
    assert detect_separability(MUL, X, mode="mul").groups == [[0], [1, 2]]
    assert detect_separability(MUL, X).groups == [[0, 1, 2]]  # not additively separable
    assert H.test_separability(MUL, X, [[0], [1, 2]], mode="mul") and not H.test_separability(MUL, X, [[0], [1, 2]])
    assert H.test_separability(ADD, X, [[0]])  # inputs in no group form one more group
    assert H.test_symmetry(MUL, X, [1, 2]) and not H.test_symmetry(MUL, X, [0, 2])
    assert H.test_general_separability(GEN, X, [[0], [1, 2]]) and not H.test_general_separability(GEN, X, [[1], [0, 2]])
    scores = separability_scores(ADD, X)
    assert scores.shape == (3, 3) and float(scores[0, 1:].max()) < 1e-12 < float(scores[1, 2])


def test_on_a_kan_leaves_it_untouched():
    model = KAN(width=[3, 1], seed=0)  # one layer: a sum of 1-D functions, additively separable by construction
    before = {k: v.clone() for k, v in model.state_dict().items()}
    found = detect_separability(model, X * 0.5)
    assert found.groups == [[0], [1], [2]] and found.separable
    assert model.layers[0].coef.dtype == torch.float32
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_bad_arguments():
    with pytest.raises(ValueError, match="N >= 2"):
        detect_separability(ADD, X[:1])
    with pytest.raises(ValueError, match="disjoint"):
        H.test_separability(ADD, X, [[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="mode"):
        detect_separability(ADD, X, mode="div")
    with pytest.raises(ValueError, match="finite"):
        H.test_symmetry(ADD, X * float("nan"), [0, 1])


@pytest.mark.parametrize("f,groups,mode", [(ADD, [[0], [1, 2]], "add"), (MUL, [[0], [1, 2]], "mul"),
                                           (MUL, [[0], [1, 2]], "add"), (GEN, [[1], [0, 2]], "add")])
def test_agrees_with_pykan(f, groups, mode):
    hyp = pytest.importorskip("kan.hypothesis")  # dev dependency
    from kanlab.pykan import hypothesis as ours

    assert ours.test_separability(f, X, groups, mode=mode) == bool(hyp.test_separability(f, X, groups, mode=mode))
    assert ours.test_general_separability(f, X, groups) == bool(hyp.test_general_separability(f, X, groups))
    for group in groups:
        assert ours.test_symmetry(f, X, group) == bool(hyp.test_symmetry(f, X, group))


def test_issue_12_cases():
    """sin(x1) + x2 x3 splits additively as {x1}, {x2, x3}; exp(x1) sin(x2) multiplicatively as {x1}, {x2};
    g(x1^2 + x2^2) + x3 depends on x1, x2 only through x1^2 + x2^2."""
    x = torch.rand(300, 3, generator=torch.Generator().manual_seed(4)) * 2 - 1
    assert detect_separability(lambda z: torch.sin(z[:, [0]]) + z[:, [1]] * z[:, [2]], x).groups == [[0], [1, 2]]
    prod = lambda z: torch.exp(z[:, [0]]) * torch.sin(z[:, [1]])  # noqa: E731
    assert detect_separability(prod, x[:, :2], mode="mul").groups == [[0], [1]]
    assert detect_separability(prod, x[:, :2]).groups == [[0, 1]]
    g = lambda z: torch.cos(z[:, [0]] ** 2 + z[:, [1]] ** 2) + z[:, [2]]  # noqa: E731
    assert H.test_symmetry(g, x, [0, 1]) and not H.test_symmetry(g, x, [0, 2])


def test_feature_interaction_and_node_attribution():
    """A hand-built [3, 2, 1] whose hidden node 0 sees x0 and x1 and node 1 sees x2 only (edges w silu(x)): the
    interaction sets are {0, 1} and {2}, one node each; the node attribution matrices match pykan's."""
    from kanlab.prune import feature_interaction, node_attribution

    model = KAN(width=[3, 2, 1], seed=0, dtype=torch.float64)
    with torch.no_grad():
        for layer in model.layers:
            layer.coef.zero_()
            layer.scale_sp.zero_()
        model.layers[0].mask.zero_()
        model.layers[0].mask[[0, 1], 0] = 1
        model.layers[0].mask[2, 1] = 1
    x = X.double()
    assert feature_interaction(model, 1, x=x) == {(0, 1): 1, (2,): 1}
    mats = node_attribution(model, x)
    assert [tuple(m.shape) for m in mats] == [(2, 3), (1, 3)]
    pykan = pytest.importorskip("kan")
    import contextlib
    import io

    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            theirs = pykan.KAN(width=[3, 2, 1], grid=3, k=3, seed=0, auto_save=False)
        with torch.no_grad():
            theirs.load_state_dict({**theirs.state_dict(), **_pykan_state(model)})
            theirs(x)
            theirs.node_attribute()
        for mine, ref in zip(mats, theirs.node_attribute_scores):
            # atol: where kanlab gives exactly 0 (a masked edge), pykan's op-by-op std leaves about 5e-8
            torch.testing.assert_close(mine, ref.detach(), rtol=1e-6, atol=1e-7)
    finally:
        torch.set_default_dtype(old)


def _pykan_state(model):
    """kanlab's layer tensors under pykan 0.2.8's KANLayer names (the same (in, out, ...) layouts)."""
    out = {}
    for l, layer in enumerate(model.layers):
        out[f"act_fun.{l}.grid"] = layer.grid
        out[f"act_fun.{l}.coef"] = layer.coef
        out[f"act_fun.{l}.scale_base"] = layer.scale_base
        out[f"act_fun.{l}.scale_sp"] = layer.scale_sp
        out[f"act_fun.{l}.mask"] = layer.mask
    return out
