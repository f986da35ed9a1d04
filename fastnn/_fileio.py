"""Atomic file writes: a crash or an error never leaves a half-written file.

Data goes to a temporary file in the destination's directory, is flushed
and fsync'ed, optionally verified, and only then renamed over the
destination (``os.replace`` is atomic on POSIX and Windows).  On any error
the temporary file is removed and the destination is left as it was.

The destination is the file the path names: a symlink is written through
(the new file replaces the link's target, in the target's directory), and
a path that names a device, FIFO, socket or directory is refused, never
replaced.  Temporary files, ``.<name>.<random>.part``, get unguessable
names created exclusively (``tempfile.mkstemp``), and a write removes only
its own: one killed outright (``kill -9``) leaves its temporary behind,
since another one of that name may be a write in progress in another
container or on another host sharing the directory.
"""
import contextlib
import errno
import os
import stat
import tempfile
import zipfile
import zlib

_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))


class NotRegularFileError(OSError):
    """A path names a device, FIFO or socket where a regular file is needed."""


def require_regular(path, mode, verb, target=None):
    """Raise unless ``mode`` (an ``st_mode``) is a regular file's: IsADirectoryError
    for a directory, :class:`NotRegularFileError` naming the kind otherwise.
    ``verb`` ('read', 'write') and ``path`` make the message; ``target`` names
    where ``path`` links to, when it is a link."""
    if stat.S_ISREG(mode):
        return
    where = path if target is None else "%s (a link to %s)" % (path, target)
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "cannot %s %s: it is a directory" % (verb, where))
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    raise NotRegularFileError("cannot %s %s: it is %s, not a regular file" % (verb, where, kind))


def write_target(path):
    """The file a write to ``path`` replaces: ``path`` itself or, for a symlink, the
    file it points to (through every link).  An existing one that is not a regular
    file is refused (see :func:`require_regular`)."""
    path = os.fspath(path)
    target = os.path.realpath(path)
    try:
        mode = os.stat(target).st_mode
    except (FileNotFoundError, NotADirectoryError):    # to be made (its parents too)
        return target
    linked = target != os.path.abspath(path)
    require_regular(path, mode, "write", target if linked else None)
    return target


def check_writable(path, folder=None):
    """Raise an OSError saying 'cannot write PATH: why' unless a file can be written
    at ``path``: an existing regular file (or a symlink to one, written through), or
    a new file in a folder that exists or can be made, where files can be created
    (tried for real: a temporary file is made and removed in the nearest existing
    folder), with names the file system takes.  ``folder``: check that folder
    only (for a path whose file name is not known yet)."""
    path = os.fspath(path)
    if folder is None:
        folder = os.path.dirname(write_target(path))
    existing = os.path.abspath(folder)
    while not os.path.lexists(existing) and os.path.dirname(existing) != existing:
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise NotADirectoryError(errno.ENOTDIR, "cannot write %s: %s is not a directory"
                                 % (path, existing))
    _check_names(path, existing, os.path.abspath(folder))
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".fastnn-check.", suffix=".part")
    except OSError as exc:
        raise type(exc)(exc.errno, "cannot write %s: no file can be created in %s (%s)"
                        % (path, existing, exc.strerror or exc)) from None
    os.close(fd)
    os.unlink(probe)


def _limit(folder, name, default):
    try:
        return os.pathconf(folder, name)
    except (AttributeError, OSError, ValueError):    # not POSIX, or no limit reported
        return default


def _check_names(path, existing, folder):
    """Raise unless the folders still to be made between ``existing`` and ``folder``
    have names, and ``folder`` a length, that the file system takes (os.makedirs
    would fail with 'File name too long' only when the data is written)."""
    name_max = _limit(existing, "PC_NAME_MAX", 255)
    path_max = _limit(existing, "PC_PATH_MAX", 4096)
    missing = os.path.relpath(folder, existing)
    for part in [] if missing == os.curdir else missing.split(os.sep):
        if len(os.fsencode(part)) > name_max:
            raise OSError(errno.ENAMETOOLONG, "cannot write %s: the folder name %s... is too "
                          "long (%d bytes; at most %d here)"
                          % (path, part[:20], len(os.fsencode(part)), name_max))
    if len(os.fsencode(folder)) >= path_max:
        raise OSError(errno.ENAMETOOLONG, "cannot write %s: the path is too long (%d bytes; "
                      "at most %d here)" % (path, len(os.fsencode(folder)), path_max - 1))


def open_regular(path):
    """``path`` opened for reading in binary, refused at once unless it is a regular
    file: the check is made on the opened file, which is opened without blocking,
    so a FIFO with no writer fails instead of waiting for one forever."""
    nonblock = getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, os.O_RDONLY | nonblock | getattr(os, "O_BINARY", 0))
    try:
        require_regular(os.fspath(path), os.fstat(fd).st_mode, "read")
        if nonblock:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _default_mode():
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_write(path, mode="wb", verify=None):
    """Open a temporary file for writing; on success it replaces ``path``.

    ``path`` may be a symlink: the file it points to is replaced (the link
    stays).  A path naming a directory, device, FIFO or socket is refused
    before anything is written.  ``verify(tmp_path)``, if given, runs after
    the data is on disk and before the rename; raising from it aborts the
    write.  The file gets the usual permissions (0666 minus the umask), not
    ``mkstemp``'s 0600.

    >>> with atomic_write("out.json", "w") as fh:   # doctest: +SKIP
    ...     json.dump(obj, fh)
    """
    path = os.fspath(path)
    target = write_target(path)
    directory = os.path.dirname(target)
    _make_parent(path, directory)
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".part",
                               prefix="." + os.path.basename(target) + ".")
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if verify is not None:
            verify(tmp)
        os.chmod(tmp, _default_mode())
        os.replace(tmp, target)
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


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def read_npz(path):
    """Every array of the ``.npz`` at ``path`` as ``{name: array}``, without pickle.

    Only a sound archive of ``.npy`` members stored uncompressed (as
    ``np.savez`` writes them) is read, so no member inflates beyond the
    file's own size.  Anything else raises ``ValueError`` saying why, in
    words that never suggest unpickling.
    """
    import numpy as np
    with open_regular(path) as fh:
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
