"""Where the files of a data set are looked for, and where new ones go.

In order:

1. the ``data_dir`` argument, when given;
2. ``$FASTNN_DATA/<name>``, when the environment variable is set;
3. ``~/.fastnn/datasets/<name>`` (see :data:`HOME_DIR`);
4. system directories from :data:`SYSTEM_DIRS` (for Fashion-MNIST the
   Debian package ``dataset-fashion-mnist``: /usr/share/datasets/fashion-mnist).

``<name>`` is ``mnist`` or ``fashion-mnist``.  Downloads and caches go to the
first writable one of 1-3, never to a system directory.  The settings are
read at call time, so they may be changed.
"""

import os

__all__ = ["DATA_ENV", "HOME_DIR", "SYSTEM_DIRS", "FILES", "SAMPLE_DIR", "IMAGE_SHAPE",
           "N_CLASSES", "MAX_IMAGES", "max_dims", "search_dirs", "writable_dirs", "find_files",
           "locate", "first_writable_dir"]

#: Environment variable naming a data root; files go in ``$FASTNN_DATA/<name>``.
DATA_ENV = "FASTNN_DATA"

#: Per-user data root; ``None`` means ``~/.fastnn/datasets``.
HOME_DIR = None

#: Read-only directories searched last (never written to).
SYSTEM_DIRS = {
    "mnist": [],
    "fashion-mnist": ["/usr/share/datasets/fashion-mnist"],
}

#: The four files of each data set, without the ``.gz`` suffix.
FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

#: The bundled Fashion-MNIST sample (same four file names, gzipped).
SAMPLE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")

#: Height and width of every image, and the number of classes.
IMAGE_SHAPE = (28, 28)
N_CLASSES = 10

#: Images in each split of MNIST and of Fashion-MNIST.  No file may hold more,
#: so the four files inflate to at most 70000 x (784 + 1) bytes and headers
#: together (55 MB), whatever their headers claim.
MAX_IMAGES = {"train": 60000, "t10k": 10000}


def max_dims(base):
    """The largest dimensions the file ``base`` (one of FILES) may announce."""
    count = MAX_IMAGES[base.split("-", 1)[0]]
    return (count,) + IMAGE_SHAPE if "-images-" in base else (count,)


def _home_root():
    return HOME_DIR if HOME_DIR is not None else os.path.join(
        os.path.expanduser("~"), ".fastnn", "datasets")


def _user_dirs(name, data_dir):
    """The explicit directory, ``$FASTNN_DATA/<name>`` and ``~/.fastnn/datasets/<name>``."""
    dirs = []
    if data_dir is not None:
        dirs.append(os.fspath(data_dir))
    env = os.environ.get(DATA_ENV)
    if env:
        dirs.append(os.path.join(env, name))
    dirs.append(os.path.join(_home_root(), name))
    return dirs


def writable_dirs(name, data_dir):
    """Directories we may write to (downloads, cache), in order."""
    system = {os.path.realpath(d) for d in SYSTEM_DIRS.get(name, [])}
    return [d for d in _user_dirs(name, data_dir) if os.path.realpath(d) not in system]


def search_dirs(name, data_dir):
    """Directories searched for the files, in order: the user's, then the system's."""
    return _user_dirs(name, data_dir) + list(SYSTEM_DIRS.get(name, []))


def find_files(directory):
    """Map each of FILES to its path in ``directory`` (``.gz`` preferred), or
    return None if one is missing."""
    found = {}
    for base in FILES:
        for candidate in (base + ".gz", base):
            path = os.path.join(directory, candidate)
            if os.path.isfile(path):
                found[base] = path
                break
        else:
            return None
    return found


def locate(name, data_dir):
    """The file map of the first directory holding all four files, or None."""
    for directory in search_dirs(name, data_dir):
        files = find_files(directory)
        if files is not None:
            return files
    return None


def first_writable_dir(name, data_dir, failures=None):
    """The first of :func:`writable_dirs` that exists or can be made, and is
    writable; None if there is none (the reasons go to ``failures``)."""
    for directory in writable_dirs(name, data_dir):
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            if failures is not None:
                failures.append("cannot create %s: %s" % (directory, exc))
            continue
        if os.access(directory, os.W_OK | os.X_OK):
            return directory
        if failures is not None:
            failures.append("%s is not writable" % directory)
    return None
