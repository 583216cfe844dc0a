"""kanlab.pykan: pykan notebooks' cells, ported by the one rule (``kan`` -> ``kanlab.pykan`` in the imports), with
fewer steps and samples. Results are checked against kanlab's core and, where pykan is deterministic, pykan."""

import os

import numpy as np
import pytest
import torch

import kanlab
from kanlab.symbolic.library import DEFAULT_LIBRARY


@pytest.fixture
def ns(tmp_path, monkeypatch):
    """A notebook's namespace after ``from kanlab.pykan import *``, run in an empty folder (files are checked)."""
    monkeypatch.chdir(tmp_path)
    names: dict = {}
    exec("from kanlab.pykan import *", names)
    yield names
    assert sorted(os.listdir(tmp_path)) == sorted(names.get("_expected_files", []))


def _pykan_star_names() -> set[str]:
    import tempfile

    kan = pytest.importorskip("kan")  # a dev dependency (pyproject's dev extra)
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            names: dict = {}
            exec("from kan import *", names)
        finally:
            os.chdir(cwd)
    assert kan
    return {n for n in names if not n.startswith("_")}


def test_star_import_brings_pykans_names(ns):
    theirs = _pykan_star_names()
    ours = {n for n in ns if not n.startswith("_")}
    # pykan's own helpers that kanlab.pykan does not carry yet (listed so that the gap is visible)
    missing = theirs - ours
    assert not missing, f"names pykan's star import gives and kanlab.pykan's does not: {sorted(missing)}"
    for name in ("KAN", "MultKAN", "create_dataset", "ex_round", "SYMBOLIC_LIB", "add_symbolic", "LBFGS", "torch",
                 "np", "nn", "plt", "tqdm", "sympy", "batch_jacobian", "augment_input"):
        assert name in ns
    assert isinstance(ns["KAN"](width=[2, 1]), kanlab.KAN)  # a kanlab.pykan.KAN is a kanlab.KAN


def test_create_dataset_draws_pykans_numbers(ns):
    from kan.utils import create_dataset as theirs  # noqa: F401 (dev dependency)

    f = lambda x: torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)  # noqa: E731
    state = torch.get_rng_state()
    ours = ns["create_dataset"](f, n_var=2, train_num=50, test_num=20, seed=3, ranges=[[-1, 1], [0, 2]])
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left alone
    ref = theirs(f, n_var=2, train_num=50, test_num=20, seed=3, ranges=[[-1, 1], [0, 2]])
    torch.set_rng_state(state)
    for key in ref:
        assert torch.equal(ours[key], ref[key]), key


def test_api_1_indexing(ns):
    """API_1: fix/unfix edges on the last forward's activations, remove nodes in place, pykan's layer views."""
    exec("""
model = KAN(width=[2,3,2,1], noise_scale=0.3, seed=1)
x = torch.normal(0, 1, size=(100, 2), generator=torch.Generator().manual_seed(0))
model(x);
r2 = model.fix_symbolic(0, 0, 0, 'sin')
name = model.symbolic_fun[0].funs_name[0][0]
model.unfix_symbolic(0, 0, 0)
model.remove_node(1, 0)
model.remove_node(2, 1)
fig = model.plot(beta=100)
model2 = KAN(width=[2,3,5,1])
dims = [(model2.act_fun[i].in_dim, model2.act_fun[i].out_dim, model2.symbolic_fun[i].in_dim,
         model2.symbolic_fun[i].out_dim) for i in range(3)]
names = model2.symbolic_fun[0].funs_name
""", ns)
    model = ns["model"]
    assert 0.0 <= ns["r2"] <= 1.0 and ns["name"] == "sin"
    assert not model.layers[0].mask[:, 0].any() and not model.layers[1].mask[0, :].any()  # node (1, 0), in place
    assert not model.layers[1].mask[:, 1].any() and not model.layers[2].mask[1, :].any()  # node (2, 1)
    assert model.layers[0].mask[:, 1].all()
    assert ns["dims"] == [(2, 3, 2, 3), (3, 5, 3, 5), (5, 1, 5, 1)]
    assert np.array(ns["names"]).shape == (3, 2)  # pykan's (out, in) layout


