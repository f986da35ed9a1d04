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

from .._fileio import check_writable
from ._args import UsageError


def _reason(exc):
    """An OSError's message without the '[Errno N]' prefix."""
    return exc.strerror if exc.errno is not None and exc.strerror else str(exc)


def _try_folder(option, path, folder):
    """Raise unless a file can be created in ``folder`` or, when it does not exist
    yet, in the nearest of its parents that does (see :func:`.._fileio.check_writable`)."""
    try:
        check_writable(path, folder)
    except OSError as exc:
        raise UsageError("argument %s: %s" % (option, _reason(exc))) from None


def check_file(option, path):
    """Refuse ``path`` as the file option ``option`` writes unless it can be written:
    an existing regular file (or a symlink to one, written through), or a new file
    in a folder that exists or can be made, and where files can be created."""
    if not path:
        return
    try:
        check_writable(path)
    except OSError as exc:      # a directory, device, FIFO or socket; a symlink loop; ...
        raise UsageError("argument %s: %s" % (option, _reason(exc))) from None


def check_folder(option, path):
    """Refuse ``path`` as the folder option ``option`` writes its files in unless it
    is a folder (or can be made one) where files can be created."""
    if not path:
        return
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError("argument %s: cannot write in %s: it is not a directory"
                         % (option, path))
    _try_folder(option, path, path)
