import numpy as np
import pandas as pd
import pytest
import sympy
import torch
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kanlab.sklearn import KANClassifier, KANRegressor

def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 2))
    return x, np.sin(np.pi * x[:, 0]) + x[:, 1] ** 2


def test_regressor_numpy_pandas_torch_and_multioutput():
    x, y = _data()
    reg = KANRegressor(hidden_width=(3,), steps=30, random_state=0).fit(x, y)
    assert reg.score(x, y) > 0.99 and reg.predict(x).shape == (300,)
    assert reg.n_features_in_ == 2 and reg.model_.width == [2, 3, 1] and len(reg.history_["train_loss"]) == 30
    df = pd.DataFrame(x, columns=["a", "b"])
    reg_df = KANRegressor(steps=5).fit(df, y)
    assert list(reg_df.feature_names_in_) == ["a", "b"]
    reg_t = KANRegressor(steps=5).fit(torch.tensor(x), torch.tensor(y))
    assert reg_t.predict(torch.tensor(x)).shape == (300,)
    multi = KANRegressor(steps=10).fit(x, np.column_stack([y, -y]))
    assert multi.predict(x).shape == (300, 2)


def test_classifier_probabilities_and_labels():
    x, y = _data()
    labels = np.where(y > np.median(y), "hi", "lo")
    clf = KANClassifier(steps=30, random_state=0).fit(x, labels)
    proba = clf.predict_proba(x)
    assert proba.shape == (300, 2) and np.allclose(proba.sum(1), 1)
    assert set(clf.predict(x)) <= {"hi", "lo"} and clf.score(x, labels) > 0.9
    assert list(clf.classes_) == ["hi", "lo"]


def test_pipeline_and_grid_search():
    x, y = _data()
    pipe = make_pipeline(StandardScaler(), KANRegressor(steps=10))
    assert pipe.fit(x, y).score(x, y) > 0.9
    search = GridSearchCV(KANRegressor(steps=5), {"grid": [3, 5]}, cv=2).fit(x, y)
    res = search.cv_results_
    assert [p["grid"] for p in res["params"]] == [3, 5]
    best = int(np.argmax(res["mean_test_score"]))
    assert search.best_params_["grid"] == res["params"][best]["grid"]  # the better cross-validated grid wins


def test_prune_option_shrinks_the_network():
    x, _ = _data(1000)
    y = np.exp(np.sin(np.pi * x[:, 0]) + x[:, 1] ** 2)  # the seed workflow's function
    reg = KANRegressor(hidden_width=(5,), steps=20, lamb=0.01, lamb_entropy=10.0, prune=True, random_state=0)
    reg.fit(x, y)
    assert reg.model_.width[1] < 5 and len(reg.history_["train_loss"]) == 40
    assert reg.score(x, y) > 0.99


def test_symbolic_views():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (400, 2))
    y = np.sin(np.pi * x[:, 0]) + x[:, 1] ** 2
    reg = KANRegressor(hidden_width=(), steps=30, random_state=0).fit(pd.DataFrame(x, columns=["u", "v"]), y)
    with pytest.raises(ValueError, match="numeric"):
        reg.sympy()
    reg.auto_symbolic(lib=["x", "x^2", "sin"])
    (expr,) = reg.sympy()
    assert {str(s) for s in expr.free_symbols} == {"u", "v"}
    assert "sin" in reg.latex()[0]


def test_multiplication_nodes_through_the_estimator():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (400, 3))
    y = x[:, 0] * x[:, 1] * x[:, 2] + x[:, 0]
    reg = KANRegressor(hidden_width=[(1, 1)], mult_arity=3, steps=30, random_state=0).fit(x, y)
    assert reg.model_.width_spec == [3, [1, 1], 1] and reg.model_.mult_arity == [[], [3], []]
    assert reg.score(x, y) > 0.99
    mixed = KANRegressor(hidden_width=[(0, 2)], mult_arity=[[2, 3]], steps=2).fit(x, y)
    assert mixed.model_.mult_arity == [[], [2, 3], []]
    with pytest.raises(ValueError, match="n_sum, n_mult"):
        KANRegressor(hidden_width=[(1, 1, 1)]).fit(x, y)


