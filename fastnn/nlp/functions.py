"""The book's ``common/functions.py``: sigmoid, relu, softmax, cross_entropy_error.

Plain NumPy, the book's formulas. sigmoid, relu and cross_entropy_error
are the first book's, written once in :mod:`fastnn.reference.functions`;
softmax is the sequel's own (rows of a 2-D array, or a whole 1-D one, and
anything else returned as it is), and NumpyOps.softmax_forward calls it.
"""
from ..reference.functions import cross_entropy_error, relu, sigmoid  # noqa: F401  (the same formulas)
from .np import GPU, np  # noqa: F401  (the book star-imports both from common.np)

__all__ = ["np", "GPU", "sigmoid", "relu", "softmax", "cross_entropy_error"]


def softmax(x):
    if x.ndim == 2:
        shifted = x - x.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        e /= e.sum(axis=1, keepdims=True)
        return e
    if x.ndim == 1:
        shifted = x - np.max(x)
        return np.exp(shifted) / np.sum(np.exp(shifted))
    return x
