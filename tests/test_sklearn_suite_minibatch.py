"""scikit-learn's own MiniBatchKMeans tests, run against ``kmeans_xp.MiniBatchKMeans``.

The test file shipped in the installed scikit-learn (sklearn/cluster/tests/test_k_means.py) is
loaded as a fresh module while ``sklearn.cluster.MiniBatchKMeans`` is swapped for ours, so that
its imports and its parametrisations take our class; the swap is undone at once. Only the tests
of MiniBatchKMeans are collected here: a test whose name says "minibatch", or a test
parametrised over estimators, with the scikit-learn ``KMeans`` cases removed (those are
scikit-learn's KMeans, run by the test module of the KMeans suite). ``DESELECTED`` names the
tests left out and why.
"""

from __future__ import annotations

import importlib.util
import types
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

pytest.importorskip("sklearn")

import sklearn
import sklearn.cluster

from kmeans_xp import MiniBatchKMeans

SUITE_PATH = Path(sklearn.__file__).parent / "cluster" / "tests" / "test_k_means.py"

DESELECTED = {
    "test_minibatch_update_consistency": (
        "calls scikit-learn's private _mini_batch_step and _labels_inertia directly (no "
        "estimator); tests/test_minibatch.py checks our step against scikit-learn's partial_fit"
    ),
    "test_minibatch_reassign": (
        "calls scikit-learn's private _mini_batch_step and _labels_inertia directly (no "
        "estimator); tests/test_minibatch.py checks our reassignment against its selection"
    ),
}


def _load_suite() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("_sklearn_test_k_means_minibatch", SUITE_PATH)
    module = importlib.util.module_from_spec(spec)
    with mock.patch.object(sklearn.cluster, "MiniBatchKMeans", MiniBatchKMeans):
        spec.loader.exec_module(module)
    assert module.MiniBatchKMeans is MiniBatchKMeans
    return module


def _flat(value) -> list:
    """The values of one parameter set (a ``pytest.param`` or a plain value or tuple)."""
    values = value.values if type(value).__name__ == "ParameterSet" else (value,)
    flat = []
    for v in values:
        flat.extend(v if isinstance(v, tuple) else (v,))
    return flat


def _has_sklearn_kmeans(value, kmeans) -> bool:
    return any(v is kmeans for v in _flat(value))


def _has_ours(value) -> bool:
    return any(v is MiniBatchKMeans for v in _flat(value))


def _minibatch_only(function, kmeans):
    """``function`` with the scikit-learn KMeans cases removed from its parametrisations, and
    whether it still tests MiniBatchKMeans (None when it does not)."""
    marks, involves_ours = [], "minibatch" in function.__name__
    for mark in getattr(function, "pytestmark", []):
        if mark.name != "parametrize":
            marks.append(mark)
            continue
        argnames, argvalues = mark.args[0], list(mark.args[1])
        ids = mark.kwargs.get("ids")
        kept = [i for i, v in enumerate(argvalues) if not _has_sklearn_kmeans(v, kmeans)]
        if len(kept) < len(argvalues):
            if not kept:
                return None
            involves_ours = involves_ours or any(_has_ours(argvalues[i]) for i in kept)
        kwargs = dict(mark.kwargs)
        if isinstance(ids, (list, tuple)):
            kwargs["ids"] = [ids[i] for i in kept]
        marks.append(pytest.mark.parametrize(argnames, [argvalues[i] for i in kept], **kwargs))
    if not involves_ours:
        return None
    copy = types.FunctionType(
        function.__code__,
        function.__globals__,
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    copy.__dict__.update({k: v for k, v in function.__dict__.items() if k != "pytestmark"})
    copy.pytestmark = [m.mark if hasattr(m, "mark") else m for m in marks]
    return copy


_suite = _load_suite()
_sklearn_kmeans = sklearn.cluster.KMeans
SELECTED: list[str] = []
for _name, _function in sorted(vars(_suite).items()):
    if not (_name.startswith("test_") and callable(_function)):
        continue
    _selected = _minibatch_only(_function, _sklearn_kmeans)
    if _selected is None or _name in DESELECTED:
        continue
    globals()[_name] = _selected
    SELECTED.append(_name)


# scikit-learn's conftest parametrises these; its default seed and dtype, plus float32
@pytest.fixture(params=[42])
def global_random_seed(request):
    return request.param


@pytest.fixture(params=[np.float64, np.float32], ids=["float64", "float32"])
def global_dtype(request):
    return request.param


def test_every_minibatch_test_of_the_suite_is_run_or_deselected_with_a_reason():
    suite = vars(_suite)
    for name in DESELECTED:
        assert name in suite, f"{name} is no longer in scikit-learn's suite"
        assert name not in SELECTED
    minibatch_named = {n for n in suite if n.startswith("test_") and "minibatch" in n}
    assert minibatch_named <= set(SELECTED) | set(DESELECTED)
    assert len(SELECTED) >= 20
