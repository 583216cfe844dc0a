import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from kanlab.sklearn import KANClassifier, KANRegressor

# Every check of sklearn.utils.estimator_checks runs (steps kept small for speed). kanlab skips none; sklearn itself
# skips one, check_array_api_input, unless the environment sets SCIPY_ARRAY_API=1: kanlab does not claim
# array-API support (it converts every input to a torch tensor).


@parametrize_with_checks([KANRegressor(steps=10), KANClassifier(steps=10)])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


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
