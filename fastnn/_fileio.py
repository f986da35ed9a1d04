"""Atomic file writes: a crash or an error never leaves a half-written file.

Data goes to a temporary file in the destination's directory, is flushed
and fsync'ed, optionally verified, and only then renamed over the
destination (``os.replace`` is atomic on POSIX and Windows).  On any error
the temporary file is removed and the destination is left as it was.
"""
import contextlib
import os
import tempfile


def _default_mode():
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_write(path, mode="wb", verify=None):
    """Open a temporary file for writing; on success it replaces ``path``.

    ``verify(tmp_path)``, if given, runs after the data is on disk and before
    the rename; raising from it aborts the write.  The file gets the usual
    permissions (0666 minus the umask), not ``mkstemp``'s 0600.

    >>> with atomic_write("out.json", "w") as fh:   # doctest: +SKIP
    ...     json.dump(obj, fh)
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".",
                               suffix=".part")
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if verify is not None:
            verify(tmp)
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def jsonable(obj):
    """``obj`` with NumPy scalars and arrays turned into Python ones, dict keys
    into strings, and non-finite floats into None / "inf" / "-inf" (JSON has
    no NaN or infinity), ready for ``json.dump``."""
    import math
    import numpy as np
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj
