"""kanlab.discover: data checks, the scale maps, constant refitting, the Pareto front and its rule, bad input, and the
search end to end (scale invariance, determinism, feature names)."""

import importlib
import math
import warnings

import numpy as np
import pytest
import sympy
import torch

from kanlab import discover
from kanlab.discovery import Candidate, Formula, Scaling, default_candidates, pareto_front, pick_best
from kanlab.discovery.data import check_data
from kanlab.discovery.formulas import EQUAL_NRMSE, complexity, evaluate, polish

# one cheap candidate: a pruned [n, 5, 1] on the default grid schedule, fewer steps
SMALL = Candidate(hidden=5, grids=(5, 10), steps=25)


def _points(n=300, seed=0, lo=-1.0, hi=1.0, n_var=2):
    return np.random.default_rng(seed).uniform(lo, hi, size=(n, n_var))


# ---------------------------------------------------------------- data
def test_check_data_forms_and_names():
    x = _points(20)
    d = check_data(x, x[:, 0])
    assert d.x.dtype == np.float64 and d.x.shape == (20, 2) and d.y.shape == (20,)
    assert [s.name for s in d.symbols] == ["x_1", "x_2"]
    d32 = check_data(torch.tensor(x, dtype=torch.float32), torch.tensor(x[:, :1], dtype=torch.float32),
                     feature_names=["a", "b"])
    assert d32.x.dtype == np.float64 and d32.y.shape == (20,) and [s.name for s in d32.symbols] == ["a", "b"]
    np.testing.assert_allclose(d32.x, x, rtol=1e-7)
    one = check_data(x[:, 0], x[:, 0])
    assert one.x.shape == (20, 1)
    # a column of positive values gives a positive symbol (so that sympy may simplify sqrt(v**2) to v)
    pos = check_data(np.abs(x) + 1, x[:, 0])
    assert all(s.is_positive for s in pos.symbols) and check_data(x, x[:, 0]).symbols[0].is_positive is None


def test_check_data_pandas_names():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(_points(20), columns=["mass", "speed"])
    d = check_data(frame, pd.Series(frame["mass"] * 2))
    assert [s.name for s in d.symbols] == ["mass", "speed"]
    np.testing.assert_array_equal(d.y, frame["mass"].to_numpy() * 2)


@pytest.mark.parametrize("args, message", [
    ((np.zeros((20, 2)), np.zeros(19)), "^X has 20 rows but y has 19$"),
    ((np.zeros((20, 2)), np.zeros((20, 2))), r"^y must have shape \(N,\) or \(N, 1\)"),
    ((np.zeros((20, 2, 1)), np.zeros(20)), r"^X must have shape \(N, n_features\) or \(N,\), got \(20, 2, 1\)$"),
    ((np.zeros((20, 0)), np.zeros(20)), "^X has no columns$"),
    ((np.zeros((9, 2)), np.zeros(9)), "^discover needs at least 10 rows with finite X and y, got 9$"),
    (([["a", "b"]] * 20, np.zeros(20)), "^discover needs numeric X and y"),
])
def test_check_data_errors(args, message):
    with pytest.raises(ValueError, match=message):
        check_data(*args)


@pytest.mark.parametrize("names", [["a"], ["a", "a"], ["a", ""]])
def test_check_data_bad_names(names):
    with pytest.raises(ValueError, match="^feature_names must be 2 distinct non-empty names"):
        check_data(np.zeros((20, 2)), np.zeros(20), feature_names=names)