def test_api_3_activations(ns):
    exec("""
model = KAN(width=[2,5,1], grid=3, k=3, seed=1)
x = torch.normal(0, 1, size=(100, 2), generator=torch.Generator().manual_seed(0))
model(x)
xs, ys = model.get_fun(0, 0, 3)
rng = model.get_range(0, 0, 3)
""", ns)
    model, x = ns["model"], ns["x"]
    with torch.no_grad():
        ref = model.layers[0].edge_activations(x)[:, 0, 3]
    order = torch.argsort(x[:, 0])
    assert isinstance(ns["xs"], np.ndarray)  # pykan returns numpy arrays
    torch.testing.assert_close(torch.from_numpy(ns["xs"]), x[order, 0])
    torch.testing.assert_close(torch.from_numpy(ns["ys"]), ref[order])
    assert [float(v) for v in ns["rng"]] == [float(x[:, 0].min()), float(x[:, 0].max()), float(ref.min()),
                                             float(ref.max())]


def test_api_7_pruning_in_place_and_new_models(ns):
    exec("""
model = KAN(width=[2,5,1], grid=5, k=3, seed=1)
f = lambda x: torch.exp(torch.sin(torch.pi*x[:,[0]]) + x[:,[1]]**2)
dataset = create_dataset(f, n_var=2, train_num=200, test_num=50)
res = model.fit(dataset, opt="LBFGS", steps=6, lamb=0.01);
model(dataset['train_input'])
before = [int(l.mask.sum()) for l in model.act_fun]
out = model.prune_edge()
after = [int(l.mask.sum()) for l in model.act_fun]
smaller = model.prune_node(threshold=1e-2)
""", ns)
    res, model = ns["res"], ns["model"]
    assert ns["out"] is None  # pykan's prune_edge returns nothing: it edits in place
    assert sum(ns["after"]) < sum(ns["before"])
    core = kanlab.KAN.prune_edge(model, x=ns["dataset"]["train_input"])  # the core's answer, as a new model
    assert [int(l.mask.sum()) for l in core.layers] == ns["after"]
    assert type(ns["smaller"]) is ns["KAN"] and ns["smaller"].cache_data is not None
    assert isinstance(res["train_loss"][-1].item(), float) and len(res["test_loss"]) == 6


def test_seed_workflow_example_1(ns):
    """Example_1 / the README's workflow through the adapter: auto_symbolic on the cached activations."""
    exec("""
torch.set_default_dtype(torch.float64)
try:
    model = KAN(width=[2,5,1], grid=5, k=3, seed=0)
    f = lambda x: torch.exp(torch.sin(torch.pi*x[:,[0]]) + x[:,[1]]**2)
    dataset = create_dataset(f, n_var=2)
    model.fit(dataset, opt="LBFGS", steps=20, lamb=0.01, lamb_entropy=10.)
    model = model.prune()
    model.fit(dataset, opt="LBFGS", steps=30)
    model = model.refine(10)
    model.fit(dataset, opt="LBFGS", steps=30)
    lib = ['x','x^2','x^3','x^4','exp','log','sqrt','tanh','sin','abs']
    model(dataset['train_input'])
    model.auto_symbolic(lib=lib)
    res = model.fit(dataset, opt="LBFGS", steps=30)
    formula = model.symbolic_formula()[0][0]
    rounded = ex_round(formula, 4)
finally:
    torch.set_default_dtype(torch.float32)
""", ns)
    model, dataset = ns["model"], ns["dataset"]
    assert model.width == [2, 1, 1]
    assert ns["res"]["test_loss"][-1] < 1e-6
    assert ns["rounded"].free_symbols == ns["formula"].free_symbols
    fn = ns["sympy"].lambdify(ns["sympy"].symbols("x_1 x_2"), ns["formula"], "numpy")
    x = dataset["test_input"].numpy()
    np.testing.assert_allclose(fn(x[:, 0], x[:, 1]), dataset["test_label"].numpy()[:, 0], rtol=1e-5)


def test_add_symbolic_changes_only_the_adapters_library(ns):
    exec("""
add_symbolic('J0', torch.special.bessel_j0, c=1)
model = KAN(width=[1,1], grid=5, k=3, seed=0)
x = torch.linspace(-2, 2, 100).unsqueeze(1)
model(x)
r2 = model.fix_symbolic(0, 0, 0, 'J0')
""", ns)
    assert "J0" in ns["SYMBOLIC_LIB"] and "J0" not in DEFAULT_LIBRARY
    assert ns["model"].symbolic[0].names[0][0] == "J0" and 0.0 <= ns["r2"] <= 1.0
    del ns["SYMBOLIC_LIB"]["J0"]


