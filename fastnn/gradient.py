"""The book's ``common/gradient.py``: central-difference numerical gradients."""
import numpy as np  # noqa: F401

from .reference.gradient import (numerical_gradient, numerical_gradient_2d,  # noqa: F401
                                 _numerical_gradient_1d)

__all__ = ["np", "numerical_gradient", "numerical_gradient_2d", "_numerical_gradient_1d"]
