"""MNIST and Fashion-MNIST loaders with the API of the book's ``dataset.mnist``.

``load_mnist``, ``load_fashion_mnist`` and ``load_sample`` return the
book's ``(x_train, t_train), (x_test, t_test)``.  The work is split by job:
:mod:`.locate` (where files are looked for and written), :mod:`.download`
(mirrors, checksums, size and time limits), :mod:`.cache` (the in-memory
memo and the ``.npz`` disk cache) and :mod:`.idx` (the file format).

The settings of those modules (``HOME_DIR``, ``SYSTEM_DIRS``, ``MIRRORS``,
``MD5``, ``RAW_MD5``, ``SIZES``, ``TIMEOUT``, ``DEADLINE``, ...) can also be
read and set here, as before the split: setting ``mnist.TIMEOUT`` sets
``fastnn.datasets.download.TIMEOUT``.  They are read at call time, so they may be changed,
e.g. by tests.
"""

import os
import sys
import types

import numpy as np

from . import cache, locate
from . import download as _download
from .idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx

# The upper-case names are properties of the module class (_FORWARDED, at the end).
__all__ = [
    "load_mnist", "load_fashion_mnist", "load_sample", "load_dataset",
    "init_mnist", "download_mnist", "DatasetNotFoundError",
    "FILES", "MIRRORS", "MD5", "RAW_MD5", "SIZES", "SYSTEM_DIRS", "DATA_ENV",  # noqa: F822
]

# Settings that live in the job modules, readable and settable here.
_FORWARDED = {name: module for module in (locate, _download)
              for name in module.__all__ if name.isupper()}

_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
_APT_HINT = {
    "fashion-mnist": "On Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist",
}


class DatasetNotFoundError(FileNotFoundError):
    """The data set files are neither on disk nor downloadable."""


# --------------------------------------------------------------------------
# public loaders


def load_mnist(normalize=True, flatten=True, one_hot_label=False,
               data_dir=None, download=True, *, quiet=False, mirrors=None):
    """Load MNIST as ``(x_train, t_train), (x_test, t_test)``.

    normalize: float32 images in [0, 1] if true, else uint8 in [0, 255].
    flatten: images of shape (N, 784) if true, else (N, 1, 28, 28).
    one_hot_label: labels as float64 (N, 10) of 0/1 if true, else uint8 (N,).
    data_dir: directory searched first (and downloaded into).
    download: fetch missing files from the mirrors.
    quiet: no download progress on stderr.
    mirrors: base URLs to use instead of ``MIRRORS['mnist']``.
    """
    raw = _load_raw("mnist", data_dir, download, quiet, mirrors)
    return _convert(raw, normalize, flatten, one_hot_label)


def load_fashion_mnist(normalize=True, flatten=True, one_hot_label=False,
                       data_dir=None, download=True, *, quiet=False,
                       mirrors=None):
    """Load Fashion-MNIST; same arguments and results as :func:`load_mnist`."""
    raw = _load_raw("fashion-mnist", data_dir, download, quiet, mirrors)
    return _convert(raw, normalize, flatten, one_hot_label)


def load_sample(normalize=True, flatten=True, one_hot_label=False):
    """Load the small Fashion-MNIST sample bundled with the package.

    No network or system files are needed.  Arguments and results are as in
    :func:`load_mnist`; the classes are balanced in both splits.
    """
    files = locate.find_files(locate.SAMPLE_DIR)
    if files is None:
        raise DatasetNotFoundError(
            "the bundled sample is missing from %s (broken installation?)"
            % locate.SAMPLE_DIR)
    raw = cache.memo_get("sample", files)
    if raw is None:
        raw = _parse_files(files)
        cache.memo_put("sample", files, raw)
    return _convert(raw, normalize, flatten, one_hot_label)


_DATASETS = {
    "mnist": load_mnist,
    "fashion-mnist": load_fashion_mnist,
    "fashion_mnist": load_fashion_mnist,
    "sample": load_sample,
}


def load_dataset(name, **kwargs):
    """Call the loader named ``name``: 'mnist', 'fashion-mnist' (or
    'fashion_mnist') or 'sample'; ``kwargs`` are passed on to it."""
    loader = _DATASETS.get(name.lower()) if isinstance(name, str) else None
    if loader is None:
        raise ValueError("load_dataset(): unknown name=%r; valid choices are "
                         "'mnist', 'fashion-mnist' (or 'fashion_mnist') and "
                         "'sample'" % (name,))
    return loader(**kwargs)


def init_mnist(data_dir=None, *, quiet=False, mirrors=None):
    """Make sure MNIST is on disk and cached (the book's ``init_mnist``)."""
    _load_raw("mnist", data_dir, True, quiet, mirrors)


