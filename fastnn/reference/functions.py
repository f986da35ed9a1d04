"""Activation and loss functions, as in the book's ``common/functions.py``."""
import numpy as np

__all__ = ["identity_function", "step_function", "sigmoid", "sigmoid_grad",
           "relu", "relu_grad", "softmax", "sum_squared_error", "mean_squared_error",
           "cross_entropy_error", "softmax_loss"]


def identity_function(x):
    return x


def step_function(x):
    return np.array(x > 0, dtype=int)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def sigmoid_grad(x):
    s = sigmoid(x)
    return (1.0 - s) * s


def relu(x):
    return np.maximum(0, x)


def relu_grad(x):
    return (x >= 0).astype(x.dtype if np.issubdtype(np.asarray(x).dtype, np.floating)
                           else np.float64)


def softmax(x):
    """Softmax over the last axis, shifted by the row maximum so exp never overflows."""
    x = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(x)
    return e / np.sum(e, axis=-1, keepdims=True)


def sum_squared_error(y, t):
    """Half the sum of squared differences (the book's current name)."""
    return 0.5 * np.sum((y - t) ** 2)


# The Korean edition (and older printings) call it mean_squared_error.
mean_squared_error = sum_squared_error


def cross_entropy_error(y, t):
    """Mean over the batch of -log(y[true class] + 1e-7).

    ``t`` holds either class indices (N,) or one-hot rows (N, C).
    """
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:  # one-hot labels -> indices
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


def softmax_loss(X, t):
    return cross_entropy_error(softmax(X), t)