def test_kan_2_names_with_pykans_in_place_semantics(ns):
    exec("""
model = KAN(width=[2,[3,2],1], mult_arity=[[],[2,3],[]], seed=0)
x = torch.rand(50, 2) * 2 - 1
y0 = model(x).detach()
model.expand_width(1, 1)                       # in place, as in pykan
model.expand_width(1, 1, sum_bool=False, mult_arity=2)
model.expand_depth()
y1 = model(x).detach()
model.perturb(mag=0.1, mode='non-intrusive')
y2 = model(x).detach()
model.module(0, '[0]->[0,1]')
scores = model.attribute(1, 0, plot=False)
""", ns)
    model = ns["model"]
    assert model.width_spec == [2, [4, 3], 1, 1] and model.mult_arity == [[], [2, 3, 2], [], []]
    assert model.width_in == [2, 7, 1, 1] and model.width_out == [2, 11, 1, 1]
    torch.testing.assert_close(ns["y1"], ns["y0"])
    torch.testing.assert_close(ns["y2"], ns["y0"])
    assert model.layers[0].mask[0, 2:].eq(0).all() and model.layers[0].mask[1, :2].eq(0).all()
    assert ns["scores"].shape == (2,) and model.feature_score.shape == (2,)
    assert [line.split(" => ")[1] for line in model.history().splitlines()[2:]] == [
        "expand_width", "expand_width", "expand_depth", "perturb", "module"]
    from kanlab.pykan import MultKAN, hypothesis

    assert MultKAN is ns["KAN"]
    f = lambda t: (t[:, [0]] + t[:, [1]]) * (t[:, [2]] + t[:, [3]])  # noqa: E731
    pts = torch.rand(100, 4, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert hypothesis.get_molecule(f, pts) == [[[0], [1], [2], [3]], [[0, 1], [2, 3]], [[0, 1, 2, 3]]]
    arities, props = hypothesis.get_tree_node(f, pts, hypothesis.get_molecule(f, pts), skip_test=False)
    assert arities == [[2, 2], [2]] and props[1] == ["Mul"]
    with pytest.raises(NotImplementedError, match="test_Lagrangian"):
        hypothesis.test_Lagrangian(None, None)
    model = ns["KAN"](width=[np.int64(2), 3, 1], grid=np.int32(4), k=np.int64(3))  # numpy integers are integers
    assert model.width == [2, 3, 1] and model.grid == [4, 4]
    with pytest.raises(ValueError, match="call model\\(x\\) first"):
        model.auto_symbolic()


def test_files_only_where_asked(ns, tmp_path):
    exec("""
model = KAN(width=[2,3,1], seed=0)
model(torch.rand(20, 2))
model.plot()
model.plot(folder='figs')
model.saveckpt('ckpt')
again = KAN.loadckpt('ckpt')
""", ns)
    ns["_expected_files"] = sorted(os.listdir(tmp_path))
    assert "figs" in ns["_expected_files"] and any(n.startswith("ckpt") for n in ns["_expected_files"])
    assert os.listdir(tmp_path / "figs") == ["kan.png"]
    x = torch.rand(20, 2)
    torch.testing.assert_close(ns["again"](x), ns["model"](x))


def test_adapter_fit_takes_the_fast_path(ns):
    from kanlab.objective import applies

    model = ns["KAN"](width=[2, 3, 1], seed=0)
    x = torch.rand(30, 2)
    assert applies(model, [p for p in model.parameters() if p.requires_grad], x)
    model(x)
    assert model.cache_data is not None


def test_ported_fit_follows_pykans_trajectory(ns, tmp_path):
    """Same seed, same data: the ported model's first steps of a sparsified fit match pykan's losses (pykan is
    deterministic here), and the core's default knot rule does not (it is a different, documented choice)."""
    from kan import KAN as PyKAN  # dev dependency

    old, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)  # the same reductions in every environment (xdist workers, a plain pytest run)
    try:
        f = lambda x: torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)  # noqa: E731
        ds = ns["create_dataset"](f, n_var=2, train_num=300, test_num=100)
        ours = ns["KAN"](width=[2, 5, 1], grid=5, k=3, seed=0).fit(ds, steps=6, lamb=0.01, lamb_entropy=10.0)
        core = kanlab.KAN(width=[2, 5, 1], grid=5, k=3, seed=0).fit(ds, steps=6, lamb=0.01, lamb_entropy=10.0)
        state = torch.get_rng_state()
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            theirs = PyKAN(width=[2, 5, 1], grid=5, k=3, seed=0, auto_save=False).fit(
                ds, opt="LBFGS", steps=6, lamb=0.01, lamb_entropy=10.0)
        torch.set_rng_state(state)
    finally:
        torch.set_default_dtype(old)
        torch.set_num_threads(threads)
    # the first step agrees closely; the next ones drift apart (two L-BFGS implementations, rounding), and how
    # fast depends on the installed packages: from the fifth step on pykan does not even agree with itself (run to
    # run its losses differed by up to 20%, 0.082 to 0.098 at step 6), and with the packages installed on
    # 2026-12-01 the fourth step already differs by 16% (0.1056 against 0.0908, both repeatable), so only the
    # first three steps are compared (they agree to 4%)
    np.testing.assert_allclose(ours["train_loss"][0], theirs["train_loss"][0], rtol=1e-3)
    np.testing.assert_allclose(ours["train_loss"][:3], theirs["train_loss"][:3], rtol=0.05)
    assert abs(core["train_loss"][0] - theirs["train_loss"][0]) > 1e-2 * theirs["train_loss"][0]


