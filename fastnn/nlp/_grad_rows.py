"""Gradient arrays known to be zero outside a set of rows.

The book's Embedding backward is ``dW[...] = 0; np.add.at(dW, idx, dout)``:
a (V, H) array zeroed whole every step, though a batch reaches a few
hundred of its rows.  The book's CBOW has 16 such layers (V = 10,000,
H = 100: 64 MB zeroed a step) and ``remove_duplicate`` then adds the
arrays of a shared weight up, whole (another 72 MB read).  fastnn keeps
the same arrays with the same values, and records, for each gradient array
an Embedding (or EmbeddingDot) wrote, the rows it may be nonzero in.  The
next backward zeroes those rows only, and ``remove_duplicate`` adds up only
the rows some array of the tie reaches.

What makes the record safe: the array is made read-only when its rows are
recorded (``a.flags.writeable = False``), and a record is only believed
while the array is still read-only.  Code that writes into such a gradient
(the book's own ``grads[i] += ...`` or ``grad *= rate`` on a fastnn model)
gets NumPy's "read-only" ValueError instead of a silently stale record; to
change one in place, set ``a.flags.writeable = True`` first: the record is
then ignored, and the next backward zeroes the whole array as the book
does.  fastnn's own ``remove_duplicate`` and ``clip_grads`` keep the
records up to date.

A record is keyed by the array's identity (a weak reference checks that
the id still names the same array).
"""
import weakref

import numpy as np

__all__ = ["rows_of", "unlock", "track", "track_owned", "written", "forget", "release", "unlocked",
           "born_zero", "relock"]

# id(array) -> (weak reference to the array, int64 rows holding all its nonzeros)
_ROWS = {}


def _dropped(key, ref):
    entry = _ROWS.get(key)
    if entry is not None and entry[0] is ref:
        del _ROWS[key]


def rows_of(a):
    """The int64 rows outside which ``a`` is known to be zero (they may
    repeat), or None when nothing is known."""
    entry = _ROWS.get(id(a))
    if entry is None or entry[0]() is not a or a.flags.writeable:
        return None
    return entry[1]


def unlock(a):
    """``rows_of(a)``, and when it is known, ``a`` made writeable for the
    caller to write it (and then ``track`` or ``forget`` it)."""
    rows = rows_of(a)
    if rows is not None:
        a.flags.writeable = True
    return rows


def track(a, rows):
    """Record that ``a`` is zero outside ``rows`` (any integer ids, negative
    ones counted from the end as NumPy indexes) and make it read-only."""
    rows = np.array(rows, dtype=np.int64).reshape(-1)     # a copy: the caller's may change
    if rows.size and rows.min() < 0:
        rows %= a.shape[0]
    track_owned(a, rows)


def track_owned(a, rows):
    """``track`` of rows the caller made for it: a 1-D int64 array of ids
    in [0, len(a)) that nothing will change."""
    key = id(a)
    entry = _ROWS.get(key)
    if entry is not None and entry[0]() is a:
        ref = entry[0]
    else:
        ref = weakref.ref(a, lambda r, key=key: _dropped(key, r))
    _ROWS[key] = (ref, rows)
    a.flags.writeable = False


def written(arrays, rows, write):
    """``write(stale)`` for gradients ``arrays`` written together: ``stale``
    their records (None where nothing is known: zeroed whole), the arrays
    made writeable for it; then each recorded on its ``rows`` (rows[i] for
    arrays[i]: int64 ids in range that nothing will change), or all
    forgotten if ``write`` raises.  Returns what ``write`` returns."""
    stale = [unlock(a) for a in arrays]
    try:
        out = write(stale)
    except BaseException:
        for a in arrays:
            forget(a)
        raise
    for a, r in zip(arrays, rows):
        track_owned(a, r)
    return out


def forget(a):
    """Drop the record of ``a`` and make it writeable again if it was ours
    (the next backward then zeroes it whole)."""
    entry = _ROWS.pop(id(a), None)
    if entry is not None and entry[0]() is a:
        a.flags.writeable = True


def release(arrays):
    """Forget the records of those of ``arrays`` that have one, leaving them
    writeable (their next backward zeroes them whole).  For pickling: NumPy
    stores a read-only array as immutable bytes (protocol 5, and
    ``pickle.dump(obj, f, -1)``), which an unpickled model could then never
    write its gradients into."""
    for a in arrays:
        forget(a)


def born_zero(a):
    """Record a new all-zero gradient array (no rows) when it is a 2-D
    ndarray: read-only from its birth, so that no writeable view of it can
    be made before its first backward (a write through a view made while
    it was writeable would not be seen by the record)."""
    if type(a) is np.ndarray and a.ndim == 2:
        track_owned(a, np.empty(0, dtype=np.int64))


def relock(a):
    """Record a gradient array of unknown contents (an unpickled or copied
    one: pickling released it) on the rows holding any nonzero bit (-0.0
    and NaN included), when it is a writeable 2-D ndarray with no record:
    read-only again before any view of it can be made."""
    if (type(a) is np.ndarray and a.ndim == 2 and a.flags.writeable
            and a.dtype.kind == "f" and rows_of(a) is None):
        nonzero = (a != 0).any(axis=1) | np.signbit(a).any(axis=1)
        track_owned(a, np.flatnonzero(nonzero).astype(np.int64))


class ReleasedOnPickle:
    """A mixin: pickling (or copying) the object first releases the
    recorded arrays of its ``grads`` (see :func:`release`)."""

    def __getstate__(self):
        state = self.__dict__
        release(state.get("grads", ()))
        return state


class unlocked:
    """``with unlocked(arrays):`` the recorded arrays among ``arrays``
    writeable inside, their records kept (for writes that keep their zero
    rows +0.0, such as scaling by a rate >= +0.0); a record is dropped if
    the block raises, or on leaving it when ``keep`` is false."""

    def __init__(self, arrays, keep=True):
        self.arrays = list(arrays)
        self.keep = keep

    def __enter__(self):
        self.recorded = []
        for a in self.arrays:
            rows = unlock(a)
            if rows is not None:
                self.recorded.append((a, rows))
        return self

    def __exit__(self, exc_type, exc, tb):
        for a, rows in self.recorded:
            if exc_type is None and self.keep:
                track_owned(a, rows)
            else:
                forget(a)
        return False
