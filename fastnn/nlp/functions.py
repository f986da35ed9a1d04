"""The book's ``common/functions.py``: sigmoid, relu, softmax, cross_entropy_error.

Plain NumPy, the book's formulas (softmax normalises rows of a 2-D array,
or a whole 1-D one; the cross-entropy takes labels or one-hot targets and
averages ``-log(y + 1e-7)`` over the batch).
"""
from .np import GPU, np  # noqa: F401  (the book star-imports both from common.np)

__all__ = ["np", "GPU", "sigmoid", "relu", "softmax", "cross_entropy_error"]


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def relu(x):
    return np.maximum(0, x)


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


def cross_entropy_error(y, t):
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:            # one-hot targets: their labels
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    picked = y[np.arange(batch_size), t]
    return -np.sum(np.log(picked + 1e-7)) / batch_size
