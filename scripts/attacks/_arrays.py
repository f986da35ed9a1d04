"""Hostile versions of an array, of a mask, of labels, of a scalar, of a thread count.

Each mutation is ``f(a, tmp) -> value``: deterministic in ``a`` (so the fast
and the reference side of a case get equal inputs, each its own copy), and
``tmp`` is a directory for the memory-mapped one.
"""
import os

import numpy as np


def _poke(a, values):
    b = np.array(a, copy=True)
    flat = b.reshape(-1)
    for i, v in enumerate(values):
        flat[(i * 7 + 3) % max(flat.size, 1)::max(len(values) * 7, 1)] = v
    return b


def readonly(a):
    """A read-only copy of ``a``."""
    b = np.array(a, copy=True)
    b.flags.writeable = False
    return b


def unaligned(a):
    """A copy of ``a`` whose data starts one byte past an aligned address."""
    raw = np.zeros(a.nbytes + a.itemsize + 1, np.uint8)
    b = raw[1:1 + a.nbytes].view(a.dtype).reshape(a.shape)
    b[...] = a
    return b


def negative_strides(a):
    """Equal to ``a``, read backwards in memory along the first axis."""
    return np.flip(np.flip(a, 0).copy(), 0) if a.ndim else a


def strided(a):
    """Equal to ``a``, every other element of a buffer twice as wide."""
    wide = np.repeat(a, 2, axis=-1) if a.ndim else a
    return wide[..., ::2] if a.ndim else a


def _memmap(a, tmp):
    path = os.path.join(tmp, "mm-%d.bin" % len(os.listdir(tmp)))
    m = np.memmap(path, dtype=a.dtype, mode="w+", shape=a.shape)
    m[...] = a
    return m


def _with_values(a, values):
    return _poke(a, values) if a.dtype.kind in "fc" else a


FLOAT = {
    "float16": lambda a, tmp: a.astype(np.float16),
    "float32": lambda a, tmp: a.astype(np.float32),
    "float64": lambda a, tmp: a.astype(np.float64),
    "longdouble": lambda a, tmp: a.astype(np.longdouble),
    "int64": lambda a, tmp: np.rint(a * 3).astype(np.int64),
    "uint8": lambda a, tmp: np.abs(np.rint(a * 3)).astype(np.uint8),
    "bool": lambda a, tmp: a > 0,
    "complex": lambda a, tmp: a.astype(np.complex128),
    "object": lambda a, tmp: a.astype(object),
    "str": lambda a, tmp: a.astype("U8"),
    "byteswapped": lambda a, tmp: a.astype(a.dtype.newbyteorder()),
    "strided": lambda a, tmp: strided(a),
    "fortran": lambda a, tmp: np.asfortranarray(a),
    "negative-strides": lambda a, tmp: negative_strides(a),
    "zero-stride": lambda a, tmp: np.broadcast_to(a[:1], a.shape) if a.ndim else a,
    "readonly": lambda a, tmp: readonly(a),
    "unaligned": lambda a, tmp: unaligned(a),
    "nan": lambda a, tmp: _with_values(a, [np.nan]),
    "inf": lambda a, tmp: _with_values(a, [np.inf, -np.inf]),
    "huge": lambda a, tmp: a * (np.finfo(a.dtype).max / 4 if a.dtype.kind == "f" else 1),
    "denormal": lambda a, tmp: a * (np.finfo(a.dtype).smallest_normal / 8
                                    if a.dtype.kind == "f" else 1),
    "negative-zero": lambda a, tmp: np.where(a < 0, -0.0, 0.0).astype(a.dtype),
    "empty": lambda a, tmp: a[:0],
    "one-row": lambda a, tmp: a[:1],
    "rank-changed": lambda a, tmp: a.reshape(-1)[:a.shape[-1]] if a.ndim > 1 else a[:, None],
    "rank+1": lambda a, tmp: a[None],
    "rank-0": lambda a, tmp: np.asarray(a.reshape(-1)[0]) if a.size else np.asarray(0.0),
    "list": lambda a, tmp: a.tolist(),
    "none": lambda a, tmp: None,
    "matrix": lambda a, tmp: np.asmatrix(a) if a.ndim == 2 else np.asmatrix(a.reshape(1, -1)),
    "masked": lambda a, tmp: np.ma.masked_array(a, mask=a < 0),
    "memmap": _memmap,
    "shape-minus-1": lambda a, tmp: a[..., :-1] if a.ndim else a,
    "transposed": lambda a, tmp: a.T,
}

