"""The Examples sections of the public API's docstrings, run as doctests.

Each public module's examples run on NumPy data; the plotting examples only where matplotlib and
Pillow are installed (the ``viz`` extra).
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util

import pytest

MODULES = ["kmeans_xp._estimator", "kmeans_xp.datasets", "kmeans_xp.metrics", "kmeans_xp.plot"]
NEEDS_VIZ = {"kmeans_xp.plot"}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    if name in NEEDS_VIZ and not all(importlib.util.find_spec(m) for m in ("matplotlib", "PIL")):
        pytest.skip("the plotting examples need matplotlib and Pillow")
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder().find(module)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_every_public_function_has_an_example():
    import kmeans_xp
    from kmeans_xp import KMeans, plot

    public = [getattr(kmeans_xp, n) for n in kmeans_xp.__all__ if not n.startswith("_")]
    public += [getattr(plot, n) for n in ("History", "animate", "plot_clusters", "plot_elbow")]
    methods = ["fit", "fit_predict", "fit_transform", "predict", "transform", "score"]
    public += [getattr(KMeans, n) for n in methods]
    for obj in public:
        if obj is kmeans_xp.IterationInfo:  # a record the callback receives, not an operation
            continue
        doc = obj.__doc__ or ""
        assert "Examples\n" in doc and ">>> " in doc, f"{obj.__name__} has no Examples section"
        if not isinstance(obj, type):
            assert "Parameters\n" in doc and "Returns\n" in doc, obj.__name__
