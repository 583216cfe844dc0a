import math
import os

import numpy as np
import pytest
import sympy
import torch

from kanlab import KAN, create_dataset
from kanlab.symbolic import DEFAULT_LIBRARY, SymbolicLibrary
from kanlab.symbolic.compile import kanpiler
from kanlab.symbolic.export import to_latex, to_numpy_function, to_torch_module
from kanlab.symbolic.fit import fit_affine
from kanlab.symbolic.formula import ex_round, snap_constants

PYKAN_NAMES = ["x", "x^2", "x^3", "x^4", "x^5", "1/x", "1/x^2", "1/x^3", "1/x^4", "1/x^5", "sqrt", "x^0.5", "x^1.5",
               "1/sqrt(x)", "1/x^0.5", "exp", "log", "abs", "sin", "cos", "tan", "tanh", "sgn", "arcsin", "arccos",
               "arctan", "arctanh", "0", "gaussian"]


# ------------------------------------------------------------------------------------------------ library
def test_library_has_pykans_functions_and_matches_sympy():
    assert set(PYKAN_NAMES) <= set(DEFAULT_LIBRARY)
    x = sympy.Symbol("x")
    pts = torch.tensor([0.3, 0.55, 0.8], dtype=torch.float64)
    for name in PYKAN_NAMES:
        fn = DEFAULT_LIBRARY[name]
        f = sympy.lambdify(x, fn.sympy_fn(x), "numpy")
        expected = np.broadcast_to(np.asarray(f(pts.numpy()), dtype=float), (3,))
        assert np.allclose(fn.torch_fn(pts).numpy(), expected), name
        assert torch.allclose(fn.safe(pts, 1000.0), fn.torch_fn(pts)), name


def test_library_is_immutable_and_extensible():
    lib = DEFAULT_LIBRARY.with_function("cosh", torch.cosh, sympy.cosh, 5)
    assert "cosh" in lib and "cosh" not in DEFAULT_LIBRARY
    with pytest.raises(TypeError):
        DEFAULT_LIBRARY["cosh"] = lib["cosh"]  # type: ignore[index]
    with pytest.raises(ValueError, match="valid names"):
        DEFAULT_LIBRARY.subset(["sin", "sinc"])
    with pytest.raises(ValueError, match="duplicate"):
        SymbolicLibrary([lib["sin"], lib["sin"]])


@pytest.mark.parametrize("name", ["1/x", "1/x^2", "1/x^3", "log", "sqrt", "1/sqrt(x)", "tan", "arctanh", "arcsin",
                                  "exp", "x^1.5"])
def test_safe_variants_are_finite_with_finite_gradients(name):
    x = torch.tensor([-2.0, -1.0, -1e-9, 0.0, 1e-9, 1.0, math.pi / 2, 50.0], dtype=torch.float64,
                     requires_grad=True)
    y = DEFAULT_LIBRARY[name].safe(x, 1000.0)
    (g,) = torch.autograd.grad(y.sum(), x)
    assert torch.isfinite(y).all() and torch.isfinite(g).all()
    if name != "exp":  # exp has no singularity: its safe variant only guards against overflow
        assert y.abs().max() <= 1000.0 * 1.01 + 1


# ------------------------------------------------------------------------------------------------ edge fitting
@pytest.mark.parametrize("name,params", [("sin", (2.0, 0.5, 1.5, -0.3)), ("exp", (1.3, -0.2, 0.7, 0.1)),
                                         ("x^2", (1.5, 0.4, -2.0, 0.5)), ("tanh", (3.0, 0.0, 1.0, 0.0)),
                                         ("log", (2.0, 3.0, 1.0, 0.0)), ("1/x", (1.0, 2.0, 1.0, 0.0))])
def test_fit_affine_recovers_parameters(name, params):
    x = torch.linspace(-1, 1, 300, dtype=torch.float64)
    a, b, c, d = params
    fn = DEFAULT_LIBRARY[name]
    y = c * fn.torch_fn(a * x + b) + d
    fit = fit_affine(x, y, fn)
    assert fit.r2 > 1 - 1e-9
    pred = fit.params[2] * fn.torch_fn(fit.params[0] * x + fit.params[1]) + fit.params[3]
    assert (pred - y).abs().max() < 1e-6
    assert fit_affine(x, y, fn) == fit  # deterministic


def test_fit_affine_never_crosses_singularities_and_handles_flat_edges():
    x = torch.linspace(-1, 1, 200, dtype=torch.float64)
    y = torch.sin(3 * x)
    fit = fit_affine(x, y, DEFAULT_LIBRARY["log"])
    z = fit.params[0] * x + fit.params[1]
    assert fit.r2 == 0 or (z > 0).all()
    flat = fit_affine(x, torch.full_like(x, 2.5), DEFAULT_LIBRARY["sin"])
    assert flat.params[2] == 0 and flat.params[3] == 2.5 and not math.isnan(flat.r2)
    with pytest.raises(ValueError, match="NaN"):
        fit_affine(torch.tensor([0.0, float("nan")]), torch.zeros(2), DEFAULT_LIBRARY["sin"])


