"""Parsed data sets kept for later calls: in memory, and as an ``.npz`` on disk.

Both are keyed by the source files' names, sizes and modification times, so
a changed file is read again.  The disk cache sits next to the downloaded
files (the first writable data directory, never a system one); a damaged or
stale cache is ignored and rewritten, and failing to write it costs nothing
but the cache.
"""

import json
import os
import threading

import numpy as np

from .._fileio import atomic_write, read_npz
from .locate import FILES, IMAGE_SHAPE, MAX_IMAGES, N_CLASSES, first_writable_dir

__all__ = ["source_key", "memo_get", "memo_put", "cache_path", "read_cache", "write_cache"]

_CACHE_VERSION = 1
_CACHE_NAMES = ("x_train", "t_train", "x_test", "t_test")

_lock = threading.Lock()
_memo = {}  # data set name -> (memo key, tuple of 4 read-only uint8 arrays)


def source_key(files):
    """Names, sizes and mtimes of the files: changes when a file does."""
    key = []
    for base in sorted(files):
        st = os.stat(files[base])
        key.append([os.path.basename(files[base]), st.st_size, st.st_mtime_ns])
    return json.dumps({"version": _CACHE_VERSION, "files": key})


def _memo_key(files):
    return (tuple(os.path.realpath(files[b]) for b in FILES), source_key(files))


def memo_get(name, files):
    """The arrays of ``name`` parsed from ``files`` earlier in this process, or None."""
    with _lock:
        hit = _memo.get(name)
    return hit[1] if hit is not None and hit[0] == _memo_key(files) else None


def memo_put(name, files, raw):
    with _lock:
        _memo[name] = (_memo_key(files), raw)


def cache_path(name, data_dir):
    """Where the ``.npz`` cache of ``name`` goes, or None when nowhere is writable."""
    directory = first_writable_dir(name, data_dir)
    return None if directory is None else os.path.join(directory, name + "-cache.npz")


def read_cache(path, key):
    """Arrays from the cache if it exists, is sound and matches ``key``."""
    if not os.path.isfile(path):
        return None
    try:
        npz = read_npz(path)
        if str(npz["key"][()]) != key:
            return None
        raw = tuple(npz[n] for n in _CACHE_NAMES)
    except Exception:  # damaged cache: ignore it, it gets rewritten
        return None
    x_train, t_train, x_test, t_test = raw
    sound = (all(a.dtype == np.uint8 for a in raw)
             and x_train.ndim == 3 and x_train.shape[1:] == IMAGE_SHAPE
             and x_test.ndim == 3 and x_test.shape[1:] == IMAGE_SHAPE
             and t_train.shape == (len(x_train),) and t_test.shape == (len(x_test),)
             and len(x_train) <= MAX_IMAGES["train"] and len(x_test) <= MAX_IMAGES["t10k"]
             and all(t.size == 0 or t.max() < N_CLASSES for t in (t_train, t_test)))
    if not sound:
        return None
    for a in raw:
        a.flags.writeable = False
    return raw


def write_cache(path, key, raw):
    """Write the cache atomically; a failure only costs the cache."""
    try:
        with atomic_write(path) as fh:
            np.savez(fh, key=np.array(key), **dict(zip(_CACHE_NAMES, raw)))
    except Exception:  # the cache is an optimisation only
        pass