# The mutations of --quick (a spread over dtypes, layouts and values).
QUICK = ("float16", "int64", "object", "byteswapped", "strided", "zero-stride", "unaligned",
         "nan", "empty", "rank+1", "matrix")

# The bool masks of relu_backward / dropout_backward.
MASK = {
    "bytes-2-to-255": lambda m, tmp: (m.astype(np.uint8) * np.uint8(7)).view(np.bool_),
    "int8": lambda m, tmp: m.astype(np.int8),
    "float": lambda m, tmp: m.astype(np.float64),
    "strided": lambda m, tmp: strided(m),
    "fortran": lambda m, tmp: np.asfortranarray(m),
    "row": lambda m, tmp: m[0],
    "shape-minus-1": lambda m, tmp: m[..., :-1],
    "none": lambda m, tmp: None,
    "list": lambda m, tmp: m.tolist(),
    "all-true-zero-stride": lambda m, tmp: np.broadcast_to(np.True_, m.shape),
}

# Class labels (N,) of 10 classes.
LABELS = {
    "negative": lambda t, tmp: _set_first(t, -1),
    "too-large": lambda t, tmp: _set_first(t, 10),
    "int-max": lambda t, tmp: _set_first(t.astype(np.int64), np.iinfo(np.int64).max),
    "uint64-huge": lambda t, tmp: _set_first(t.astype(np.uint64), 2 ** 63 + 5),
    "int8": lambda t, tmp: t.astype(np.int8),
    "uint8": lambda t, tmp: t.astype(np.uint8),
    "byteswapped": lambda t, tmp: t.astype(t.dtype.newbyteorder()),
    "float": lambda t, tmp: t.astype(np.float64),
    "float-fraction": lambda t, tmp: t + 0.5,
    "bool": lambda t, tmp: t > 4,
    "strided": lambda t, tmp: strided(t),
    "short": lambda t, tmp: t[:-1],
    "long": lambda t, tmp: np.concatenate([t, t[:1]]),
    "2-d-column": lambda t, tmp: t[:, None],
    "one-hot": lambda t, tmp: np.eye(10)[t],
    "one-hot-float32": lambda t, tmp: np.eye(10, dtype=np.float32)[t],
    "one-hot-int": lambda t, tmp: np.eye(10, dtype=np.int64)[t],
    "one-hot-soft": lambda t, tmp: np.full((t.size, 10), 0.3),
    "one-hot-nan": lambda t, tmp: _poke(np.eye(10)[t], [np.nan]),
    "one-hot-wrong-width": lambda t, tmp: np.eye(11)[t],
    "one-hot-transposed": lambda t, tmp: np.eye(10)[t].T,
    "list": lambda t, tmp: t.tolist(),
    "none": lambda t, tmp: None,
    "object": lambda t, tmp: t.astype(object),
    "empty": lambda t, tmp: t[:0],
}


def _set_first(t, value):
    t = np.array(t, copy=True)
    t[0] = value
    return t


# Hyperparameters given as a float.
SCALAR = {
    "nan": float("nan"), "inf": float("inf"), "-inf": float("-inf"), "negative": -1.0,
    "zero": 0.0, "huge": 1e308, "int-too-big-for-double": 10 ** 400, "string": "0.1",
    "none": None, "numpy-float32": np.float32(0.1), "numpy-float64": np.float64(0.1),
    "0-d-array": np.array(0.1), "2-array": np.array([0.1, 0.2]), "bool": True,
    "complex": 0.1 + 1j, "one": 1.0, "above-one": 1.5,
}

# num_threads= / set_num_threads values.
THREADS = {
    "0": 0, "-1": -1, "2**31": 2 ** 31, "2**63": 2 ** 63, "1e9": 1e9, "string-2": "2",
    "bool": True, "float-2.0": 2.0, "10**100": 10 ** 100, "numpy-int64-1": np.int64(1),
    "numpy-uint64-huge": np.uint64(2 ** 64 - 1), "none": None, "list": [2],
}