# ------------------------------------------------------------------------------------------------ model edits
def _model_with_data(f=lambda x: torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2, width=(2, 1)):
    ds = create_dataset(f, n_var=2, train_num=500, test_num=200, dtype=torch.float64)
    model = KAN(width=list(width), grid=5, k=3, seed=0, dtype=torch.float64)
    model.fit(ds, steps=30)
    return model, ds


def test_suggest_fix_unfix_and_modes():
    model, ds = _model_with_data()
    sugg = model.suggest_symbolic(0, 0, 0, topk=3)
    # sin and cos fit a shifted sine equally well (cos(a x + b) = sin(a x + b + pi/2)): rounding decides the order
    assert len(sugg) == 3 and sugg[0].name in ("sin", "cos") and sugg[0].score <= sugg[1].score
    assert {"sin", "cos"} <= {s.name for s in sugg}
    before = model(ds["test_input"])
    r2 = model.fix_symbolic(0, 0, 0, "sin")
    assert r2 > 0.999
    assert model.layers[0].mask[0, 0] == 0 and model.symbolic[0].mask[0, 0] == 1
    assert (model(ds["test_input"]) - before).abs().max() < 0.05
    model.unfix_symbolic(0, 0, 0)
    assert model.layers[0].mask[0, 0] == 1 and model.symbolic[0].mask[0, 0] == 0
    assert torch.allclose(model(ds["test_input"]), before)
    model.set_mode(0, 0, 0, "ns")
    assert model.layers[0].mask[0, 0] == 1 and model.symbolic[0].mask[0, 0] == 1
    with pytest.raises(ValueError, match="valid names"):
        model.fix_symbolic(0, 0, 0, "sinc")
    with pytest.raises(ValueError, match="mode"):
        model.set_mode(0, 0, 0, "q")
    with pytest.raises(IndexError):
        model.fix_symbolic(0, 5, 0, "sin")
    assert model.fix_symbolic(0, 1, 0, "x^2", fit_params=False) is None
    assert model.symbolic[0].affine[1, 0].tolist() == [1.0, 0.0, 1.0, 0.0]


def test_dead_edge_gets_the_zero_function():
    model, ds = _model_with_data(f=lambda x: torch.sin(torch.pi * x[:, [0]]))
    with torch.no_grad():
        model.layers[0].coef[1].zero_()
        model.layers[0].scale_base[1].zero_()
    sugg = model.suggest_symbolic(0, 1, 0)
    assert sugg[0].name == "0" and not math.isnan(sugg[0].r2)


def test_symbolic_edits_take_effect_in_the_forward():
    model = KAN([2, 2], seed=0, dtype=torch.float64)
    x = torch.rand(20, 2, dtype=torch.float64)
    for name, fn in [("sin", torch.sin), ("exp", torch.exp), ("x^2", lambda t: t**2), ("sin", torch.sin)]:
        model.fix_symbolic(0, 1, 0, name, fit_params=False)
        model.fix_symbolic(0, 0, 1, "x", fit_params=False)
        y = model(x)
        numeric = model.layers[0].edge_activations(x)
        assert torch.allclose(y[:, 0], numeric[:, 0, 0] + fn(x[:, 1]))
        assert torch.allclose(y[:, 1], numeric[:, 1, 1] + x[:, 0])


def test_numeric_path_untouched_without_symbolic_edges():
    model = KAN([2, 3, 1], seed=0)
    assert all(s(torch.rand(4, 2 if l == 0 else 3)) is None for l, s in enumerate(model.symbolic))


def test_formula_requires_symbolic_edges():
    model, _ = _model_with_data()
    with pytest.raises(ValueError, match="numeric"):
        model.symbolic_formula()


def test_singular_edges_use_safe_variants_in_fit():
    ds = create_dataset(lambda x: 1 / (x[:, [0]] + 0.02) * 0.01, n_var=1, train_num=200, test_num=50,
                        ranges=[-1, 1], dtype=torch.float64)
    model = KAN([1, 1], grid=3, seed=0, dtype=torch.float64)
    model.fix_symbolic(0, 0, 0, "1/x", fit_params=False)
    hist = model.fit(ds, steps=3, update_grid=False)
    assert all(math.isfinite(v) for v in hist["train_loss"])


