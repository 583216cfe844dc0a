"""Every check of sklearn.utils.estimator_checks (steps kept small for speed). kanlab skips none; sklearn itself
skips one, check_array_api_input, unless the environment sets SCIPY_ARRAY_API=1: kanlab does not claim array-API
support (it converts every input to a torch tensor). In a file of its own so that mutation testing can leave these
120 slow checks out of sklearn.py's test selection (scripts/mutate.py)."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from kanlab.sklearn import KANClassifier, KANRegressor


@parametrize_with_checks([KANRegressor(steps=10), KANClassifier(steps=10)])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
