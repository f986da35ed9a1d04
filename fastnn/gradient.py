"""The book's ``common/gradient.py``: the central-difference numerical gradient."""
import numpy as np  # noqa: F401

from .reference.gradient import numerical_gradient

__all__ = ["np", "numerical_gradient"]
