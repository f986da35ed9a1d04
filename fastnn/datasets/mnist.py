"""MNIST and Fashion-MNIST loaders with the API of the book's ``dataset.mnist``.

Where the four IDX files are looked for, in order:

1. the ``data_dir`` argument, when given;
2. ``$FASTNN_DATA/<name>``, when the environment variable is set;
3. ``~/.fastnn/datasets/<name>`` (see :data:`HOME_DIR`);
4. system directories from :data:`SYSTEM_DIRS` (for Fashion-MNIST the
   Debian package ``dataset-fashion-mnist``: /usr/share/datasets/fashion-mnist).

``<name>`` is ``mnist`` or ``fashion-mnist``.  Missing files are downloaded
(``download=True``) from the mirrors in :data:`MIRRORS` into the first
writable one of 1-3, checked against :data:`MD5`.  The parsed arrays are
cached as an ``.npz`` next to them (never in a system directory) and kept in
memory for later calls.

A download is capped at the file's known size plus a margin
(:data:`SIZES`, :data:`SIZE_MARGIN`), must finish within :data:`DEADLINE`
seconds, and leaves nothing behind when it fails.

The module-level settings (``HOME_DIR``, ``SYSTEM_DIRS``, ``MIRRORS``,
``MD5``, ``RAW_MD5``, ``SIZES``, ``TIMEOUT``, ``DEADLINE``) are read at call
time, so they may be changed, e.g. by tests.
"""

import gzip
import hashlib
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import http.client

import numpy as np

from .._fileio import atomic_write
from .idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx

__all__ = [
    "load_mnist", "load_fashion_mnist", "load_sample", "load_dataset",
    "init_mnist", "DatasetNotFoundError", "FILES", "MIRRORS", "MD5",
    "RAW_MD5", "SIZES", "SYSTEM_DIRS", "DATA_ENV",
]

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

#: Base URLs tried in order; the gzipped file name is appended.
MIRRORS = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    ],
}

#: MD5 of the published ``.gz`` files (what the mirrors serve).
MD5 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}

#: MD5 of the uncompressed content.  A downloaded file whose ``.gz`` bytes
#: differ from :data:`MD5` is still accepted when its content matches this
#: (a mirror may have recompressed it, as Debian did for Fashion-MNIST).
RAW_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}

#: Size in bytes of the published ``.gz`` files.  A download stops once it
#: passes its file's size plus :data:`SIZE_MARGIN` (a mirror may recompress),
#: or :data:`MAX_DOWNLOAD_BYTES` for a file not listed here.
SIZES = {
    "mnist": {
        "train-images-idx3-ubyte.gz": 9912422,
        "train-labels-idx1-ubyte.gz": 28881,
        "t10k-images-idx3-ubyte.gz": 1648877,
        "t10k-labels-idx1-ubyte.gz": 4542,
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": 26421880,
        "train-labels-idx1-ubyte.gz": 29515,
        "t10k-images-idx3-ubyte.gz": 4422102,
        "t10k-labels-idx1-ubyte.gz": 5148,
    },
}

#: Allowance over :data:`SIZES`: a fraction of the size plus a constant.
SIZE_MARGIN = (0.1, 64 << 10)

#: Cap for a file whose size is not in :data:`SIZES`.
MAX_DOWNLOAD_BYTES = 64 << 20

#: Seconds before a mirror that does not answer is given up (per read).
TIMEOUT = 30

#: Seconds a whole file may take, however the server drips it.
DEADLINE = 600

#: The bundled Fashion-MNIST sample (same four file names, gzipped).
SAMPLE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")

_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
_APT_HINT = {
    "fashion-mnist": "On Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist",
}
_CACHE_VERSION = 1
_IMAGE_SHAPE = (28, 28)
_N_CLASSES = 10

_lock = threading.Lock()
_memo = {}  # data set name -> (memo key, tuple of 4 read-only uint8 arrays)


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
    files = _find_files(SAMPLE_DIR)
    if files is None:
        raise DatasetNotFoundError(
            "the bundled sample is missing from %s (broken installation?)"
            % SAMPLE_DIR)
    raw = _memo_get("sample", files)
    if raw is None:
        raw = _parse_files(files)
        _memo_put("sample", files, raw)
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


def init_mnist(data_dir=None, *, quiet=False):
    """Make sure MNIST is on disk and cached (the book's ``init_mnist``)."""
    _load_raw("mnist", data_dir, True, quiet, None)


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
        return out.reshape(len(out), _IMAGE_SHAPE[0] * _IMAGE_SHAPE[1])
    return out.reshape(len(out), 1, *_IMAGE_SHAPE)


def _labels(t, one_hot):
    if not one_hot:
        return t.copy()
    out = np.zeros((t.size, _N_CLASSES))
    out[np.arange(t.size), t] = 1.0
    return out


# --------------------------------------------------------------------------
# locating files


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


def _writable_dirs(name, data_dir):
    """Directories we may write to (downloads, cache), in order."""
    system = {os.path.realpath(d) for d in SYSTEM_DIRS.get(name, [])}
    return [d for d in _user_dirs(name, data_dir) if os.path.realpath(d) not in system]


