"""Central-difference numerical gradient, as in the book's ``common/gradient.py``."""
import numpy as np

__all__ = ["numerical_gradient"]


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