def _quiet_pykan():
    """pykan prints and writes ./model (tests run in a tmp folder); silence the prints."""
    import contextlib
    import io

    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    return stack


def test_versions_rewind_checkout_history_in_memory(ns):
    """Example_9's and API_12's flow: every step is a version; rewind returns the old model and starts a round."""
    exec("""
model = KAN(width=[2,1,1], grid=5, k=3, seed=0)
f = lambda x: torch.sqrt(x[:,[0]]**2+x[:,[1]]**2)
dataset = create_dataset(f, n_var=2, train_num=100, test_num=50)
model.fit(dataset, opt="LBFGS", steps=3);
fitted = model(dataset['test_input']).detach()
model.fix_symbolic(0,0,0,'x^2')
model.fix_symbolic(0,1,0,'x^2')
model.fix_symbolic(1,0,0,'sqrt')
model = model.rewind('0.1')
model.get_act(dataset)
back = model(dataset['test_input']).detach()
model.fit(dataset, opt="LBFGS", steps=1);
""", ns)
    model = ns["model"]
    torch.testing.assert_close(ns["back"], ns["fitted"])  # 0.1 is the fitted model, before any fix_symbolic
    assert model.symbolic[0].names[0][0] == "0"
    assert (model.round, model.state_id) == (1, 2)
    assert model.history().splitlines() == [
        "### Round 0 ###", "init => 0.0", "0.0 => fit => 0.1", "0.1 => fix_symbolic => 0.2",
        "0.2 => fix_symbolic => 0.3", "0.3 => fix_symbolic => 0.4", "### Round 1 ###", "1.1 => fit => 1.2"]
    assert model.history(1) == "1.1 => fit => 1.2\n"
    fixed = model.checkout("0.4")  # a copy: checking out changes nothing
    assert fixed.symbolic[1].names[0][0] == "sqrt" and model.versions.ids[-1] == "1.2"
    refined = model.prune().refine(7)  # new models continue the history
    assert refined.history(2).splitlines() == ["1.2 => prune => 1.3", "1.3 => refine => 1.4"]
    assert refined.checkout("1.4").grid == [7, 7]  # the id names the refined model (pykan stores the old one)
    with pytest.raises(KeyError, match="saved versions: 0.0, 0.1"):
        model.rewind("5.5")
    with pytest.raises(ValueError, match="round.state"):
        model.checkout("latest")
    off = ns["KAN"](width=[2, 1], auto_save=False)
    with pytest.raises(ValueError, match="auto_save=False"):
        off.rewind("0.0")


@pytest.mark.parametrize("metric", ["edge_forward_spline_n", "edge_forward_spline_u", "edge_forward_sum",
                                    "edge_backward", "node_backward"])