def _search_dirs(name, data_dir):
    """Directories searched for the files, in order: the user's, then the system's."""
    return _user_dirs(name, data_dir) + list(SYSTEM_DIRS.get(name, []))


def _find_files(directory):
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


def _source_key(files):
    """Names, sizes and mtimes of the files: changes when a file does."""
    key = []
    for base in sorted(files):
        st = os.stat(files[base])
        key.append([os.path.basename(files[base]), st.st_size, st.st_mtime_ns])
    return json.dumps({"version": _CACHE_VERSION, "files": key})


# --------------------------------------------------------------------------
# loading, caching


def _load_raw(name, data_dir, download, quiet, mirrors):
    files = None
    for directory in _search_dirs(name, data_dir):
        files = _find_files(directory)
        if files is not None:
            break
    if files is None:
        failures = []
        if download:
            files = _download(name, data_dir, quiet, mirrors, failures)
        if files is None:
            raise DatasetNotFoundError(
                _not_found_message(name, data_dir, download, failures))

    raw = _memo_get(name, files)
    if raw is not None:
        return raw
    key = _source_key(files)

    cache_dir = _cache_dir(name, data_dir)
    cache_file = (os.path.join(cache_dir, name + "-cache.npz")
                  if cache_dir is not None else None)
    raw = _read_cache(cache_file, key) if cache_file else None
    if raw is None:
        raw = _parse_files(files)
        if cache_file:
            _write_cache(cache_file, key, raw)
    _memo_put(name, files, raw)
    return raw


def _memo_key(files):
    return (tuple(os.path.realpath(files[b]) for b in FILES), _source_key(files))


def _memo_get(name, files):
    with _lock:
        hit = _memo.get(name)
    return hit[1] if hit is not None and hit[0] == _memo_key(files) else None


def _memo_put(name, files, raw):
    with _lock:
        _memo[name] = (_memo_key(files), raw)


def _parse_files(files):
    arrays = []
    for base in FILES:
        magic = IMAGES_MAGIC if "images" in base else LABELS_MAGIC
        arrays.append(read_idx(files[base], magic))
    x_train, t_train, x_test, t_test = arrays
    for split, x, t in (("train", x_train, t_train), ("t10k", x_test, t_test)):
        ximg, tlab = files[split + "-images-idx3-ubyte"], files[split + "-labels-idx1-ubyte"]
        if x.shape[1:] != _IMAGE_SHAPE:
            raise ValueError("%s: expected %dx%d images, found %dx%d"
                             % (ximg, *_IMAGE_SHAPE, *x.shape[1:]))
        if len(x) != len(t):
            raise ValueError("%s holds %d images but %s holds %d labels; the "
                             "counts must match" % (ximg, len(x), tlab, len(t)))
        if t.size and t.max() >= _N_CLASSES:
            raise ValueError("%s: expected labels 0-%d, found %d"
                             % (tlab, _N_CLASSES - 1, t.max()))
    return tuple(arrays)


def _cache_dir(name, data_dir):
    """First writable directory for the npz cache, created if needed."""
    for directory in _writable_dirs(name, data_dir):
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError:
            continue
        if os.access(directory, os.W_OK | os.X_OK):
            return directory
    return None


_CACHE_NAMES = ("x_train", "t_train", "x_test", "t_test")