def test_check_data_drops_non_finite_rows_and_says_how_many():
    x = _points(30)
    y = x[:, 0].copy()
    y[3], x[5, 1], x[7, 0] = np.nan, np.inf, -np.inf
    with pytest.warns(UserWarning, match="^discover: dropped 3 of 30 rows where X or y is NaN or infinite$"):
        d = check_data(x, y)
    assert len(d.y) == 27 and np.isfinite(d.x).all() and np.isfinite(d.y).all()
    with pytest.raises(ValueError, match="got 5$"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_data(x[:11], np.r_[np.full(3, np.nan), y[3:11]])


# ---------------------------------------------------------------- scaling
@pytest.mark.parametrize("log_space", [False, True])
def test_scaling_maps_onto_the_grid_and_back(log_space):
    x = _points(200, lo=0.5, hi=3.0)
    y = -x[:, 0] ** 2 / x[:, 1]  # negative: log space uses log(-y)
    sc = Scaling.fit(x, y, log_space)
    z, t = sc.x(x), sc.y(y)
    np.testing.assert_allclose(z.min(axis=0), -1, atol=1e-12)
    np.testing.assert_allclose(z.max(axis=0), 1, atol=1e-12)
    assert abs(t.mean()) < 1e-12 and abs(t.std() - 1) < 1e-12
    # a formula in the scaled space, written back, gives y from x
    zs = sympy.symbols("z0:2")
    xs = sympy.symbols("a b", positive=True)
    if log_space:  # log(-y) = 2 log a - log b: affine in the scaled inputs
        u_expr = 2 * (zs[0] * sc.x_half[0] + sc.x_mid[0]) - (zs[1] * sc.x_half[1] + sc.x_mid[1])
    else:
        u_expr = -(zs[0] * sc.x_half[0] + sc.x_mid[0]) ** 2 / (zs[1] * sc.x_half[1] + sc.x_mid[1])
    scaled = (u_expr - sc.y_mean) / sc.y_std
    back = sympy.lambdify(xs, sc.unscale(scaled, list(zs), xs))(x[:, 0], x[:, 1])
    np.testing.assert_allclose(back, y, rtol=1e-10)


@pytest.mark.parametrize("a, b", [(0.01, -10), (100, 10), (-3, 0)])
def test_scaling_removes_an_affine_change_of_units(a, b):
    x = _points(100, lo=1, hi=2)
    y = np.sin(x[:, 0]) + x[:, 1]
    base = Scaling.fit(x, y, False)
    other = Scaling.fit(7 * x - 3, a * y + b, False)
    np.testing.assert_allclose(other.x(7 * x - 3), base.x(x), atol=1e-12)
    np.testing.assert_allclose(other.y(a * y + b), np.sign(a) * base.y(y), atol=1e-12)


def test_scaling_log_space_needs_one_sign():
    x = _points(50)
    with pytest.raises(ValueError, match="^log space needs every input column and the target to keep one strict"):
        Scaling.fit(x, np.abs(x[:, 0]) + 1, True)
    assert Candidate(log_space=True) not in default_candidates(check_data(x, np.abs(x[:, 0]) + 1))
    pos = check_data(np.abs(x) + 1, np.abs(x[:, 0]) + 1)
    assert Candidate(log_space=True) in default_candidates(pos)


def test_default_candidates_order_and_seeds():
    pos = check_data(np.abs(_points(50)) + 1, np.ones(50) + np.arange(50))
    cands = default_candidates(pos, seed=4)
    assert [str(c) for c in cands[:5]] == [
        "[n,[0,1],1] product, direct, grid 5->10, seed 4", "[n,1], direct, grid 5->10, seed 4",
        "[n,1], log, grid 5->10, seed 4", "[n,5,1] pruned, direct, grid 5->10, seed 4",
        "[n,5,1] pruned, log, grid 5->10, seed 4"]
    assert {c.seed for c in cands[5:]} == {5} and {c.grids for c in cands[5:]} == {(3, 10, 20)}
    one = check_data(_points(50)[:, :1], np.arange(50.0))  # one input: no product candidate
    assert not any(c.mult for c in default_candidates(one))
    # three inputs or more: the split by separability, once, before the pruned KANs of the first round
    three = check_data(np.abs(_points(50, n_var=3)) + 1, np.ones(50) + np.arange(50))
    cands = [str(c) for c in default_candidates(three, seed=4)]
    assert cands[3] == "split by symmetry or separability, log, seed 4" and cands[4].startswith("[n,5,1] pruned")
    assert sum("split" in c for c in cands) == 1
    assert not any(c.split for c in default_candidates(three, seed=4, split=False))
    assert not any(c.split for c in default_candidates(check_data(_points(50), np.arange(50.0)), split=True))


# ---------------------------------------------------------------- formulas
def test_complexity_counts_nodes():
    a, b = sympy.symbols("a b")
    assert complexity(a) == 1 and complexity(a * b) == 3 and complexity(sympy.sin(a) + 2 * b) == 6
    # a constant is one node however it is written: the exact form is never more complex than the float
    assert complexity(a / (4 * sympy.pi)) == complexity(sympy.Float(0.0795774715459477) * a) == 3
    assert complexity(a ** sympy.Float(1.0)) == 3 and complexity(sympy.sqrt(2) * a) == 3


def test_polish_refits_constants_and_keeps_structure():
    a, b = sympy.symbols("a b")
    x = _points(200)
    y = 0.5 * x[:, 0] * np.exp(-1.25 * x[:, 1])
    rough = sympy.Float(0.4993) * a * sympy.exp(sympy.Float(-1.2481) * b)
    fine = polish(rough, (a, b), x, y)
    assert fine.free_symbols == {a, b} and complexity(fine) == complexity(rough)
    values = sorted(float(f) for f in fine.atoms(sympy.Float))
    np.testing.assert_allclose(values, [-1.25, 0.5], rtol=1e-10)
    # nothing to refit, or a worse fit: the expression itself comes back
    assert polish(a * b, (a, b), x, y) == a * b
    exact = sympy.Float(0.5) * a * sympy.exp(sympy.Float(-1.25) * b)
    assert polish(exact, (a, b), x, y) == exact


def test_polish_stops_at_its_deadline_and_keeps_the_best_so_far(monkeypatch):
    import kanlab.discovery.formulas as formulas_mod
    a, b = sympy.symbols("a b")
    x = _points(200)
    y = 0.5 * x[:, 0] * np.exp(-1.25 * x[:, 1])
    rough = sympy.Float(0.3) * a * sympy.exp(sympy.Float(-0.9) * b)
    # a deadline already past: not one evaluation, the expression comes back as it was
    assert polish(rough, (a, b), x, y, deadline=-math.inf) == rough
    # a clock that reads 0, 1, 2, ...: 7 evaluations, then the 8th read is past the deadline; the refit stops
    # early and keeps the best constants it has seen
    ticks = iter(range(10 ** 6))
    monkeypatch.setattr(formulas_mod, "monotonic", lambda: next(ticks))
    early = polish(rough, (a, b), x, y, deadline=6)
    assert next(ticks) == 8
    err = {e: float(np.sqrt(np.mean((evaluate(e, (a, b), x) - y) ** 2))) for e in (rough, early)}
    assert 0 < err[early] < err[rough] and early.free_symbols == {a, b}


def _f(c, e, src="t"):
    return Formula(sympy.Integer(c), (), c, e, src)


def test_tidy_simplifies_small_formulas_but_not_trigonometric_or_logarithmic_ones(monkeypatch):
    search = importlib.import_module("kanlab.discovery.search")
    a, b = sympy.symbols("a b", positive=True)
    assert search._tidy(a * b / (2 * a), False) == b / 2  # expanded, then simplified
    # log space: the logs of a formula found there expand and gather into powers
    assert search._tidy(sympy.exp(2 * sympy.log(a) - sympy.log(b) / 2), True) == a ** 2 / sympy.sqrt(b)

    def refuse(expr, *args, **kw):
        raise AssertionError(f"simplify called on {expr}")

    monkeypatch.setattr(search.sympy, "simplify", refuse)
    # sympy's trig rules ran for minutes on a 20-op formula, and logcombine past the budget on a small one; such
    # formulas are only expanded
    for f in (sympy.sin, sympy.acos, sympy.tanh, sympy.asinh, sympy.log):
        expr = f(a) * (a + b)
        assert search._tidy(expr, False) == sympy.expand(expr)


def test_pareto_front_and_the_best_rule():
    formulas = [_f(1, 1.0), _f(5, 0.2), _f(7, 0.3), _f(9, 1e-12), _f(20, 1e-14), _f(9, 1e-12, "later"),
                _f(3, math.inf)]
    front = pareto_front(formulas)
    assert [(f.complexity, f.nrmse) for f in front] == [(1, 1.0), (5, 0.2), (9, 1e-12), (20, 1e-14)]
    assert front[2].source == "t"  # of equal formulas the first found stays
    best = pick_best(front)
    assert best.complexity == 9  # 1e-12 and 1e-14 are both rounding: the simpler wins
    noisy = pareto_front([_f(3, 0.52), _f(40, 0.5), _f(2, 0.9)])
    assert pick_best(noisy).complexity == 3 and pick_best(noisy, tolerance=1.0).complexity == 40
    assert pick_best([_f(4, 0.0)]).complexity == 4 and EQUAL_NRMSE == 1e-9
    with pytest.raises(ValueError, match="no formula"):
        pick_best([])


# ---------------------------------------------------------------- end to end
def test_constant_target_is_its_constant_and_exact():
    x = _points(50)
    r = discover(x, np.full(50, 2.5))
    assert r.sympy() == sympy.Rational(5, 2) and r.exact and r.formulas == [r.best]
    assert len(r.skipped) == len(default_candidates(check_data(x, np.arange(50.0))))
    np.testing.assert_array_equal(r.predict(x[:3]), [2.5, 2.5, 2.5])


@pytest.mark.parametrize("kwargs, message", [
    ({"time_budget": 0}, "^time_budget must be a positive number of seconds or None, got 0$"),
    ({"val_fraction": 1.0}, r"^val_fraction must be in \(0, 1\), got 1.0$"),
    ({"tolerance": 0.5}, "^tolerance must be at least 1, got 0.5$"),
])
def test_discover_option_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        discover(_points(20), np.arange(20.0), **kwargs)
    with pytest.raises(TypeError, match="^candidates must be kanlab.discovery.Candidate objects, got 'x'$"):
        discover(_points(20), np.arange(20.0), candidates=["x"])
    with pytest.raises(ValueError, match="^unknown symbolic function 'sinc'"):
        discover(_points(20), np.arange(20.0), libs=[["x", "sinc"]])
    for bad in ("x", [], ["x", "sin"]):
        with pytest.raises(TypeError, match="^libs must be a list of lists of function names"):
            discover(_points(20), np.arange(20.0), libs=bad)


def test_a_product_is_found_exactly_with_its_names():
    pd = pytest.importorskip("pandas")
    x = _points(400)
    frame = pd.DataFrame(x, columns=["mu", "N"])
    r = discover(frame, 1.5 * x[:, 0] * x[:, 1], candidates=[Candidate(mult=True, steps=30)], time_budget=None)
    mu, n = sympy.symbols("mu N", real=True)
    assert r.exact and sympy.simplify(r.sympy() - sympy.Rational(3, 2) * mu * n) == 0
    assert r.best.source.endswith("snapped") and "mu" in r.latex()
    np.testing.assert_allclose(r.predict(frame.iloc[:5]), 1.5 * x[:5, 0] * x[:5, 1], rtol=1e-12)
    assert "| best |" in r.table() and str(r) == r.table()
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    ax = r.plot()
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "complexity (expression nodes)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["formulas tried", "Pareto front", "best"]
    matplotlib.pyplot.close(ax.figure)


def test_noise_ends_in_a_formula_flagged_not_exact():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (200, 2))
    r = discover(x, rng.normal(size=200), candidates=[Candidate(steps=10, grids=(5,))], time_budget=None)
    assert not r.exact and r.best.nrmse > 0.5 and r.failures == []
    assert r.best in r.front and r.best.nrmse <= 1.5 * min(f.nrmse for f in r.front)