def test_reg_metrics_match_pykans_penalty(ns, metric):
    """Same seed, same symbolic edge, same data: kanlab's penalty for each reg_metric equals pykan's reg(), and
    training with it differs from training with the default."""
    from kan import KAN as PyKAN  # dev dependency

    from kanlab.regularize import regularization

    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        x = torch.rand(200, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1
        ours = ns["KAN"](width=[2, 3, 1], grid=5, k=3, seed=0, auto_save=False)
        with _quiet_pykan():
            theirs = PyKAN(width=[2, 3, 1], grid=5, k=3, seed=0, auto_save=False)
            theirs(x)
            theirs.fix_symbolic(0, 1, 2, "sin", fit_params_bool=False, verbose=False)
            theirs.symbolic_fun[0].affine.data[2, 1] = torch.tensor([1.5, 0.2, 0.7, 0.1])
        ours.fix_symbolic(0, 1, 2, "sin", fit_params_bool=False)
        ours.set_mode(0, 1, 2, "ns")  # pykan keeps the numeric part too: fix_symbolic then zeroes its mask
        with torch.no_grad():
            ours.layers[0].mask[1, 2] = 0.0
            ours.symbolic[0].affine[1, 2] = torch.tensor([1.5, 0.2, 0.7, 0.1])
        torch.testing.assert_close(ours(x), theirs(x))
        with torch.no_grad():
            if metric == "edge_backward":
                theirs.attribute(plot=False)
            if metric == "node_backward":
                theirs.node_attribute()
            want = theirs.reg(metric, 1.0, 2.0, 0.0, 0.0)
        got = regularization(ours, ours.layer_inputs(x), 1.0, 2.0, reg_metric=metric)
    finally:
        torch.set_default_dtype(old)
    torch.testing.assert_close(got, want.to(got.dtype), rtol=1e-6, atol=1e-9)
    f = lambda x: torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)  # noqa: E731
    ds = ns["create_dataset"](f, n_var=2, train_num=100, test_num=50)
    losses = {}
    for m in {metric, "edge_forward_spline_n"}:
        model = kanlab.KAN(width=[2, 3, 1], grid=5, k=3, seed=0)
        losses[m] = model.fit(ds, steps=3, lamb=0.01, reg_metric=m)["reg"]
    assert metric == "edge_forward_spline_n" or losses[metric] != losses["edge_forward_spline_n"]
    with pytest.raises(ValueError, match="reg_metric"):
        kanlab.KAN(width=[2, 1]).fit(ds, steps=1, lamb=0.01, reg_metric="edge_sideways")


def test_feynman_equations_match_pykans(ns):
    """All 120 equations: the same variables and ranges as pykan, and f agrees with pykan's f wherever pykan's f
    agrees with its own expression (it does not for I.16.6 and Goldstein 12.80, and fails on Jackson 2.11)."""
    import sympy
    from kan.feynman import get_feynman_dataset as theirs  # dev dependency

    from kanlab.pykan.feynman import feynman_names, get_feynman_dataset as ours

    assert len(feynman_names()) == 120 and ours("I.18.12")[1] != ours("I.18.4")[1]
    gen = torch.Generator().manual_seed(0)
    for i in range(1, 121):
        sym, expr, f, ranges = ours(i)
        sym2, expr2, f2, ranges2 = theirs(i)
        assert ranges == ranges2 and len(sym) == len(list(sym2)), i
        rr = ranges if isinstance(ranges[0], list) else [ranges] * len(sym)
        x = torch.stack([torch.rand(32, generator=gen) * (hi - lo) + lo for lo, hi in rr], 1)
        y = f(x)
        # f is the expression, evaluated
        ref = sympy.lambdify(sym, expr, "numpy")(*x.double().T.numpy())
        np.testing.assert_allclose(y.reshape(-1).double().numpy(), np.broadcast_to(ref, (32,)), rtol=1e-4, atol=1e-6)
        if i not in (20, 113, 114):
            torch.testing.assert_close(y.reshape(-1), f2(x).reshape(-1).to(y.dtype), rtol=1e-4, atol=1e-5)
    with pytest.raises(KeyError, match="no Feynman equation"):
        ours("I.99.99")


