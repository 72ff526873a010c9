"""What code written for scikit-learn's KMeans relies on beyond its results: the k_means
function, the signatures, how a callable init is called, the messages users match on."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest

import kmeans_xp
from kmeans_xp import KMeans, k_means, kmeans_plusplus, make_blobs

X, _ = make_blobs(120, 3, centers=3, random_state=0)


@pytest.mark.parametrize("name", ["k_means", "kmeans_plusplus"])
def test_signatures_are_scikit_learns(name):
    sklearn_cluster = pytest.importorskip("sklearn.cluster")

    def described(f):
        return [(p.name, p.kind, p.default) for p in inspect.signature(f).parameters.values()]

    assert described(getattr(kmeans_xp, name)) == described(getattr(sklearn_cluster, name))


def test_k_means_returns_three_values_or_four_with_n_iter():
    init = X[:3]
    centers, labels, inertia = k_means(X, 3, init=init)
    *same, n_iter = k_means(X, 3, init=init, return_n_iter=True)
    est = KMeans(3, init=init).fit(X)
    np.testing.assert_array_equal(centers, est.cluster_centers_)
    np.testing.assert_array_equal(labels, est.labels_)
    assert inertia == est.inertia_ and n_iter == est.n_iter_
    np.testing.assert_array_equal(same[1], labels)


def test_k_means_matches_scikit_learns_from_the_same_centres():
    sklearn_cluster = pytest.importorskip("sklearn.cluster")
    ours = k_means(X, 3, init=X[[0, 50, 100]], return_n_iter=True)
    ref = sklearn_cluster.k_means(X, 3, init=X[[0, 50, 100]], return_n_iter=True)
    np.testing.assert_allclose(ours[0], ref[0])
    np.testing.assert_array_equal(ours[1], ref[1])
    assert ours[2] == pytest.approx(ref[2]) and ours[3] == ref[3]


def test_a_callable_init_gets_a_random_state_as_scikit_learn_gives_it():
    calls = []

    def init(data, n_clusters, random_state):
        calls.append(random_state)
        return data[random_state.randint(data.shape[0], size=n_clusters)]

    KMeans(3, init=init, n_init=3, random_state=7).fit(X)
    assert len(calls) == 3 and all(isinstance(r, np.random.RandomState) for r in calls)
    assert calls[0] is calls[1] is calls[2]  # one state, advanced run after run
    # an int seed gives the same draws run after run of the estimator
    first = KMeans(3, init=init, n_init=1, random_state=7).fit(X).cluster_centers_
    again = KMeans(3, init=init, n_init=1, random_state=7).fit(X).cluster_centers_
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("copy_x", ["banana", 1, None])
def test_copy_x_must_be_a_bool(copy_x):
    with pytest.raises(ValueError, match=re.escape("'copy_x' parameter of KMeans must be")):
        KMeans(3, copy_x=copy_x).fit(X)


def test_elkan_with_one_cluster_warns_as_scikit_learn_does():
    with pytest.warns(RuntimeWarning, match="algorithm='elkan' doesn't make sense"):
        KMeans(1, algorithm="elkan").fit(X)
    KMeans(3, algorithm="elkan", random_state=0).fit(X)  # no warning (warnings are errors)


def test_elkan_and_lloyd_give_the_same_fit():
    lloyd = KMeans(3, random_state=0).fit(X)
    elkan = KMeans(3, algorithm="elkan", random_state=0).fit(X)
    np.testing.assert_array_equal(lloyd.labels_, elkan.labels_)
    assert lloyd.n_iter_ == elkan.n_iter_


def test_explicit_init_warning_and_shape_errors_in_scikit_learns_words():
    with pytest.warns(RuntimeWarning, match="Explicit initial center position passed: "):
        KMeans(3, init=X[:3], n_init=4).fit(X)
    with pytest.raises(ValueError, match=r"initial centers \(2, 3\) does not match the num"):
        KMeans(3, init=X[:2]).fit(X)
    with pytest.raises(ValueError, match=r"initial centers \(3, 2\) does not match the numb"):
        KMeans(3, init=X[:3, :2]).fit(X)


def test_x_squared_norms_are_checked():
    norms = np.sum(X * X, axis=1)
    _, indices = kmeans_plusplus(X, 3, x_squared_norms=norms, random_state=0)
    _, same = kmeans_plusplus(X, 3, random_state=0)
    np.testing.assert_array_equal(indices, same)
    with pytest.raises(ValueError, match="length of x_squared_norms 5 should be equal"):
        kmeans_plusplus(X, 3, x_squared_norms=norms[:5])
    with pytest.raises(ValueError, match="finite, non-negative"):
        kmeans_plusplus(X, 3, x_squared_norms=-norms)