def test_deterministic_for_a_seed():
    x = _points(200)
    y = np.exp(x[:, 0]) + x[:, 1] ** 2
    cand = [Candidate(steps=15, grids=(5,))]
    r1 = discover(x, y, candidates=cand, time_budget=None, seed=3)
    r2 = discover(x, y, candidates=cand, time_budget=None, seed=3)
    assert [(str(f.expr), f.nrmse) for f in r1.formulas] == [(str(f.expr), f.nrmse) for f in r2.formulas]


def test_max_candidates_keeps_the_first():
    x = _points(100)
    r = discover(x, x[:, 0] + x[:, 1], max_candidates=1, time_budget=None)
    assert r.formulas[1:] and all(f.source.startswith("[n,[0,1],1] product, direct") for f in r.formulas[1:])
    assert not r.skipped
    for bad in (0, True, 1.5):
        with pytest.raises(ValueError, match=f"^max_candidates must be a positive integer or None, got {bad}$"):
            discover(x, x[:, 0], max_candidates=bad)


def test_time_budget_skips_the_rest():
    x = _points(200)
    cands = [Candidate(steps=5, grids=(5,)), Candidate(steps=5, grids=(5,), seed=1)]
    r = discover(x, x[:, 0] ** 2, candidates=cands, time_budget=1e-9)
    assert r.skipped == [str(c) for c in cands] and r.formulas == [r.best]