# ------------------------------------------------------------------------------------------------ recovery
X1, X2 = sympy.symbols("x_1 x_2")
CASES = [
    (lambda x: torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2),
     sympy.exp(sympy.sin(sympy.pi * X1) + X2**2)),
    (lambda x: torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2, sympy.sin(sympy.pi * X1) + X2**2),
    (lambda x: x[:, [0]] ** 2 + x[:, [1]] ** 2, X1**2 + X2**2),
    (lambda x: torch.tanh(2 * x[:, [0]]) + torch.exp(x[:, [1]]), sympy.tanh(2 * X1) + sympy.exp(X2)),
]


def seed_workflow_error(case: int, seed: int, grid_extend: str = "ends") -> tuple[sympy.Expr, float]:
    """The seed workflow (pykan's hyperparameters) on CASES[case], model seed ``seed``: (the simplified formula, its
    largest error against the truth on 500 fresh points). Shared with benchmarks/bench_recovery_seeds.py."""
    f, truth = CASES[case]
    ds = create_dataset(f, n_var=2, dtype=torch.float64, seed=0)
    model = KAN(width=[2, 5, 1], grid=5, k=3, seed=seed, dtype=torch.float64, grid_extend=grid_extend)
    model.fit(ds, steps=20, lamb=0.01, lamb_entropy=10.0)
    model = model.prune()
    model.fit(ds, steps=50)
    model = model.refine(10)
    model.fit(ds, steps=50)
    model.auto_symbolic(lib=["x", "x^2", "x^3", "x^4", "exp", "log", "sqrt", "tanh", "sin", "abs"])
    model.fit(ds, steps=50)
    (expr,), syms = model.symbolic_formula(simplify=True)
    fresh = torch.rand(500, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(9)) * 2 - 1
    got = to_numpy_function([expr], syms)(fresh.numpy())[:, 0]
    want = to_numpy_function([truth], [X1, X2])(fresh.numpy())[:, 0]
    return expr, float(np.abs(got - want).max())


@pytest.mark.parametrize("case", range(len(CASES)))
def test_recovers_formulas_exactly(case):
    truth = CASES[case][1]
    # seed 2: with pykan's hyperparameters, seed 0 sparsifies cases 1 and 2 into a poor one-node minimum (pykan
    # 0.2.8 lands there too); the seed workflow itself (case 0, seed 0) is checked by `make demo`
    expr, err = seed_workflow_error(case, seed=2)
    assert err < 1e-6, f"recovered {expr}, expected {truth}"
    assert sympy.simplify(expr - truth) == 0, f"recovered {expr}, expected {truth}"


# ------------------------------------------------------------------------------------------------ formulas
def test_rounding_snapping_and_exports():
    x = sympy.Symbol("x")
    expr = 1.0000001 * sympy.exp(1.9999999 * x**2 + 0.99999999 * sympy.sin(3.14159265 * x)) + 2.3e-9
    snapped = snap_constants(expr)
    assert snapped == sympy.exp(2 * x**2 + sympy.sin(sympy.pi * x))
    assert snap_constants(sympy.Float(97.7523) * x) == sympy.Float(97.7523) * x  # not a "nice" constant: kept
    assert snap_constants(sympy.Float(0.0795774715459477) * x) == x / (4 * sympy.pi)
    assert ex_round(sympy.Float(1.23456) * x, 2) == sympy.Float(1.23) * x
    assert to_latex(snapped) == sympy.latex(snapped)
    pts = np.linspace(-1, 1, 7)[:, None]
    ref = np.exp(2 * pts[:, 0] ** 2 + np.sin(np.pi * pts[:, 0]))
    assert np.allclose(to_numpy_function(snapped, [x])(pts)[:, 0], ref)
    mod = to_torch_module(snapped, [x])
    t = torch.tensor(pts, requires_grad=True)
    out = mod(t)
    assert np.allclose(out.detach().numpy()[:, 0], ref)
    out.sum().backward()
    assert t.grad is not None and torch.isfinite(t.grad).all()
    with pytest.raises(NotImplementedError):
        to_torch_module(sympy.besselj(0, x), [x])
    rounded = x + ex_round(1 / (sympy.Float(0.0001) * x + sympy.Float(0.001)), 2)  # a denominator rounds to 0
    assert rounded.has(sympy.zoo)
    for export in (to_numpy_function, to_torch_module):
        with pytest.raises(ValueError, match="contains zoo"):
            export(rounded, [x])


