"""Reading the book's pickles without running code.

The sequel keeps model parameters (``BaseModel.save_params``: a list of
float16 arrays) and the PTB vocabulary (``(word_to_id, id_to_word)``) as
pickles.  A pickle can call any function it names; this reader resolves
only the names NumPy's own array pickles use (to fixed objects of this
module: nothing is imported by a name read from the file), and builds
plain containers (lists, tuples, dicts, str, numbers) natively.  An array
may not announce more elements than the file could hold, and object
arrays are refused.

Every failure is an :class:`UnsafePickleError` (a ValueError) naming the file.
"""
import io
import os
import pickle

import numpy as np

from .._fileio import open_regular

__all__ = ["UnsafePickleError", "load", "loads"]


class UnsafePickleError(ValueError):
    """A file is not a pickle of arrays and plain containers."""


def _reconstruct_limited(limit):
    def _reconstruct(subtype, shape, dtype):
        # ndarray.__reduce__'s first step: an empty array later filled by
        # __setstate__ (which checks the data's length against the shape).
        if subtype is not np.ndarray:
            raise UnsafePickleError("an array of subclass %r" % (subtype,))
        dt = np.dtype(dtype)
        if dt.hasobject:
            raise UnsafePickleError("an array of Python objects")
        try:
            count = int(np.prod(np.asarray(shape, dtype=np.int64)))
        except (TypeError, ValueError, OverflowError):
            raise UnsafePickleError("an array of shape %r" % (shape,)) from None
        if count < 0 or count * max(dt.itemsize, 1) > limit:
            raise UnsafePickleError("an array of shape %r, larger than the file" % (shape,))
        return np.ndarray.__new__(np.ndarray, shape, dt)
    return _reconstruct


def _frombuffer(buf, dtype, shape, order):
    dt = np.dtype(dtype)
    if dt.hasobject:
        raise UnsafePickleError("an array of Python objects")
    return np.frombuffer(buf, dtype=dt).reshape(shape, order=order)


def _dtype(obj, align=False, copy=False):
    dt = np.dtype(obj, align, copy)
    if dt.hasobject:
        raise UnsafePickleError("an array of Python objects")
    return dt


def _scalar(dtype, data=None):
    if np.dtype(dtype).hasobject:
        raise UnsafePickleError("a Python object scalar")
    return np._core.multiarray.scalar(dtype, data) if hasattr(np, "_core") else \
        np.core.multiarray.scalar(dtype, data)


def _encode(text, encoding="utf-8"):
    # Protocol 2 writes bytes as _codecs.encode(str, 'latin1').
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError("a call of _codecs.encode on %s" % type(text).__name__)
    return text.encode("latin1")


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, limit):
        super().__init__(file)
        reconstruct = _reconstruct_limited(limit)
        self._allowed = {}
        for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            self._allowed[(module, "_reconstruct")] = reconstruct
            self._allowed[(module, "scalar")] = _scalar
        for module in ("numpy.core.numeric", "numpy._core.numeric"):
            self._allowed[(module, "_frombuffer")] = _frombuffer
        self._allowed[("numpy", "ndarray")] = np.ndarray
        self._allowed[("numpy", "dtype")] = _dtype
        self._allowed[("_codecs", "encode")] = _encode

    def find_class(self, module, name):
        try:
            return self._allowed[(module, name)]
        except (KeyError, TypeError):
            raise UnsafePickleError("it names %s.%s: only NumPy arrays, dtypes, lists, "
                                    "tuples and dicts are read" % (module, name)) from None

    def persistent_load(self, pid):
        raise UnsafePickleError("it refers to a persistent object")


def loads(data, where="<bytes>"):
    """The object pickled in ``data`` (arrays and plain containers only)."""
    try:
        return _Unpickler(io.BytesIO(data), len(data) + 4096).load()
    except UnsafePickleError as exc:
        raise UnsafePickleError("%s is not a safe pickle of arrays: %s" % (where, exc)) from None
    except RecursionError:
        raise UnsafePickleError("%s: the pickle nests too deeply" % where) from None
    except MemoryError:
        raise UnsafePickleError("%s: the pickle asks for more memory than it holds" % where) \
            from None
    except Exception as exc:     # truncated, damaged, not a pickle at all
        raise UnsafePickleError("%s is not a readable pickle (%s: %s)"
                                % (where, type(exc).__name__, exc)) from None


def load(path, max_bytes=4 << 30):
    """The object pickled in the file ``path`` (a regular file of at most
    ``max_bytes``)."""
    where = os.fspath(path)
    with open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > max_bytes:
            raise UnsafePickleError("%s: %d bytes, more than the %d read" % (where, size,
                                                                            max_bytes))
        data = fh.read(max_bytes + 1)
    return loads(data, where)
