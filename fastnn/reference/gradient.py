"""Central-difference numerical gradient, as in the book's ``common/gradient.py``."""
import numpy as np

__all__ = ["numerical_gradient", "numerical_gradient_2d"]


def numerical_gradient(f, x, h=1e-4):
    """Estimate df/dx by (f(x+h) - f(x-h)) / 2h, one element of ``x`` at a time.

    ``x`` is perturbed in place and restored, so ``f`` may ignore its argument
    and read the array through a closure (the book's networks do this).
    """
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        idx = it.multi_index
        saved = x[idx].copy()
        x[idx] = float(saved) + h
        f_plus = f(x)
        x[idx] = float(saved) - h
        f_minus = f(x)
        grad[idx] = (f_plus - f_minus) / (2 * h)
        x[idx] = saved
        it.iternext()
    return grad


def _numerical_gradient_1d(f, x, h=1e-4):
    """Central differences over a 1-D ``x``, perturbed in place and restored."""
    grad = np.zeros_like(x)
    for i in range(x.size):
        saved = x[i]
        x[i] = float(saved) + h
        f_plus = f(x)
        x[i] = saved - h
        f_minus = f(x)
        grad[i] = (f_plus - f_minus) / (2 * h)
        x[i] = saved
    return grad


def numerical_gradient_2d(f, X, h=1e-4):
    """:func:`_numerical_gradient_1d` for a vector, or for each row of a matrix,
    ``f`` being called with that row (the book's chapter-4 helper)."""
    if X.ndim == 1:
        return _numerical_gradient_1d(f, X, h)
    grad = np.zeros_like(X)
    for i, row in enumerate(X):
        grad[i] = _numerical_gradient_1d(f, row, h)
    return grad
