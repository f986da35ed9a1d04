"""Helpers from the book's ``common/util.py`` used in chapter 6."""
import numpy as np

__all__ = ["np", "shuffle_dataset", "smooth_curve"]


def shuffle_dataset(x, t):
    """Shuffle samples and labels with one permutation from the global ``np.random``."""
    order = np.random.permutation(x.shape[0])
    return x[order], t[order]


def smooth_curve(x):
    """Smooth a loss curve for plotting: an 11-tap Kaiser window (beta=2).

    The ends are reflected before the convolution (the head without its first
    point, the tail with its last, as the book does) so the output has the
    input's length.  Inputs shorter than 11 points are returned as an array
    unchanged (there is nothing to smooth over).
    """
    x = np.asarray(x, dtype=np.float64)
    window = 11
    if x.size < window:
        return x.copy()
    padded = np.concatenate([x[window - 1:0:-1], x, x[-1:-window:-1]])
    w = np.kaiser(window, 2)
    y = np.convolve(w / w.sum(), padded, mode="valid")
    half = window // 2
    return y[half:len(y) - half]
