"""Minimal stand-ins for the parts of scikit-learn that ``KMeans`` uses, for when it is absent.

They give ``KMeans`` the parameter protocol (``get_params``/``set_params``), the exception and
warning types a scikit-learn user catches, the fitted check, the bookkeeping of
``n_features_in_`` / ``feature_names_in_`` and the generated output feature names. With
scikit-learn installed its own versions are used and this module is never imported.
"""

from __future__ import annotations

import inspect
import warnings
from types import SimpleNamespace
from typing import Any

import numpy as np


class ConvergenceWarning(UserWarning):
    """Same meaning as ``sklearn.exceptions.ConvergenceWarning``."""


class NotFittedError(ValueError, AttributeError):
    """Same meaning as ``sklearn.exceptions.NotFittedError``."""


def get_config() -> dict[str, Any]:
    """scikit-learn's global configuration as far as KMeans reads it: no array API dispatch."""
    return {"array_api_dispatch": False}


class BaseEstimator:
    @classmethod
    def _get_param_names(cls) -> list[str]:
        params = inspect.signature(cls.__init__).parameters.values()
        return sorted(p.name for p in params if p.name != "self" and p.kind != p.VAR_KEYWORD)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> BaseEstimator:
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for {type(self).__name__}; "
                    f"valid parameters are {valid}"
                )
            setattr(self, name, value)
        return self

    def __sklearn_tags__(self) -> SimpleNamespace:
        return SimpleNamespace(
            array_api_support=False,
            input_tags=SimpleNamespace(two_d_array=True, sparse=False, allow_nan=False),
        )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


class ClusterMixin:
    pass


class TransformerMixin:
    pass


class ClassNamePrefixFeaturesOutMixin:
    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output feature names: the lower-cased class name followed by the column number."""
        check_is_fitted(self, "_n_features_out")
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(self._n_features_out)], dtype=object)


def check_is_fitted(estimator: Any, attributes: str | None = None) -> None:
    """NotFittedError unless ``estimator`` has ``attributes`` (default: any ``name_``)."""
    if attributes is not None:
        fitted = hasattr(estimator, attributes)
    else:
        fitted = any(v.endswith("_") and not v.startswith("__") for v in vars(estimator))
    if not fitted:
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' with "
            "appropriate arguments before using this estimator."
        )


def _feature_names(X: Any) -> np.ndarray | None:
    """Column names of a DataFrame-like ``X`` when they are all strings, else None."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = np.asarray(list(columns), dtype=object)
    if len(names) and all(isinstance(name, str) for name in names):
        return names
    return None


def validate_data(
    estimator: Any, X: Any, *, reset: bool = True, skip_check_array: bool = True, **_: Any
) -> Any:
    """Record (``reset``) or check ``n_features_in_`` and ``feature_names_in_`` for 2-D ``X``.

    Only the bookkeeping half of scikit-learn's ``validate_data``: KMeans validates the values
    itself, so ``X`` is returned unchanged.
    """
    names = _feature_names(X)
    n_features = int(X.shape[1])
    if reset:
        estimator.n_features_in_ = n_features
        if names is not None:
            estimator.feature_names_in_ = names
        elif hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        return X
    fitted_names = getattr(estimator, "feature_names_in_", None)
    name = type(estimator).__name__
    if fitted_names is not None and names is None:
        warnings.warn(
            f"X does not have valid feature names, but {name} was fitted with feature names",
            UserWarning,
            stacklevel=4,
        )
    elif fitted_names is None and names is not None:
        warnings.warn(
            f"X has feature names, but {name} was fitted without feature names",
            UserWarning,
            stacklevel=4,
        )
    elif names is not None and list(names) != list(fitted_names):
        raise ValueError(
            "The feature names should match those that were passed during fit: "
            f"fitted with {list(fitted_names)}, got {list(names)}"
        )
    if n_features != estimator.n_features_in_:
        raise ValueError(
            f"X has {n_features} features, but {name} is expecting "
            f"{estimator.n_features_in_} features as input."
        )
    return X