def test_mlp_and_experiment(ns):
    from kan.MLP import MLP as PyMLP  # dev dependency

    from kanlab.pykan.experiment import pareto_frontier, runner1
    from kanlab.pykan.MLP import MLP

    state = torch.get_rng_state()
    mlp = MLP([2, 5, 1], seed=3)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is untouched
    with _quiet_pykan():
        ref = PyMLP([2, 5, 1], seed=3)
    assert all(torch.equal(a, b) for a, b in zip(mlp.parameters(), ref.parameters()))
    f = lambda x: x[:, [0]] * x[:, [1]]  # noqa: E731
    ds = ns["create_dataset"](f, n_var=2, train_num=200, test_num=50)
    hist = mlp.fit(ds, steps=5)
    assert hist["train_loss"][-1] < 0.5 * hist["train_loss"][0] and hist["train_loss"][-1].item() > 0
    assert hist["reg"][-1] == 0.0 and mlp.fit(ds, steps=1, lamb=1e-3)["reg"][0] > 0
    x = ds["test_input"]
    before = mlp(x).detach()
    mlp.auto_swap()  # reordering hidden nodes keeps the function
    torch.testing.assert_close(mlp(x).detach(), before)
    res = runner1([2, 2, 1], ds, grids=[3, 5], steps=3, prune_round=2, refine_round=2, metrics=[])
    assert list(res["id"]) == ["0.2", "0.4", "0.6", "1.4", "1.6", "1.8"] and list(res["G"]) == [3, 3, 5, 3, 3, 5]
    xs, ys, ids = pareto_frontier(np.array([1, 2, 3, 2]), np.array([3.0, 1.0, 0.5, 2.0]))
    assert list(ids) == [0, 1, 2]


def test_formula_with_numeric_edges_and_normalizers(ns):
    """Example_6's last cell: pykan's formula counts numeric edges as 0; here with a warning naming them."""
    exec("""
model = KAN(width=[2,1], grid=5, k=3, seed=1)
model(torch.rand(50, 2) * 2 - 1)
model.fix_symbolic(0,0,0,'x', fit_params_bool=False)
""", ns)
    import sympy

    model = ns["model"]
    with pytest.warns(UserWarning, match=r"1 edge\(s\) are still numeric splines \(\(0, 1, 0\)\)"):
        (formula,), (x1, x2) = model.symbolic_formula()
    assert sympy.simplify(formula - x1) == 0
    model.fix_symbolic(0, 1, 0, "x^2", fit_params_bool=False)
    (formula,), _ = model.symbolic_formula(normalizer=[[1.0, 0.0], [2.0, 1.0]], output_normalizer=[[3.0], [10.0]])
    assert sympy.simplify(formula - (10 * ((x1 - 1) / 2 + x2**2) + 3)) == 0


def test_api_2_plotting_cells(ns):
    exec("""
model = KAN(width=[2,5,1], grid=3, k=3, seed=1)
f = lambda x: torch.exp(torch.sin(torch.pi*x[:,[0]]) + x[:,[1]]**2)
dataset = create_dataset(f, n_var=2, train_num=200, test_num=50)
model(dataset['train_input']);
model.plot(beta=100, in_vars=[r'$\\alpha$', 'x'], out_vars=['y'], title = 'My KAN')
model.fit(dataset, opt="LBFGS", steps=3, lamb=0.01);
figs = [model.plot(metric=m, beta=100) for m in ('forward_n', 'forward_u', 'backward')]
model = model.prune()
model.get_act(dataset['train_input'][:20])
fig = model.plot(sample=True)
model.fix_symbolic(0,1,0,'x^2')
model.set_mode(0,1,0,mode='ns')
both = model.plot(beta=100)
""", ns)
    model, fig = ns["model"], ns["fig"]
    first_box = fig.axes[0].child_axes[0]
    assert len(first_box.collections[0].get_offsets()) == 20  # the samples of the last forward
    assert model.layers[0].mask[1, 0] == 1 and model.symbolic[0].mask[1, 0] == 1  # 'ns': both parts on
    assert any(line.get_color() == "purple" for box in ns["both"].axes[0].child_axes for line in box.lines)


