"""Atomic file writes: a crash or an error never leaves a half-written file.

Data goes to a temporary file in the destination's directory, is flushed
and fsync'ed, optionally verified, and only then renamed over the
destination (``os.replace`` is atomic on POSIX and Windows).  On any error
the temporary file is removed and the destination is left as it was.  A
writer killed outright (``kill -9``) cannot clean up: its temporary file,
``.<name>.<pid>.<random>.part``, is removed by the next write to the same
destination once process ``pid`` is gone.
"""
import contextlib
import errno
import os
import tempfile
import zipfile
import zlib


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
    _make_parent(path, directory)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "cannot write %s: it is a directory" % path)
    remove_orphans(path)
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".part",
                               prefix="." + os.path.basename(path) + ".%d." % os.getpid())
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


def _make_parent(path, directory):
    """Create ``directory``; when a part of it is a file, say which."""
    try:
        os.makedirs(directory, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        part = directory
        while part and not os.path.isfile(part) and os.path.dirname(part) != part:
            part = os.path.dirname(part)
        raise NotADirectoryError(
            errno.ENOTDIR, "cannot write %s: %s is a file, not a directory"
            % (path, part if os.path.isfile(part) else directory)) from None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:          # someone else's process: alive
        return True
    return True


def remove_orphans(path):
    """Remove temporary files that writers of ``path`` left when they were killed.

    Only files of dead processes go (and nameless ones of older versions,
    ``.<name>.<random>.part``); a write in progress elsewhere is left alone.
    """
    directory = os.path.dirname(os.path.abspath(path))
    head = "." + os.path.basename(path) + "."
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if not (name.startswith(head) and name.endswith(".part")):
            continue
        middle = name[len(head):-len(".part")]
        pid, dot, _ = middle.partition(".")
        if dot and pid.isdigit() and (int(pid) == os.getpid() or _alive(int(pid))):
            continue
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(directory, name))


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def read_npz(path):
    """Every array of the ``.npz`` at ``path`` as ``{name: array}``, without pickle.

    Only a sound archive of ``.npy`` members stored uncompressed (as
    ``np.savez`` writes them) is read, so no member inflates beyond the
    file's own size.  Anything else raises ``ValueError`` saying why, in
    words that never suggest unpickling.
    """
    import numpy as np
    with open(path, "rb") as fh:
        if fh.read(4) not in _ZIP_MAGIC:
            raise ValueError("it is not an .npz archive")
        fh.seek(0)
        arrays = {}
        try:
            with zipfile.ZipFile(fh) as archive:
                for info in archive.infolist():
                    if not info.filename.endswith(".npy") \
                            or info.compress_type != zipfile.ZIP_STORED:
                        raise ValueError("member %r is not a stored .npy array"
                                         % info.filename)
                    with archive.open(info) as member:
                        _check_npy_header(member, info)
                        arrays[info.filename[:-4]] = np.lib.format.read_array(
                            member, allow_pickle=False)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError,
                KeyError, NotImplementedError) as exc:
            text = str(exc)
            raise ValueError("an array holds Python objects" if "pickle" in text.lower()
                             else text) from None
    return arrays


def _check_npy_header(member, info):
    """Read the ``.npy`` header of archive member ``member`` and check that the
    array it announces is exactly the bytes that follow it, before anything
    is allocated (a header may claim any shape); leave ``member`` at its
    start for ``read_array``."""
    import numpy as np
    fmt = np.lib.format
    version = fmt.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = fmt.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, _, dtype = fmt.read_array_header_2_0(member)
    else:
        raise ValueError("member %r is a .npy file of version %d.%d" % ((info.filename,)
                                                                          + version))
    count = 1
    for n in shape:
        count *= n
    size = count * dtype.itemsize
    left = info.file_size - member.tell()
    # (Object arrays are pickles: read_array refuses them, and says so.)
    if not dtype.hasobject and (min(shape, default=0) < 0 or size != left):
        raise ValueError("member %r announces %s of shape %s (%d bytes) but holds %d bytes"
                         % (info.filename, dtype, shape, size, left))
    member.seek(0)


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
