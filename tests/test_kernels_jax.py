"""The JAX fast path (``kmeans_xp/_kernels/jax.py``) against the portable kernels, in JAX's
64-bit mode and its default 32-bit mode: chunk boundaries of the compiled scan, ties, and the
rounding of ||c||^2 that exact ties depend on."""

from __future__ import annotations

import numpy as np
import pytest

from kmeans_xp._kernels import portable

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

from kmeans_xp._kernels import jax as jax_kernels  # noqa: E402


@pytest.fixture(params=[True, False], ids=["x64", "x32"])
def x64(request):
    with jax.enable_x64(request.param):
        yield request.param


@pytest.mark.parametrize("d", [1, 2, 3, 5, 7])
def test_center_norms_round_as_numpy_sums_them(x64, d):
    # NumPy sums fewer than 8 numbers left to right, each square rounded first: the bits that
    # decide exact ties. XLA fused would compute fused multiply-adds instead.
    C = np.random.default_rng(d).normal(size=(300, d))
    C = C.astype(np.float64 if x64 else np.float32)
    got = np.asarray(jax.jit(jax_kernels._center_sq)(jnp.asarray(C)))
    np.testing.assert_array_equal(got, (C * C).sum(axis=1))


@pytest.mark.parametrize("d", [3, 40])  # a scatter-add, and a one-hot product (k <= d / 8)
@pytest.mark.parametrize("rows", [1, 7, 1024, 1500, 2048])
@pytest.mark.parametrize("budget", [1 << 20, 1000])  # one chunk, or a scan over chunks
def test_step_and_assign_match_portable(x64, rows, d, budget):
    rng = np.random.default_rng(rows)
    X = jnp.asarray(rng.normal(size=(rows, d)))
    C = jnp.asarray(rng.normal(size=(5, d)))
    w = jnp.asarray(rng.uniform(0.5, 2.0, size=rows))
    labels, sqdist = jax_kernels.assign(X, C, chunk_rows=budget)
    ref_labels, ref_sqdist = portable.assign(X, C, chunk_rows=budget)
    np.testing.assert_array_equal(np.asarray(labels), np.asarray(ref_labels))
    np.testing.assert_allclose(
        np.asarray(sqdist), np.asarray(ref_sqdist), rtol=1e-12 if x64 else 1e-5
    )
    step = jax_kernels.lloyd_step(X, C, w, chunk_rows=budget)
    ref = portable.lloyd_step(X, C, w, chunk_rows=budget)
    tol = 1e-12 if x64 else 1e-5
    np.testing.assert_array_equal(np.asarray(step.labels), np.asarray(ref.labels))
    assert step.sqdist is None  # the loop needs none; the inertia comes from the best scores
    for field in ("sums", "weights", "inertia"):
        got, want = getattr(step, field), getattr(ref, field)
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=tol, atol=tol)
    assert isinstance(step.labels, jax.Array) and isinstance(step.sums, jax.Array)


def test_ties_go_to_the_lowest_index(x64):
    # every row is exactly as far from centres 1 and 2 (and 3, a duplicate of 1)
    X = jnp.asarray(np.array([[0.0, 0.0], [0.0, 3.0], [0.0, -2.0]] * 7))
    C = jnp.asarray(np.array([[5.0, 5.0], [1.0, 0.0], [-1.0, 0.0], [1.0, 0.0]]))
    labels, sqdist = jax_kernels.assign(X, C, chunk_rows=4)
    assert np.asarray(labels).tolist() == [1] * X.shape[0]
    _, ref_sqdist = portable.assign(X, C, chunk_rows=4)
    np.testing.assert_allclose(np.asarray(sqdist), np.asarray(ref_sqdist))