# --- every hyperparameter reaches the model (issue 18: a parameter that is silently ignored is a bug) ---

class _Recorder:
    """Stands in for KAN inside kanlab.sklearn, recording how the estimator builds and trains it."""

    def __init__(self, monkeypatch):
        import kanlab.sklearn
        from kanlab import KAN

        self.built, self.fits = [], []
        recorder = self

        class Recording(KAN):
            def __init__(self, **kwargs):
                recorder.built.append(kwargs)
                super().__init__(**kwargs)

        fit = KAN.fit

        def recording_fit(model, data, **kwargs):  # also on the pruned model, a plain KAN
            recorder.fits.append(kwargs)
            return fit(model, data, **kwargs)

        monkeypatch.setattr(kanlab.sklearn, "KAN", Recording)
        monkeypatch.setattr(KAN, "fit", recording_fit)


def test_every_hyperparameter_reaches_the_model(monkeypatch):
    rec = _Recorder(monkeypatch)
    x, y = _data(60)
    reg = KANRegressor(hidden_width=[(2, 1), 3], mult_arity=[3, 2], grid=4, k=2, steps=2, opt="Adam", lr=0.05,
                       lamb=0.003, lamb_entropy=1.5, update_grid=False, batch=16, dtype="float32",
                       random_state=7).fit(x, y)
    (built,) = rec.built
    assert built == dict(width=[2, [2, 1], 3, 1], mult_arity=[[], 3, 2, []], grid=4, k=2, seed=7,
                         dtype=torch.float32)
    (fit,) = rec.fits
    assert fit == dict(lamb=0.003, lamb_entropy=1.5, opt="Adam", steps=2, lr=0.05, update_grid=False, batch=16,
                       loss_fn=None, log=0, seed=7)
    assert reg.model_.dtype == torch.float32 and reg.predict(x).dtype == np.float32


def test_hidden_width_forms_and_their_errors():
    x, y = _data(40)
    assert KANRegressor(hidden_width=3, steps=1).fit(x, y).model_.width == [2, 3, 1]
    assert KANRegressor(hidden_width=np.int64(2), steps=1).fit(x, y).model_.width == [2, 2, 1]
    assert KANRegressor(hidden_width=[(0, 2)], steps=1).fit(x, y).model_.width_spec == [2, [0, 2], 1]
    # the smallest layers there are: one node, one sum node, one multiplication node
    assert KANRegressor(hidden_width=1, steps=1).fit(x, y).model_.width == [2, 1, 1]
    assert KANRegressor(hidden_width=[(1, 0)], steps=1)._hidden() == [[1, 0]]
    assert KANRegressor(hidden_width=[(0, 1)], steps=1)._hidden() == [[0, 1]]
    for bad in ([0], [True], [2.5], [(1, -1)], [(0, 0)], [(1, 2, 3)], [(1.0, 1)]):
        with pytest.raises(ValueError, match=r"hidden_width entries must be positive integers or \(n_sum, n_mult\) "
                                             r"pairs, got "):
            KANRegressor(hidden_width=bad, steps=1).fit(x, y)


def test_numbers_held_in_object_arrays():
    """An object array of numbers (what pandas gives for mixed columns) is read as float64, in fit and predict."""
    x, y = _data(60)
    labels = np.where(y > np.median(y), 1, 0)
    for est, target in ((KANRegressor(steps=3, random_state=0), y), (KANClassifier(steps=3, random_state=0), labels)):
        plain = est.fit(x, target).predict(x)
        boxed = est.fit(x.astype(object), target).predict(x.astype(object))
        np.testing.assert_array_equal(plain, boxed)


