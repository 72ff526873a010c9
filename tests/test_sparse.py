"""SciPy sparse input: the results of scikit-learn's sparse path and of our dense path, every
initialisation, inference, the memory bound, and what is refused."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from kmeans_xp import KMeans, _init, _sparse, kmeans_plusplus

sp = pytest.importorskip("scipy.sparse")


def sparse_blobs(n=400, d=30, k=5, density=0.2, seed=0, dtype=np.float64):
    """Rows of k sparse prototypes with their own noise on the prototypes' columns: clusters
    that a sparse k-means finds, with few stored values."""
    rng = np.random.default_rng(seed)
    protos = sp.random_array((k, d), density=density, rng=rng).toarray() * 5
    labels = rng.integers(0, k, n)
    dense = protos[labels] * (1 + 0.3 * rng.standard_normal((n, d)))
    return sp.csr_array(dense.astype(dtype)), labels


CONTAINERS = [sp.csr_matrix, sp.csr_array]


@pytest.mark.parametrize("container", CONTAINERS, ids=["csr_matrix", "csr_array"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_same_results_as_scikit_learns_sparse_path(container, dtype, weighted):
    sklearn_cluster = pytest.importorskip("sklearn.cluster")
    X, _ = sparse_blobs(600, 40, 6, dtype=dtype, seed=3)
    X = container(X)
    rng = np.random.default_rng(1)
    w = rng.uniform(0.5, 2.0, X.shape[0]) if weighted else None
    init = X[rng.choice(X.shape[0], 6, replace=False)].toarray()
    ours = KMeans(6, init=init, n_init=1, tol=1e-6).fit(X, sample_weight=w)
    ref = sklearn_cluster.KMeans(6, init=init, n_init=1, tol=1e-6).fit(X, sample_weight=w)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=rtol, atol=rtol)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=rtol)
    assert ours.n_iter_ == ref.n_iter_
    assert ours.cluster_centers_.dtype == dtype


@pytest.mark.parametrize("fmt", ["csc", "coo", "lil"])
def test_other_formats_are_converted_and_give_the_csr_results(fmt):
    X, _ = sparse_blobs()
    init = X[:5].toarray()
    csr = KMeans(5, init=init).fit(X)
    other = KMeans(5, init=init).fit(X.asformat(fmt))
    np.testing.assert_array_equal(other.labels_, csr.labels_)
    np.testing.assert_allclose(other.cluster_centers_, csr.cluster_centers_)


def test_sparse_fit_matches_the_dense_fit_of_the_same_data():
    X, _ = sparse_blobs(500, 25, 4, seed=2)
    for init in ("k-means++", "random", "k-means||"):
        sparse_fit = KMeans(4, init=init, n_init=2, random_state=5).fit(X)
        dense_fit = KMeans(4, init=init, n_init=2, random_state=5).fit(X.toarray())
        np.testing.assert_array_equal(sparse_fit.labels_, dense_fit.labels_, err_msg=init)
        np.testing.assert_allclose(
            sparse_fit.cluster_centers_, dense_fit.cluster_centers_, atol=1e-10, err_msg=init
        )
        assert sparse_fit.inertia_ == pytest.approx(dense_fit.inertia_, rel=1e-10)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_sparse_inits_draw_the_rows_the_dense_ones_draw(weighted):
    X, _ = sparse_blobs(300, 20, 5, seed=4)
    dense = X.toarray()
    w = np.random.default_rng(0).uniform(0.1, 3.0, X.shape[0]) if weighted else np.ones(300)
    for seed in range(3):
        _, sparse_idx = _sparse.kmeans_plusplus(X, 5, w, np.random.default_rng(seed))
        _, dense_idx = _init.kmeans_plusplus(dense, 5, w, np.random.default_rng(seed))
        np.testing.assert_array_equal(sparse_idx, dense_idx)
        _, sparse_idx = _sparse.random_rows(
            X, 5, w, np.random.default_rng(seed), unit_weight=not weighted
        )
        _, dense_idx = _init.random_rows(
            dense, 5, w, np.random.default_rng(seed), unit_weight=not weighted
        )
        np.testing.assert_array_equal(sparse_idx, dense_idx)


def test_kmeans_plusplus_function_on_sparse_input_with_squared_norms():
    X, _ = sparse_blobs(200, 15, 4)
    norms = np.asarray(X.multiply(X).sum(axis=1)).ravel()
    centers, indices = kmeans_plusplus(X, 4, x_squared_norms=norms, random_state=0)
    _, same_indices = kmeans_plusplus(X, 4, random_state=0)
    assert isinstance(centers, np.ndarray)
    np.testing.assert_array_equal(indices, same_indices)
    np.testing.assert_array_equal(centers, X[indices].toarray())
    with pytest.raises(ValueError, match="length of x_squared_norms 3 should be equal"):
        kmeans_plusplus(X, 4, x_squared_norms=norms[:3])


def test_predict_transform_and_score_on_sparse_match_dense():
    X, _ = sparse_blobs(300, 20, 4, seed=6)
    w = np.random.default_rng(2).uniform(0.5, 2, 300)
    est = KMeans(4, random_state=0).fit(X)
    dense = X.toarray()
    np.testing.assert_array_equal(est.predict(X), est.predict(dense))
    np.testing.assert_allclose(est.transform(X), est.transform(dense), atol=1e-9)
    assert est.score(X, sample_weight=w) == pytest.approx(est.score(dense, sample_weight=w))
    np.testing.assert_array_equal(est.fit_predict(X), est.labels_)


def test_the_callers_sparse_matrix_is_not_modified():
    X, _ = sparse_blobs(200, 10, 3)
    X = sp.coo_array(X)
    before = (X.data.copy(), X.coords[0].copy(), X.coords[1].copy(), X.format)
    KMeans(3, random_state=0).fit(X).predict(X)
    np.testing.assert_array_equal(X.data, before[0])
    np.testing.assert_array_equal(X.coords[0], before[1])
    assert X.format == before[3]


def test_duplicate_entries_are_summed_not_counted_twice():
    X = sp.csr_array((np.array([1.0, 2.0, 3.0]), np.array([0, 0, 1]), np.array([0, 2, 3])), (2, 2))
    assert not X.has_canonical_format
    est = KMeans(2, init=np.array([[3.0, 0.0], [0.0, 3.0]])).fit(X)
    assert est.inertia_ == pytest.approx(0.0)
    np.testing.assert_allclose(est.cluster_centers_, [[3.0, 0.0], [0.0, 3.0]])


def test_empty_clusters_are_relocated_to_the_farthest_rows():
    X = sp.csr_array(np.array([[0.0, 0], [0, 0.1], [10, 0], [10, 0.1], [5, 5]]))
    init = np.array([[0.0, 0.05], [10, 0.05], [100, 100]])  # the third attracts nothing
    est = KMeans(3, init=init).fit(X)
    np.testing.assert_allclose(sorted(est.cluster_centers_[:, 0]), [0.0, 5.0, 10.0], atol=1e-12)
    assert len(np.unique(est.labels_)) == 3


def test_nan_in_sparse_data_is_refused():
    X, _ = sparse_blobs(50, 5, 2)
    X.data[0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        KMeans(2).fit(X)


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_torch_sparse_tensors_are_refused_naming_what_is_supported():
    torch = pytest.importorskip("torch")
    X = torch.eye(4, dtype=torch.float64).to_sparse_csr()
    with pytest.raises(TypeError, match=r"SciPy sparse matrices and arrays \(CSR"):
        KMeans(2).fit(X)
    with pytest.raises(TypeError, match="torch"):
        kmeans_plusplus(X, 2)


def test_verbose_on_sparse_prints_scikit_learns_lines(capsys):
    X, _ = sparse_blobs(200, 10, 3)
    KMeans(3, init="random", n_init=1, random_state=0, verbose=1, tol=0).fit(X)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Initialization complete"
    assert out[1].startswith("Iteration 1, inertia ")
    assert out[-1].startswith("Converged at iteration") and "strict convergence" in out[-1]


def test_a_sparse_fit_allocates_nothing_of_n_by_d(monkeypatch):
    """20k x 10k at 0.1% density: a dense copy would take 1.6 GB; the fit's peak is the
    stored values' few copies, chunk-sized products and k x d sums, once per thread (in 100
    chunks here: sums kept per chunk would take 100 x 1.3 MB)."""
    n, d, k = 20_000, 10_000, 16
    rng = np.random.default_rng(0)
    X = sp.random_array((n, d), density=0.001, format="csr", rng=rng)
    monkeypatch.setattr(_sparse, "CHUNK_VALUES", X.nnz // 100)
    tracemalloc.start()
    try:
        est = KMeans(k, n_init=1, max_iter=5, random_state=0).fit(X)
        est.transform(X[:100])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    assert peak < n * d * 8 / 20


def test_chunks_are_cut_on_stored_values_and_on_rows(monkeypatch):
    rows = np.repeat([1, 100], [5000, 50])  # many short rows, then a few long ones
    indptr = np.concatenate([[0], np.cumsum(rows)])
    X = sp.csr_array((np.ones(indptr[-1]), np.zeros(indptr[-1], int), indptr), (len(rows), 3))
    monkeypatch.setattr(_sparse, "CHUNK_VALUES", 1000)
    monkeypatch.setattr(_sparse, "CHUNK_SCORES", 64 * 300)
    chunks = _sparse.row_chunks(X, 64)
    assert chunks[0][0] == 0 and chunks[-1][1] == len(rows)
    assert all(a == b_prev for (a, _), (_, b_prev) in zip(chunks[1:], chunks[:-1]))
    assert max(b - a for a, b in chunks) <= 300
    assert max(indptr[b] - indptr[a] for a, b in chunks) <= 1100


def test_chunks_bound_the_n_by_k_scores(monkeypatch):
    """The rows are taken in chunks of about CHUNK_VALUES stored values: with a small budget
    a fit runs in many chunks and gives the results of one chunk."""
    X, _ = sparse_blobs(400, 30, 5, seed=8)
    whole = KMeans(5, random_state=1).fit(X)
    monkeypatch.setattr(_sparse, "CHUNK_VALUES", 97)
    assert len(_sparse.row_chunks(X)) > 20
    chunked = KMeans(5, random_state=1).fit(X)
    np.testing.assert_array_equal(chunked.labels_, whole.labels_)
    np.testing.assert_allclose(chunked.cluster_centers_, whole.cluster_centers_, atol=1e-12)


def test_transform_gives_a_row_on_its_centre_distance_zero():
    """Far from the origin the expanded form ||x||^2 - 2 x.c + ||c||^2 cancels; the nearest
    centre's distance is taken from the stored values instead."""
    rows = np.array([[1e4, 1.0, 0.0], [0.0, 1e4, 3.0], [5.0, 0.0, 1e4]])
    X = sp.csr_array(np.repeat(rows, 4, axis=0))
    est = KMeans(3, init=rows).fit(X)
    distances = est.transform(X)
    np.testing.assert_array_equal(distances[np.arange(12), est.labels_], 0.0)
    assert est.inertia_ == 0.0


