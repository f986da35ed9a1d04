"""Where a command will write, checked before any work starts.

A command that trains for an hour and only then finds that it cannot write
its checkpoint loses the hour.  Each command calls :func:`check_file` or
:func:`check_folder` for every output it will write, first thing; a
location it cannot use is a :class:`UsageError` naming the option, which
:func:`fastnn.cli.main` prints as one line before exiting with status 2.

A location is tried for real: a temporary file is created (and removed) in
the folder the output goes to or, when that folder does not exist yet, in
the nearest of its parents that does (the rest is made when writing).
Permission bits alone would not tell: root may write almost anywhere, but
not in /proc, /sys or on a read-only mount.
"""
import os
import tempfile

from .._fileio import write_target
from ._args import UsageError


def _reason(exc):
    """An OSError's message without the '[Errno N]' prefix."""
    return exc.strerror if exc.errno is not None and exc.strerror else str(exc)


def _try_folder(option, path, folder):
    """Raise unless a file can be created in ``folder`` or, when it does not exist
    yet, in the nearest of its parents that does."""
    existing = os.path.abspath(folder)
    while not os.path.lexists(existing) and os.path.dirname(existing) != existing:
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UsageError("argument %s: cannot write %s: %s is not a directory"
                         % (option, path, existing))
    _check_names(option, path, existing, os.path.abspath(folder))
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".fastnn-check.", suffix=".part")
    except OSError as exc:
        raise UsageError("argument %s: cannot write %s: no file can be created in %s (%s)"
                         % (option, path, existing, _reason(exc))) from None
    os.close(fd)
    os.unlink(probe)


def _limit(folder, name, default):
    try:
        return os.pathconf(folder, name)
    except (AttributeError, OSError, ValueError):    # not POSIX, or no limit reported
        return default


def _check_names(option, path, existing, folder):
    """Raise unless the folders still to be made between ``existing`` and ``folder``
    have names, and ``folder`` a length, that the file system takes (os.makedirs
    would fail with 'File name too long' only when the results are written)."""
    name_max = _limit(existing, "PC_NAME_MAX", 255)
    path_max = _limit(existing, "PC_PATH_MAX", 4096)
    missing = os.path.relpath(folder, existing)
    for part in [] if missing == os.curdir else missing.split(os.sep):
        if len(os.fsencode(part)) > name_max:
            raise UsageError("argument %s: cannot write %s: the folder name %s... is too long "
                             "(%d bytes; at most %d here)" % (option, path, part[:20],
                                                              len(os.fsencode(part)), name_max))
    if len(os.fsencode(folder)) >= path_max:
        raise UsageError("argument %s: cannot write %s: the path is too long (%d bytes; at "
                         "most %d here)" % (option, path, len(os.fsencode(folder)), path_max - 1))


def check_file(option, path):
    """Refuse ``path`` as the file option ``option`` writes unless it can be written:
    an existing regular file (or a symlink to one, written through), or a new file
    in a folder that exists or can be made, and where files can be created."""
    if not path:
        return
    try:
        target = write_target(path)
    except OSError as exc:      # a directory, device, FIFO or socket; a symlink loop
        raise UsageError("argument %s: %s" % (option, _reason(exc))) from None
    _try_folder(option, path, os.path.dirname(target))


def check_folder(option, path):
    """Refuse ``path`` as the folder option ``option`` writes its files in unless it
    is a folder (or can be made one) where files can be created."""
    if not path:
        return
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError("argument %s: cannot write in %s: it is not a directory"
                         % (option, path))
    _try_folder(option, path, path)