def test_kanpiler_builds_exact_models():
    x, y, z = sympy.symbols("x y z")
    pts = torch.rand(200, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    for expr in [sympy.exp(sympy.sin(sympy.pi * x) + y**2), sympy.sin(x) + x**2 + 3,
                 sympy.sqrt(x**2 + y**2 + 1), sympy.exp(sympy.sin(x)) + 2 * sympy.cos(sympy.exp(y) + z), x]:
        model = kanpiler([x, y, z], expr, dtype=torch.float64)
        ref = to_torch_module([expr], [x, y, z])(pts)
        assert (model(pts) - ref).abs().max() < 1e-12, expr
        (back,), _ = model.symbolic_formula(var=[x, y, z], simplify=True)
        assert sympy.simplify(back - expr) == 0



def test_kanpiler_compiles_products_into_multiplication_nodes_and_round_trips():
    x, y, z = sympy.symbols("x y z")
    pts = torch.rand(200, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    pts[:, 1] += 2.0  # keep 1/y away from 0
    cases = {x * y: ([3, [0, 1], 1], [[], [2], []]),
             x * y * z: ([3, [0, 1], 1], [[], [3], []]),
             sympy.sin(x) * sympy.exp(y) + z: ([3, [1, 1], 1], [[], [2], []]),
             x / y + (x + 1) * (y - 2) * z: ([3, [0, 2], 1], [[], [2, 3], []]),  # two arities in one layer
             z * sympy.exp(x * y): ([3, [1, 1], 2, [0, 1], 1], [[], [2], [], [2], []]),  # a product inside
             x**2 * y: ([3, [0, 1], 1], [[], [2], []])}
    for expr, (width, arity) in cases.items():
        model = kanpiler([x, y, z], expr, dtype=torch.float64)
        assert (model.width_spec, model.mult_arity) == (width, arity), expr
        ref = to_torch_module([expr], [x, y, z])(pts)
        assert (model(pts) - ref).abs().max() < 1e-10, expr
        (back,), _ = model.symbolic_formula(var=[x, y, z], simplify=True)
        assert sympy.simplify(back - expr) == 0, (expr, back)


def test_symbolic_workflow_writes_no_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model, _ = _model_with_data()
    model.auto_symbolic(lib=["x", "x^2", "sin"])
    model.symbolic_formula()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("weight_simple", [0.0, 0.8, 1.0])
def test_auto_symbolic_picks_the_full_rankings_first(weight_simple):
    """auto_symbolic skips functions that cannot win (simplest first, bounded by a perfect fit); its choice must be
    the first of suggest_symbolic's full ranking, for clean and for noisy edges."""
    from kanlab.symbolic.fit import _rank

    gen = torch.Generator().manual_seed(3)
    x = torch.rand(300, generator=gen, dtype=torch.float64) * 2 - 1
    targets = [torch.sin(3 * x), x**2, torch.exp(x) + 0.05 * torch.randn(300, generator=gen, dtype=torch.float64),
               torch.tanh(2 * x) + 0.3 * x, x.abs()]
    for y in targets:
        full = _rank(x, y, DEFAULT_LIBRARY, weight_simple, None)
        best = _rank(x, y, DEFAULT_LIBRARY, weight_simple, 1)
        assert len(best) == 1 and best[0] == full[0]


def test_formula_is_expanded_so_rounding_stays_faithful():
    """c (a x + b)^2 + d with a large a and a small c: rounded as printed, the unexpanded form is 0.4% off; the
    expanded one (what symbolic_formula returns) keeps the function to rounding of each coefficient."""
    model = KAN([2, 1, 1], grid=3, k=3, seed=0, dtype=torch.float64)
    a = -9.5168
    model.fix_symbolic(0, 0, 0, "sin", fit_params=False)
    model.fix_symbolic(0, 1, 0, "x^2", fit_params=False)
    model.fix_symbolic(1, 0, 0, "exp", fit_params=False)
    with torch.no_grad():
        model.symbolic[0].affine[0, 0] = torch.tensor([3.14159265, 0.0, 1.0, 0.0], dtype=torch.float64)
        model.symbolic[0].affine[1, 0] = torch.tensor([a, 0.0, 1.0 / a**2, 0.0], dtype=torch.float64)
    (expr,), syms = model.symbolic_formula()
    x = torch.rand(200, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        want = model(x)[:, 0].numpy()
    got = to_numpy_function([ex_round(expr, 4)], syms)(x.numpy())[:, 0]
    assert np.abs(got / want - 1).max() < 1e-4
    # the same function printed unexpanded with 4-digit coefficients: exp(sin(3.1416 x_1) + 0.011 (-9.5168 x_2)^2)
    unexpanded = sympy.exp(sympy.sin(3.1416 * syms[0]) + sympy.Float(round(1 / a**2, 4)) * (a * syms[1]) ** 2)
    rough = to_numpy_function([unexpanded], syms)(x.numpy())[:, 0]
    assert np.abs(rough / want - 1).max() > 1e-3  # what printing the unexpanded form to 4 digits would cost
