"""Loading a data set for a command: a missing one is a one-line usage error."""
from ._args import UsageError

DATASETS = ["sample", "fashion-mnist", "mnist"]


def load(name, option="--dataset", **kwargs):
    """``load_dataset(name, **kwargs)``; a data set that is neither on disk nor downloadable
    becomes a :class:`UsageError` naming ``option`` and pointing at the bundled sample."""
    from ..datasets import DatasetNotFoundError, load_dataset
    try:
        return load_dataset(name, **kwargs)
    except DatasetNotFoundError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "not found"
        raise UsageError("argument %s: %s is not available (%s); use %s sample for the "
                         "bundled subset, or see the README's data section"
                         % (option, name, first.rstrip("."), option)) from None


def read_checkpoint(path, option, backend=None):
    """``load_checkpoint(path)``; a missing or unreadable file becomes a
    :class:`UsageError` naming ``option``."""
    import os
    from ..serialization import load_checkpoint
    if not os.path.exists(path):
        raise UsageError("argument %s: no such file %s" % (option, path))
    if os.path.isdir(path):
        raise UsageError("argument %s: %s is a directory, expected a file written by "
                         "fastnn train --save" % (option, path))
    if not os.path.isfile(path):
        raise UsageError("argument %s: %s is not a regular file" % (option, path))
    try:
        return load_checkpoint(path, backend=backend)
    except (OSError, ValueError, KeyError, TypeError, ImportError) as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError("argument %s: cannot read %s: %s" % (option, path, text)) from None
