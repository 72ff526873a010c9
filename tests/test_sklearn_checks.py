"""scikit-learn's own estimator checks, all of them, none expected to fail; array-API pipelines;
and ``import kmeans_xp`` without scikit-learn."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from kmeans_xp import KMeans, make_blobs

pytest.importorskip("sklearn")

from sklearn import config_context
from sklearn.utils.estimator_checks import parametrize_with_checks

ROOT = Path(__file__).resolve().parents[1]


# The configuration scikit-learn checks its own KMeans with, and the defaults but for k.
@parametrize_with_checks([KMeans(n_clusters=2, n_init=2, max_iter=5), KMeans(n_clusters=3)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_tags_declare_array_api_support():
    from sklearn.utils import get_tags

    tags = get_tags(KMeans())
    assert tags.array_api_support
    assert tags.estimator_type == "clusterer"
    assert tags.transformer_tags is not None
    assert tags.input_tags.sparse and not tags.input_tags.allow_nan


def test_scipy_array_api_mode_is_on_for_the_tests():
    # set by tests/conftest.py before SciPy is imported (scikit-learn's dispatch needs it)
    assert os.environ.get("SCIPY_ARRAY_API") == "1"


def test_array_api_pipeline_takes_torch_end_to_end():
    torch = pytest.importorskip("torch")
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X_np, _ = make_blobs(300, 6, centers=3, random_state=0)
    X = torch.asarray(X_np)
    with config_context(array_api_dispatch=True):
        pipe = make_pipeline(StandardScaler(), PCA(n_components=3), KMeans(3, random_state=0))
        labels = pipe.fit_predict(X)
        predicted = pipe.predict(X)
        distances = pipe.transform(X)
    km = pipe[-1]
    for out in (labels, predicted, distances, km.cluster_centers_, km.labels_):
        assert isinstance(out, torch.Tensor)
    assert labels.dtype == torch.int64 and distances.shape == (300, 3)
    torch.testing.assert_close(labels, predicted)
    # the same pipeline on NumPy finds the same clusters
    ref = make_pipeline(StandardScaler(), PCA(n_components=3), KMeans(3, random_state=0))
    np.testing.assert_array_equal(ref.fit_predict(X_np), labels.numpy())


def test_under_dispatch_predict_insists_on_the_namespace_of_fit():
    torch = pytest.importorskip("torch")
    X, _ = make_blobs(60, 2, centers=2, random_state=0)
    with config_context(array_api_dispatch=True):
        km = KMeans(2, random_state=0).fit(torch.asarray(X))
        with pytest.raises(ValueError, match=r"KMeans.predict\(\) must use the same namespace"):
            km.predict(X)
    # without dispatch, kmeans_xp converts the fitted centres to the data's library
    assert isinstance(km.predict(X), np.ndarray)


WITHOUT_SKLEARN = textwrap.dedent(
    """
    import sys
    import warnings

    sys.modules["sklearn"] = None  # any import of scikit-learn now fails

    import numpy as np
    import kmeans_xp
    from kmeans_xp import KMeans, _estimator
    from kmeans_xp._sklearn_fallback import ConvergenceWarning, NotFittedError

    assert not _estimator.HAVE_SKLEARN
    warnings.simplefilter("error")

    X = [[0.0, 0.0], [0.0, 1.0], [10.0, 10.0], [10.0, 11.0]]
    km = KMeans(2, random_state=0).fit(X)
    assert sorted(np.bincount(km.labels_).tolist()) == [2, 2]
    assert km.n_features_in_ == 2 and not hasattr(km, "feature_names_in_")
    assert km.get_feature_names_out().tolist() == ["kmeans0", "kmeans1"]
    assert (km.predict(km.cluster_centers_) == np.arange(2)).all()
    assert km.get_params()["n_clusters"] == 2 and km.set_params(n_clusters=3).n_clusters == 3
    assert km.__sklearn_tags__().array_api_support

    def raises(exc, call, match):
        try:
            call()
        except exc as e:
            assert match in str(e), str(e)
        else:
            raise AssertionError(f"no {exc.__name__} from {call}")

    raises(NotFittedError, lambda: KMeans(2).predict(X), "not fitted")
    raises(ValueError, lambda: KMeans(2).fit([1.0, 2.0, 3.0]), "Expected 2D array")
    raises(ValueError, lambda: KMeans(2).fit([[1.0, float("nan")], [0.0, 0.0]]), "NaN")
    raises(ValueError, lambda: KMeans(2).fit([["a", "b"], ["c", "d"]]), "expects real numbers")
    raises(ValueError, lambda: KMeans(0).fit(X), "n_clusters")
    raises(ValueError, lambda: km.predict([[1.0, 2.0, 3.0]]), "X has 3 features")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        KMeans(3, random_state=0).fit([[1.0, 1.0]] * 3 + [[2.0, 2.0]] * 3)
    assert [w.category for w in caught] == [ConvergenceWarning]

    try:
        import pandas as pd
    except ImportError:
        pd = None
    if pd is not None:
        df = pd.DataFrame(X, columns=["a", "b"])
        km = KMeans(2, random_state=0).fit(df)
        assert km.feature_names_in_.tolist() == ["a", "b"]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            km.predict(np.asarray(X))
        assert "does not have valid feature names" in str(caught[0].message)

    try:
        import array_api_strict as xps
    except ImportError:
        xps = None
    if xps is not None:  # arrays of another library stay in it
        km = KMeans(2, random_state=0).fit(xps.asarray(X))
        assert type(km.labels_) is type(xps.asarray(X)) and km.n_features_in_ == 2
    print("fallback ok")
    """
)


def test_import_and_fit_without_scikit_learn():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_SKLEARN],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "fallback ok" in done.stdout