def test_random_state_forms(monkeypatch):
    rec = _Recorder(monkeypatch)
    x, y = _data(40)
    KANRegressor(steps=1).fit(x, y)
    KANRegressor(steps=1, random_state=np.int32(5)).fit(x, y)
    KANRegressor(steps=1, random_state=np.random.RandomState(3)).fit(x, y)
    want = np.random.RandomState(3).randint(0, 2**31 - 1)
    assert [b["seed"] for b in rec.built] == [0, 5, want]
    assert [f["seed"] for f in rec.fits] == [0, 5, want]  # the same draw: the model and fit agree
    with pytest.raises(ValueError, match="random_state must be None, an int or a numpy RandomState, got 'abc'"):
        KANRegressor(steps=1, random_state="abc").fit(x, y)
    with pytest.raises(ValueError, match=r"dtype must be one of \['float32', 'float64'\], got 'float16'"):
        KANRegressor(steps=1, dtype="float16").fit(x, y)


def test_prune_retrains_with_the_same_settings(monkeypatch):
    rec = _Recorder(monkeypatch)
    x, _ = _data(300)
    y = x[:, 0] ** 2
    reg = KANRegressor(hidden_width=(4,), steps=3, lamb=0.01, prune=True, random_state=0).fit(x, y)
    assert len(rec.fits) == 2 and "lamb" not in rec.fits[1]  # the retraining has no penalty
    assert {k: v for k, v in rec.fits[0].items() if k not in ("lamb", "lamb_entropy")} == rec.fits[1]
    assert len(reg.history_["train_loss"]) == 6 and reg.history_["reg"][3:] == [0.0] * 3
    rec.fits.clear()
    KANRegressor(hidden_width=(), steps=3, lamb=0.01, prune=True).fit(x, y)  # nothing to prune without hidden layers
    assert len(rec.fits) == 1


def test_auto_symbolic_refit_uses_the_training_data(monkeypatch):
    rec = _Recorder(monkeypatch)
    x, y = _data(200)
    labels = (y > np.median(y)).astype(int)
    clf = KANClassifier(hidden_width=(), steps=2, random_state=0).fit(x, labels)
    clf.auto_symbolic(lib=["x", "sin"], refit_steps=3)
    assert rec.fits[-1] == dict(steps=3, log=0, update_grid=False, loss_fn=clf._loss_fn)
    assert isinstance(clf._loss_fn, torch.nn.CrossEntropyLoss)
    n = len(rec.fits)
    clf.auto_symbolic(lib=["x"], refit_steps=0)
    assert len(rec.fits) == n  # no refit asked, none done
    clf.auto_symbolic(lib=["x"])
    assert rec.fits[-1]["steps"] == 50  # the default refit


def test_symbols_and_latex():
    x, y = _data(100)
    reg = KANRegressor(hidden_width=(), steps=5, random_state=0).fit(x, y)
    reg.auto_symbolic(lib=["x", "x^2", "sin"], refit_steps=0)
    (expr,) = reg.sympy(simplify=False)
    assert {str(s) for s in expr.free_symbols} <= {"x_1", "x_2"} and expr.free_symbols
    assert reg.latex(simplify=False) == [sympy.latex(expr)]


def test_classifier_with_one_class_predicts_it():
    x, _ = _data(30)
    clf = KANClassifier(steps=1).fit(x, ["only"] * 30)
    assert clf.history_ == {"train_loss": [], "test_loss": [], "reg": []} and clf.model_ is None
    proba = clf.predict_proba(x[:4])
    assert proba.shape == (4, 1) and (proba == 1).all() and list(clf.predict(x[:2])) == ["only", "only"]
    with pytest.raises(ValueError, match="features"):
        clf.predict_proba(x[:, :1])  # still checks the input


def test_predict_proba_is_the_softmax_of_the_outputs():
    x, y = _data(200)
    labels = np.digitize(y, np.quantile(y, [0.33, 0.66]))
    clf = KANClassifier(hidden_width=(3,), steps=5, random_state=0).fit(x, labels)
    with torch.no_grad():
        logits = clf.model_(torch.tensor(x)).numpy()
    want = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(clf.predict_proba(x), want, rtol=1e-12, atol=1e-300)  # subnormals round
    np.testing.assert_array_equal(clf.predict(x), np.argmax(want, axis=1))


