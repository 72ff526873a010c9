"""Minimal stand-ins for scikit-learn's base classes, used only when it is not installed.

They give ``KMeans`` the parameter protocol (``get_params``/``set_params``) and the exception
types a scikit-learn user catches; with scikit-learn installed its own classes are used.
"""

from __future__ import annotations

import inspect
from typing import Any


class ConvergenceWarning(UserWarning):
    """Same meaning as ``sklearn.exceptions.ConvergenceWarning``."""


class NotFittedError(ValueError, AttributeError):
    """Same meaning as ``sklearn.exceptions.NotFittedError``."""


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

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


class ClusterMixin:
    pass


class TransformerMixin:
    pass
