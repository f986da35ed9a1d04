"""Atomic file writes: a crash or an error never leaves a half-written file.

Data goes to a temporary file in the destination's directory, is flushed
and fsync'ed, and only then renamed over the destination (``os.replace`` is
atomic on POSIX and Windows).  On any error the temporary file is removed.
"""
import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file for writing; on success it replaces ``path``.

    >>> with atomic_write("out.json", "w") as fh:   # doctest: +SKIP
    ...     json.dump(obj, fh)
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