def download_mnist(data_dir=None, *, quiet=False, mirrors=None):
    """Download whichever MNIST files are missing from the first writable of
    ``data_dir``, ``$FASTNN_DATA/mnist`` and ``~/.fastnn/datasets/mnist``
    (the book's ``download_mnist``); return that directory."""
    failures = []
    files = _download.download("mnist", data_dir, quiet, mirrors, failures)
    if files is None:
        raise DatasetNotFoundError(_not_found_message("mnist", data_dir, True, failures))
    return os.path.dirname(files[locate.FILES[0]])


# --------------------------------------------------------------------------
# conversion to the book's layout


def _convert(raw, normalize, flatten, one_hot_label):
    x_train, t_train, x_test, t_test = raw
    return ((_images(x_train, normalize, flatten), _labels(t_train, one_hot_label)),
            (_images(x_test, normalize, flatten), _labels(t_test, one_hot_label)))


def _images(x, normalize, flatten):
    if normalize:
        out = x.astype(np.float32)
        out /= 255.0
    else:
        out = x.copy()
    if flatten:
        return out.reshape(len(out), locate.IMAGE_SHAPE[0] * locate.IMAGE_SHAPE[1])
    return out.reshape(len(out), 1, *locate.IMAGE_SHAPE)


def _labels(t, one_hot):
    if not one_hot:
        return t.copy()
    out = np.zeros((t.size, locate.N_CLASSES))
    out[np.arange(t.size), t] = 1.0
    return out


# --------------------------------------------------------------------------
# reading, with the memo and the disk cache


def _load_raw(name, data_dir, download_ok, quiet, mirrors):
    files = locate.locate(name, data_dir)
    if files is None:
        failures = []
        if download_ok:
            files = _download.download(name, data_dir, quiet, mirrors, failures)
        if files is None:
            raise DatasetNotFoundError(
                _not_found_message(name, data_dir, download_ok, failures))

    raw = cache.memo_get(name, files)
    if raw is not None:
        return raw
    key = cache.source_key(files)
    cache_file = cache.cache_path(name, data_dir)
    raw = cache.read_cache(cache_file, key) if cache_file else None
    if raw is None:
        raw = _parse_files(files)
        if cache_file:
            cache.write_cache(cache_file, key, raw)
    cache.memo_put(name, files, raw)
    return raw


def _parse_files(files):
    arrays = []
    for base in locate.FILES:
        magic = IMAGES_MAGIC if "images" in base else LABELS_MAGIC
        arrays.append(read_idx(files[base], magic, max_dims=locate.max_dims(base)))
    x_train, t_train, x_test, t_test = arrays
    for split, x, t in (("train", x_train, t_train), ("t10k", x_test, t_test)):
        ximg, tlab = files[split + "-images-idx3-ubyte"], files[split + "-labels-idx1-ubyte"]
        if x.shape[1:] != locate.IMAGE_SHAPE:
            raise ValueError("%s: expected %dx%d images, found %dx%d"
                             % (ximg, *locate.IMAGE_SHAPE, *x.shape[1:]))
        if len(x) != len(t):
            raise ValueError("%s holds %d images but %s holds %d labels; the "
                             "counts must match" % (ximg, len(x), tlab, len(t)))
        if t.size and t.max() >= locate.N_CLASSES:
            raise ValueError("%s: expected labels 0-%d, found %d"
                             % (tlab, locate.N_CLASSES - 1, t.max()))
    return tuple(arrays)


def _not_found_message(name, data_dir, download, failures):
    title = _TITLES.get(name, name)
    lines = ["%s data set not found%s." % (
        title, "" if download else " (downloading disabled: download=False)")]
    lines.append("It needs these four files (gzipped or not): "
                 + ", ".join(f + ".gz" for f in locate.FILES) + ".")
    lines.append("Put them in one of these directories:")
    for directory in locate.search_dirs(name, data_dir):
        lines.append("  " + directory)
    if not os.environ.get(locate.DATA_ENV):
        lines.append("  (or set $%s and use $%s/%s)" % (locate.DATA_ENV, locate.DATA_ENV, name))
    if name in _APT_HINT:
        lines.append(_APT_HINT[name])
    if failures:
        lines.append("Download attempts failed:")
        lines.extend("  " + f for f in failures)
    lines.append("For a small bundled Fashion-MNIST subset that needs no "
                 "download, use fastnn.datasets.load_sample().")
    return "\n".join(lines)


def _forwarded_setting(name):
    """A property reading and writing ``name`` in the module that owns it: a
    data descriptor, so ``setattr``/``monkeypatch`` here reach the owner."""
    def get(self):
        return getattr(_FORWARDED[name], name)

    def set(self, value):
        setattr(_FORWARDED[name], name, value)

    return property(get, set, doc="forwarded to %s" % _FORWARDED[name].__name__)


# Setting a forwarded setting here sets it in its own module.
_Module = type("_Module", (types.ModuleType,),
               {name: _forwarded_setting(name) for name in _FORWARDED})

sys.modules[__name__].__class__ = _Module