# ---------------------------------------------------------------- scale invariance (issue 14)
def _invariance_data():
    x = _points(200, seed=5)
    return x, x[:, 0] ** 2 + np.exp(x[:, 1])


@pytest.fixture(scope="module")
def baseline():
    x, f = _invariance_data()
    return discover(x, f, candidates=[SMALL], time_budget=None)


def _functions(expr):
    return {type(g) for g in expr.atoms(sympy.Function)}


@pytest.mark.parametrize("a", [0.01, 1, 100])
@pytest.mark.parametrize("b", [-10, 0, 10])
def test_target_units_do_not_change_the_result(baseline, a, b):
    """f and a*f + b give the same pruned width and the same formula, up to the affine change."""
    x, f = _invariance_data()
    r = discover(x, a * f + b, candidates=[SMALL], time_budget=None)
    assert baseline.best.exact and r.best.exact
    assert r.best.width == baseline.best.width == (2, 1, 1)
    assert _functions(r.sympy()) == _functions(baseline.sympy()) == {sympy.exp}
    fresh = _points(100, seed=9)
    np.testing.assert_allclose(r.predict(fresh), a * baseline.predict(fresh) + b, rtol=1e-9, atol=1e-9 * abs(a))
    # the errors are relative to the target's spread, so they too are unchanged (up to rounding)
    assert abs(r.best.nrmse - baseline.best.nrmse) < 1e-9