def test_api_5_splines_and_grids_match_pykan(ns):
    """kan.spline's B_batch and extend_grid, the model as scale_base * silu + scale_sp * spline, and the grid
    after update_grid_from_samples (uniform and adaptive) equal pykan's."""
    from kan import KAN as PyKAN  # dev dependency

    exec("""
from kanlab.pykan.spline import B_batch, extend_grid
G, k = 5, 3
grid = extend_grid(torch.linspace(-1,1,steps=G+1)[None,:], k_extend=k)
x = torch.linspace(-1,1,steps=1001)[None,:]
basis = B_batch(x, grid, k=k)
model = KAN(width=[1,1], grid=G, k=k)
model_output = model(x[0][:,None])
spline_output = torch.einsum('j,ij->i',model.act_fun[0].coef[0][0], basis[0])[:,None]
residual_output = torch.nn.SiLU()(x[0][:,None])
err = torch.mean((model_output - (model.act_fun[0].scale_base * residual_output
                                  + model.act_fun[0].scale_sp * spline_output))**2)
""", ns)
    assert float(ns["err"]) < 1e-12
    assert ns["basis"].shape == (1, 1001, 8) and torch.allclose(ns["basis"].sum(-1), torch.ones(1, 1001))
    samples = torch.normal(0, 1, size=(1000, 1), generator=torch.Generator().manual_seed(0))
    for eps in (0.02, 0.0):
        ours = ns["KAN"](width=[1, 1], grid=5, k=3, grid_eps=eps)
        with _quiet_pykan():
            theirs = PyKAN(width=[1, 1], grid=5, k=3, grid_eps=eps, auto_save=False)
        ours.update_grid_from_samples(samples)
        theirs.update_grid_from_samples(samples)
        torch.testing.assert_close(ours.act_fun[0].grid, theirs.act_fun[0].grid, rtol=1e-5, atol=1e-6)


def test_example_3_refine_by_keyword(ns):
    exec("""
model = KAN(width=[4,2,1,1], grid=3, k=3, seed=1)
f = lambda x: torch.exp((torch.sin(torch.pi*(x[:,[0]]**2+x[:,[1]]**2))+torch.sin(torch.pi*(x[:,[2]]**2+x[:,[3]]**2)))/2)
dataset = create_dataset(f, n_var=4, train_num=300, test_num=100)
model.fit(dataset, opt="LBFGS", steps=3, lamb=0.002, lamb_entropy=2.);
before = model(dataset['test_input']).detach()
refined = model.refine(grid=10)
after = refined(dataset['test_input']).detach()
""", ns)
    assert ns["refined"].grid == [10, 10, 10]
    rms = float(((ns["after"] - ns["before"]) ** 2).mean().sqrt())
    assert rms < 1e-2 * float(ns["before"].std())  # refinement keeps the function (a least-squares refit)
    with pytest.raises(TypeError, match="once"):
        ns["model"].refine(5, grid=10)


def test_porting_rule_of_the_notebook_benchmark():
    """benchmarks/bench_notebooks.py ports notebooks by the README's rule: import lines of the module kan only."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
    dont_write, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no benchmarks/__pycache__ in the tree
    try:
        from bench_notebooks import notebook_script, port_line
    finally:
        sys.path.pop(0)
        sys.dont_write_bytecode = dont_write
    assert port_line("from kan import *") == "from kanlab.pykan import *"
    assert port_line("from kan.utils import ex_round") == "from kanlab.pykan.utils import ex_round"
    assert port_line("import kan") == "import kanlab.pykan as kan"
    assert port_line("import kan.utils as ku") == "import kanlab.pykan.utils as ku"
    for untouched in ("from kanlab import KAN", "import kanji", "model = kan.KAN(width=[2,1])", "# from kan import *"):
        assert port_line(untouched) == untouched
    nb = '{"cells": [{"cell_type": "code", "source": ["from kan import *\\n", "!pip install x\\n", "%matplotlib inline"]},' \
         ' {"cell_type": "markdown", "source": ["from kan import *"]}]}'
    script = notebook_script(nb, port=True)
    assert "from kanlab.pykan import *" in script and "pip" not in script and "%matplotlib" not in script


def test_example_9_log_edges_outside_their_domain(ns):
    """Example_9: edges snapped to log see negative inputs, so the first fit's loss is NaN. pykan trains on
    (printing NaN); kanlab.pykan warns, undoes the NaN steps and goes on with the notebook."""
    exec("""