def test_jax_sparse_arrays_are_refused_naming_what_is_supported():
    jsparse = pytest.importorskip("jax.experimental.sparse")
    X = jsparse.BCOO.fromdense(np.eye(4))
    with pytest.raises(TypeError, match=r"accepts SciPy sparse matrices and arrays"):
        KMeans(2).fit(X)


def test_the_tolerance_scale_is_the_variance_even_far_from_the_origin():
    rng = np.random.default_rng(3)
    dense = 1e6 + rng.standard_normal((200, 4))
    w = rng.uniform(0.5, 2.0, 200)
    mean, variance = _sparse.weighted_mean_variance(sp.csr_array(dense), w)
    expected_mean = w @ dense / w.sum()
    expected = w @ np.sum((dense - expected_mean) ** 2, axis=1) / w.sum()
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-15)
    assert variance == pytest.approx(expected, rel=1e-12)
    X, _ = sparse_blobs(300, 20, 4, seed=5)  # columns stored by some rows only
    dense = X.toarray()
    w = rng.uniform(0.5, 2.0, 300)
    _, variance = _sparse.weighted_mean_variance(X, w)
    expected_mean = w @ dense / w.sum()
    expected = w @ np.sum((dense - expected_mean) ** 2, axis=1) / w.sum()
    assert variance == pytest.approx(expected, rel=1e-12)