def test_defaults_and_parameters_round_trip():
    defaults = dict(hidden_width=(5,), grid=5, k=3, steps=50, opt="LBFGS", lr=1.0, lamb=0.0, lamb_entropy=2.0,
                    update_grid=True, batch=-1, dtype="float64", prune=False, random_state=None, mult_arity=2)
    assert KANRegressor().get_params() == defaults and KANClassifier().get_params() == defaults
    chosen = dict(hidden_width=[3, (1, 2)], grid=7, k=2, steps=3, opt="Adam", lr=0.1, lamb=0.5, lamb_entropy=4.0,
                  update_grid=False, batch=8, dtype="float32", prune=True, random_state=11, mult_arity=[3, 2])
    assert KANRegressor(**chosen).get_params() == chosen


def test_tags_shapes_and_unfitted_use():
    from sklearn.exceptions import NotFittedError

    tags = KANRegressor().__sklearn_tags__().target_tags
    assert tags.multi_output is True and tags.single_output is True
    with pytest.raises(NotFittedError):
        KANRegressor().predict(np.zeros((2, 2)))
    with pytest.raises(NotFittedError):
        KANClassifier().predict_proba(np.zeros((2, 2)))
    with pytest.raises(NotFittedError):
        KANRegressor().auto_symbolic()
    with pytest.raises(NotFittedError):
        KANRegressor().sympy()
    x, y = _data(50)
    column = KANRegressor(steps=1).fit(x, y.reshape(-1, 1))
    assert column.predict(x).shape == (50, 1)  # a column target predicts a column
    assert KANRegressor(steps=1).fit(x, [int(v > 0) for v in y]).predict(x).dtype == np.float64  # ints are numbers
    with pytest.raises(ValueError, match="features"):
        column.predict(x[:, :1])
    with pytest.raises(ValueError, match="Unknown label type"):
        KANClassifier(steps=1).fit(x, y)  # continuous targets are not classes


def test_auto_symbolic_passes_its_arguments(monkeypatch):
    x, y = _data(60)
    reg = KANRegressor(hidden_width=(), steps=1, random_state=0).fit(x, y)
    got = {}
    monkeypatch.setattr(reg.model_, "auto_symbolic", lambda **kw: got.update(kw))
    assert reg.auto_symbolic(lib=["x"], r2_threshold=0.3, weight_simple=0.6, refit_steps=0) is reg
    assert got == dict(lib=["x"], r2_threshold=0.3, weight_simple=0.6)
    got.clear()
    reg.auto_symbolic(refit_steps=0)
    assert got == dict(lib=None, r2_threshold=0.0, weight_simple=0.8)


def test_symbols_follow_feature_names_and_simplify_is_passed(monkeypatch):
    x, y = _data(60)
    reg = KANRegressor(hidden_width=(), steps=1).fit(pd.DataFrame(x, columns=["p", "q"]), y)
    got = {}

    def formula(var, simplify):
        got.update(var=var, simplify=simplify)
        return [sympy.Symbol("p")], var

    monkeypatch.setattr(reg.model_, "symbolic_formula", formula)
    assert reg.sympy(simplify=False) == [sympy.Symbol("p")]
    assert [str(v) for v in got["var"]] == ["p", "q"] and got["simplify"] is False
    reg.latex()
    assert got["simplify"] is True
    got.clear()
    reg.sympy()
    assert got["simplify"] is True
    plain = KANRegressor(hidden_width=(), steps=1).fit(x, y)
    monkeypatch.setattr(plain.model_, "symbolic_formula", formula)
    plain.sympy()
    assert [str(v) for v in got["var"]] == ["x_1", "x_2"]


def test_the_training_labels_are_a_copy():
    """The refit after auto_symbolic trains on the labels fit saw, even if the caller's array changes later; a
    read-only target is taken without a warning."""
    import warnings

    x, y = _data(40)
    reg = KANRegressor(hidden_width=(), steps=1).fit(x, y)
    y[:] = 0.0
    assert float(reg._train_data["train_label"].abs().max()) > 0
    y.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        KANRegressor(hidden_width=(), steps=1).fit(x, y)