model = KAN(width=[2,1,1], grid=5, k=3, seed=2)
f = lambda x: torch.sin(2*(torch.log(x[:,[0]])+torch.log(x[:,[1]])))
dataset = create_dataset(f, n_var=2, ranges=[0.2,5], train_num=200, test_num=50)
model.fit(dataset, opt="LBFGS", steps=3);
model.fix_symbolic(0,0,0,'log')
model.fix_symbolic(0,1,0,'log')
model.fix_symbolic(1,0,0,'sin')
""", ns)
    model, dataset = ns["model"], ns["dataset"]
    with torch.no_grad():  # as the notebook's full run ends up: log's argument negative on part of the data
        model.symbolic[0].affine[0, 0] = torch.tensor([1.0, -3.0, 1.0, 0.0])
    with pytest.warns(RuntimeWarning, match="symbolic edges may be outside their domain"):
        model.fit(dataset, opt="LBFGS", steps=2)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert "log" in str(ns["ex_round"](model.symbolic_formula()[0][0], 3))


def test_batch_jacobian_and_hessian(ns):
    """kan.utils' derivative helpers: exact on a polynomial, per sample, with pykan's shapes."""
    x = torch.rand(6, 2, dtype=torch.float64)
    f = lambda z: z[:, [0]] ** 2 * z[:, [1]]  # noqa: E731
    g = ns["batch_jacobian"](f, x)
    torch.testing.assert_close(g, torch.stack([2 * x[:, 0] * x[:, 1], x[:, 0] ** 2], 1))
    two = lambda z: torch.cat([f(z), z[:, [1]] ** 3], 1)  # noqa: E731
    jac = ns["batch_jacobian"](two, x, mode="vector")
    assert jac.shape == (6, 2, 2)
    torch.testing.assert_close(jac[:, 1], torch.stack([0 * x[:, 0], 3 * x[:, 1] ** 2], 1))
    h = ns["batch_hessian"](f, x)
    want = torch.stack([torch.stack([2 * x[:, 1], 2 * x[:, 0]], 1), torch.stack([2 * x[:, 0], 0 * x[:, 0]], 1)], 1)
    torch.testing.assert_close(h, want)


def test_prune_input_remembers_the_original_inputs(ns):
    exec("""
f = lambda x: x[:,0]**2 + 0.3*x[:,1] + 0.1*x[:,2]**3 + 0.0*x[:,3]
dataset = create_dataset(f, n_var=4, seed=0)
model = KAN(width=[4,3,1], seed=0)
model.fit(dataset, steps=10, lamb=0.001)
score = model.feature_score
model = model.prune_input(active_inputs=[0, 2])
fig = model.plot(in_vars=['a', 'b', 'c', 'd'])
""", ns)
    model = ns["model"]
    assert ns["score"].shape == (4,) and model.input_id == [0, 2] and model.width[0] == 2
    texts = {t.get_text() for ax in ns["fig"].axes for t in ax.texts}
    assert {"a", "c"} <= texts and not {"b", "d"} & texts


def test_get_derivative_hessian_through_the_layer():
    from kanlab.pykan.MultKAN import KAN as PKAN
    from kanlab.pykan.utils import get_derivative

    torch.set_default_dtype(torch.float64)
    try:
        model = PKAN(width=[1, 2, 1], seed=0, auto_save=False)
    finally:
        torch.set_default_dtype(torch.float32)
    x = torch.rand(50, 1, dtype=torch.float64) * 2 - 1
    y = x**2
    hess = get_derivative(model, x, y, derivative="hessian")
    grad0 = get_derivative(model, x, y, derivative="jacobian")
    params = [p for p in model.parameters() if p.requires_grad]
    assert hess.shape == (grad0.numel(), grad0.numel())
    torch.testing.assert_close(hess, hess.t())
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    for k in (0, grad0.numel() // 2, grad0.numel() - 1):  # central differences of the gradient
        cols = []
        for step in (1e-5, -1e-5):
            moved = flat.clone()
            moved[k] += step
            torch.nn.utils.vector_to_parameters(moved, params)
            cols.append(get_derivative(model, x, y, derivative="jacobian"))
        torch.nn.utils.vector_to_parameters(flat, params)
        torch.testing.assert_close(hess[:, k], (cols[0] - cols[1]) / 2e-5, atol=1e-6, rtol=1e-4)


def test_reg_is_the_core_penalty_on_the_cached_input():
    from kanlab.pykan.MultKAN import KAN as PKAN
    from kanlab.regularize import regularization

    model = PKAN(width=[2, 3, 1], seed=0, auto_save=False)
    x = torch.rand(64, 2) * 2 - 1
    model(x)
    for metric in ("edge_forward_spline_n", "edge_backward"):
        value = model.reg(metric, 1.0, 2.0, 0.5, 0.1)
        expected = regularization(model, model.layer_inputs(x), 1.0, 2.0, 0.5, 0.1, metric)
        torch.testing.assert_close(value, expected)
        assert value.requires_grad
    with pytest.raises(ValueError, match="unknown reg_metric"):
        model.reg("nope")
