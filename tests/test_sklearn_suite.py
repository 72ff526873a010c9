"""scikit-learn's own k-means tests, run against kmeans_xp.

The test functions of ``sklearn/cluster/tests/test_k_means.py`` are taken from the installed
scikit-learn (never a copy of the file) and re-bound here to globals in which ``KMeans``,
``k_means`` and ``kmeans_plusplus`` are kmeans_xp's; the estimators that scikit-learn's
parametrisations name are swapped the same way. Its MiniBatchKMeans tests are run by
``tests/test_sklearn_suite_minibatch.py`` and skipped here.
scikit-learn's module itself is left untouched. Tests skipped here are listed below, each with
its reason; everything else must pass as it does for scikit-learn.

The two fixtures scikit-learn's conftest gives these tests are defined here as scikit-learn
defines them (``SKLEARN_TESTS_GLOBAL_RANDOM_SEED`` picks the seeds, ``SKLEARN_RUN_FLOAT32_TESTS``
adds float32 to ``global_dtype``).
"""

from __future__ import annotations

import os
import types

import numpy as np
import pytest

pytest.importorskip("sklearn")
sk_tests = pytest.importorskip("sklearn.cluster.tests.test_k_means")

import kmeans_xp  # noqa: E402

# tests of scikit-learn's private helpers: they call no KMeans, k_means or kmeans_plusplus
PRIVATE_FUNCTIONS = {
    "test_relocate_empty_clusters": "calls scikit-learn's private _relocate_empty_clusters_*",
    "test_minibatch_update_consistency": "calls scikit-learn's private _mini_batch_step",
    "test_minibatch_reassign": "calls scikit-learn's private _mini_batch_step",
    "test_euclidean_distance": "calls scikit-learn's private _euclidean_*_dense_wrapper",
    "test_inertia": "calls scikit-learn's private _inertia_dense / _inertia_sparse",
    "test_is_same_clustering": "calls scikit-learn's private _is_same_clustering",
}
# tests that read or call private members of the estimator (the private attribute _n_init,
# which two tests read, KMeans records as scikit-learn does: those run)
PRIVATE_ATTRIBUTES = {
    "test_sample_weight_init": "calls the private method KMeans._init_centroids",
    "test_sample_weight_zero": "calls the private method KMeans._init_centroids",
    "test_minibatch_kmeans_init_size": "reads the private attribute MiniBatchKMeans._init_size",
}
# names of scikit-learn's objects swapped for kmeans_xp's
SWAPPED = ["KMeans", "k_means", "kmeans_plusplus"]
NO_MINIBATCH = "MiniBatchKMeans: run by tests/test_sklearn_suite_minibatch.py"


def _swap(value):
    """scikit-learn's estimator or function -> kmeans_xp's, when kmeans_xp has it."""
    for name in SWAPPED:
        if value is getattr(sk_tests, name):
            return getattr(kmeans_xp, name)
    return value


_PARAM = type(pytest.param(None))


def _swap_param(value, several: bool):
    """One parametrisation value (a tuple of them when ``several`` names are parametrised, or
    a ``pytest.param``) swapped; one that still names scikit-learn's MiniBatchKMeans is
    skipped with its reason."""
    if isinstance(value, _PARAM):
        values, marks, id_ = value.values, list(value.marks), value.id
    else:
        values, marks, id_ = (value if several else (value,)), [], None
    values = tuple(_swap(v) for v in values)
    if any(v is getattr(sk_tests, "MiniBatchKMeans", None) for v in values):
        marks.append(pytest.mark.skip(reason=NO_MINIBATCH))
    if marks or id_ is not None:
        return pytest.param(*values, marks=marks, id=id_)
    return values if several else values[0]


def _swap_mark(mark):
    if mark.name != "parametrize":
        return mark
    names, values = mark.args[0], mark.args[1]
    several = isinstance(names, (list, tuple)) or "," in names
    swapped = [_swap_param(value, several) for value in values]
    return pytest.mark.parametrize(names, swapped, *mark.args[2:], **mark.kwargs).mark