def _read_cache(path, key):
    """Arrays from the cache if it exists, is sound and matches ``key``."""
    if not os.path.isfile(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            if str(npz["key"][()]) != key:
                return None
            raw = tuple(npz[n] for n in _CACHE_NAMES)
    except Exception:  # damaged cache: ignore it, it gets rewritten
        return None
    x_train, t_train, x_test, t_test = raw
    sound = (all(a.dtype == np.uint8 for a in raw)
             and x_train.ndim == 3 and x_train.shape[1:] == _IMAGE_SHAPE
             and x_test.ndim == 3 and x_test.shape[1:] == _IMAGE_SHAPE
             and t_train.shape == (len(x_train),) and t_test.shape == (len(x_test),))
    if not sound:
        return None
    for a in raw:
        a.flags.writeable = False
    return raw


def _write_cache(path, key, raw):
    """Write the cache atomically; a failure only costs the cache."""
    try:
        with atomic_write(path) as fh:
            np.savez(fh, key=np.array(key), **dict(zip(_CACHE_NAMES, raw)))
    except Exception:  # the cache is an optimisation only
        pass


# --------------------------------------------------------------------------
# downloading


def _download(name, data_dir, quiet, mirrors, failures):
    """Fetch the missing files into the first writable directory.

    Returns the file map, or None (with reasons appended to ``failures``).
    """
    if mirrors is None:
        mirrors = MIRRORS.get(name, [])
    if isinstance(mirrors, str):
        mirrors = [mirrors]
    target = None
    for directory in _writable_dirs(name, data_dir):
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            failures.append("cannot create %s: %s" % (directory, exc))
            continue
        if os.access(directory, os.W_OK | os.X_OK):
            target = directory
            break
        failures.append("%s is not writable" % directory)
    if target is None:
        return None
    if not mirrors:
        failures.append("no download mirrors configured for %s" % name)
        return None
    for base in FILES:
        if (os.path.isfile(os.path.join(target, base + ".gz"))
                or os.path.isfile(os.path.join(target, base))):
            continue
        if not _fetch(name, base + ".gz", target, mirrors, quiet, failures):
            return None
    return _find_files(target)


def _fetch(name, filename, target, mirrors, quiet, failures):
    """Try each mirror until ``filename`` is downloaded and verified."""
    dest = os.path.join(target, filename)
    want = MD5.get(name, {}).get(filename)
    want_raw = RAW_MD5.get(name, {}).get(filename[:-3])
    limit = _size_limit(name, filename)
    for base in mirrors:
        url = base.rstrip("/") + "/" + filename
        digest = {}

        def verify(tmp):
            if (want is not None and digest["md5"] != want
                    and not _raw_md5_ok(tmp, want_raw)):
                raise ValueError("checksum mismatch: md5 %s, expected %s"
                                 % (digest["md5"], want))

        try:
            with atomic_write(dest, "wb", verify=verify) as out:
                digest["md5"] = _stream(url, out, filename, quiet, limit)
            return True
        except (OSError, ValueError, http.client.HTTPException) as exc:
            failures.append("%s: %s" % (url, exc))
    return False


def _size_limit(name, filename):
    """Most bytes accepted for ``filename``: its known size plus the margin."""
    size = SIZES.get(name, {}).get(filename)
    if size is None:
        return MAX_DOWNLOAD_BYTES
    fraction, constant = SIZE_MARGIN
    return int(size * (1 + fraction)) + constant


def _raw_md5_ok(path, want_raw):
    """Whether the gunzipped content of ``path`` has MD5 ``want_raw`` (read in
    a stream, and at most the largest payload an IDX file may hold)."""
    from .idx import MAX_PAYLOAD_BYTES
    if want_raw is None:
        return False
    digest = hashlib.md5()
    done = 0
    try:
        with gzip.open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
                done += len(chunk)
                if done > MAX_PAYLOAD_BYTES + (1 << 10):
                    return False
    except Exception:
        return False
    return digest.hexdigest() == want_raw


def _stream(url, out, filename, quiet, limit):
    """Copy ``url`` into the open file ``out``; return the MD5 hex digest.

    Raises OSError when the server sends more than ``limit`` bytes (or
    announces more), closes early, or the file takes over ``DEADLINE`` s.
    """
    deadline = time.monotonic() + DEADLINE
    request = urllib.request.Request(url, headers={"User-Agent": "fastnn-scratch"})
    digest = hashlib.md5()
    host = urllib.parse.urlsplit(url).netloc
    shown = None
    try:
        with urllib.request.urlopen(request, timeout=min(TIMEOUT, DEADLINE)) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if total is not None and total > limit:
                raise OSError("the server announces %d bytes; the file has at most %d"
                              % (total, limit))
            done = 0
            while True:
                if time.monotonic() > deadline:
                    raise OSError("gave up after the %gs deadline (DEADLINE) with %d bytes"
                                  % (DEADLINE, done))
                chunk = response.read1(1 << 16)
                if not chunk:
                    break
                done += len(chunk)
                if done > limit:
                    raise OSError("the server sent more than %d bytes, more than the "
                                  "file holds; stopped" % limit)
                out.write(chunk)
                digest.update(chunk)
                if quiet:
                    continue
                if total:
                    step, text = done * 100 // total, "%3d%%" % min(100, done * 100 // total)
                else:
                    step, text = done >> 20, "%d MiB" % (done >> 20)
                if step != shown:
                    shown = step
                    sys.stderr.write("\rDownloading %s from %s: %s" % (filename, host, text))
                    sys.stderr.flush()
            if total is not None and done != total:
                raise OSError("connection closed after %d of %d bytes" % (done, total))
    finally:
        if shown is not None:
            sys.stderr.write("\n")
            sys.stderr.flush()
    return digest.hexdigest()


def _not_found_message(name, data_dir, download, failures):
    title = _TITLES.get(name, name)
    lines = ["%s data set not found%s." % (
        title, "" if download else " (downloading disabled: download=False)")]
    lines.append("It needs these four files (gzipped or not): "
                 + ", ".join(f + ".gz" for f in FILES) + ".")
    lines.append("Put them in one of these directories:")
    for directory in _search_dirs(name, data_dir):
        lines.append("  " + directory)
    if not os.environ.get(DATA_ENV):
        lines.append("  (or set $%s and use $%s/%s)" % (DATA_ENV, DATA_ENV, name))
    if name in _APT_HINT:
        lines.append(_APT_HINT[name])
    if failures:
        lines.append("Download attempts failed:")
        lines.extend("  " + f for f in failures)
    lines.append("For a small bundled Fashion-MNIST subset that needs no "
                 "download, use fastnn.datasets.load_sample().")
    return "\n".join(lines)