@pytest.mark.parametrize("c, d", [(0.01, 5.0), (100.0, -3.0), (-2.0, 0.0)])
def test_input_units_do_not_change_the_result(baseline, c, d):
    """Inputs given as c*x + d (so on ranges moved to match): the same width, the formula of (x' - d) / c."""
    x, f = _invariance_data()
    r = discover(c * x + d, f, candidates=[SMALL], time_budget=None)
    assert r.best.exact and r.best.width == baseline.best.width
    assert _functions(r.sympy()) == _functions(baseline.sympy())
    fresh = _points(100, seed=9)
    np.testing.assert_allclose(r.predict(c * fresh + d), baseline.predict(fresh), rtol=1e-8, atol=1e-8)


# ---------------------------------------------------------------- the estimator
def test_symbolic_kan_regressor():
    pd = pytest.importorskip("pandas")
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    from kanlab.sklearn import SymbolicKANRegressor

    x = _points(300, lo=0.5, hi=2.0)
    frame = pd.DataFrame(x, columns=["q", "C"])
    est = SymbolicKANRegressor(max_candidates=1, time_budget=None)
    with pytest.raises(NotFittedError):
        est.predict(x)
    est.fit(frame, 2 * x[:, 0] / x[:, 1])
    q, c = sympy.symbols("q C", positive=True)
    assert sympy.simplify(est.sympy() - 2 * q / c) == 0 and est.discovery_.exact
    assert list(est.feature_names_in_) == ["q", "C"] and est.n_features_in_ == 2
    np.testing.assert_allclose(est.predict(frame.iloc[:4]), 2 * x[:4, 0] / x[:4, 1], rtol=1e-12)
    assert est.score(frame, 2 * x[:, 0] / x[:, 1]) == pytest.approx(1.0)
    assert "frac" in est.latex()
    assert clone(est).get_params() == dict(time_budget=None, max_candidates=1, seed=0, val_fraction=0.25,
                                           tolerance=1.5, progress=False)
    plain = SymbolicKANRegressor(max_candidates=1, time_budget=None).fit(x, x[:, 0] * x[:, 1])
    assert {s.name for s in plain.sympy().free_symbols} == {"x_1", "x_2"}
    with pytest.raises(ValueError, match="features"):
        plain.predict(x[:, :1])


def test_a_failing_candidate_is_recorded_not_raised(monkeypatch):
    search_mod = importlib.import_module("kanlab.discovery.search")

    def broken(cand, x, y, deadline):
        raise np.linalg.LinAlgError("SVD did not converge in Linear Least Squares")

    monkeypatch.setattr(search_mod, "_train", broken)
    x = _points(60)
    cands = [Candidate(steps=5, grids=(5,)), Candidate(steps=5, grids=(5,), seed=1)]
    r = discover(x, x[:, 0] ** 2, candidates=cands, time_budget=None)
    assert r.failures == [(str(c), "LinAlgError: SVD did not converge in Linear Least Squares") for c in cands]
    assert r.formulas == [r.best] and r.best.source == "constant: training mean" and not r.exact