def _rebind(function, namespace):
    """``function`` with the swapped globals and its marks swapped."""
    bound = types.FunctionType(
        function.__code__,
        namespace,
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    bound.__doc__ = function.__doc__
    bound.__qualname__ = function.__name__
    bound.pytestmark = [_swap_mark(m) for m in getattr(function, "pytestmark", [])]
    reason = PRIVATE_FUNCTIONS.get(function.__name__) or PRIVATE_ATTRIBUTES.get(function.__name__)
    if reason is None:
        uses_minibatch = "MiniBatchKMeans" in function.__code__.co_names
        if uses_minibatch and not any(m.name == "parametrize" for m in bound.pytestmark):
            reason = NO_MINIBATCH
        elif function.__name__.startswith("test_minibatch"):
            reason = NO_MINIBATCH
    if reason is not None:
        bound.pytestmark.append(pytest.mark.skip(reason=reason))
    return bound


def _swapped_tests():
    namespace = dict(vars(sk_tests))
    namespace.update({name: getattr(kmeans_xp, name) for name in SWAPPED})
    return {
        name: _rebind(value, namespace)
        for name, value in vars(sk_tests).items()
        if name.startswith("test_") and isinstance(value, types.FunctionType)
    }


globals().update(_swapped_tests())


def _seeds() -> list[int]:
    """The seeds scikit-learn's conftest gives ``global_random_seed`` (42 unless the
    environment asks for others)."""
    given = os.environ.get("SKLEARN_TESTS_GLOBAL_RANDOM_SEED")
    if given is None:
        return [42]
    if given == "all":
        return list(range(100))
    start, _, stop = given.partition("-")
    return list(range(int(start), int(stop or start) + 1))


@pytest.fixture(params=_seeds())
def global_random_seed(request):
    return request.param


_FLOAT32 = pytest.mark.skipif(
    os.environ.get("SKLEARN_RUN_FLOAT32_TESTS", "0") != "1",
    reason="Set SKLEARN_RUN_FLOAT32_TESTS=1 to run float32 dtype tests",
)


@pytest.fixture(params=[pytest.param(np.float32, marks=_FLOAT32), np.float64])
def global_dtype(request):
    return request.param


INTERNALS = "sklearn.cluster._"


def test_private_lists_name_existing_tests():
    """Every test skipped by name exists in scikit-learn's module, and every test whose code
    names one of scikit-learn's private k-means helpers is skipped (so the lists stay exact)."""
    tests = {n for n in vars(sk_tests) if n.startswith("test_")}
    assert set(PRIVATE_FUNCTIONS) | set(PRIVATE_ATTRIBUTES) <= tests
    for name in tests:
        code = getattr(sk_tests, name).__code__
        # scikit-learn's k-means internals (not the test module's helpers, nor its utilities)
        private = [
            n
            for n in code.co_names
            if n.startswith("_")
            and getattr(getattr(sk_tests, n, None), "__module__", "").startswith(INTERNALS)
        ]
        if private and name not in PRIVATE_FUNCTIONS:
            assert name in PRIVATE_ATTRIBUTES, (name, private)


def test_the_tests_run_kmeans_xp():
    """The re-bound tests see kmeans_xp's objects, in their globals and parametrisations."""
    swapped = _swapped_tests()
    for name in ("KMeans", "k_means", "kmeans_plusplus"):
        assert swapped["test_kmeans_results"].__globals__[name] is getattr(kmeans_xp, name)
    values = [
        value
        for test in swapped.values()
        for mark in test.pytestmark
        if mark.name == "parametrize"
        for value in mark.args[1]
    ]
    flat = [
        v for value in values for v in (value.values if isinstance(value, _PARAM) else (value,))
    ]
    assert kmeans_xp.KMeans in flat
    assert not any(v is sk_tests.KMeans for v in flat)
