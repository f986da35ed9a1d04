"""Downloading a data set's files from its mirrors, with limits.

Each missing file is fetched from the mirrors in :data:`MIRRORS`, in order,
into the first writable data directory (see :mod:`.locate`), and kept only
when its MD5 is the published one (:data:`MD5`, or :data:`RAW_MD5` of the
content for a recompressed copy).  A file is written atomically, may not
exceed its known size plus a margin (:data:`SIZES`, :data:`SIZE_MARGIN`),
and must arrive within :data:`DEADLINE` seconds; a failure leaves nothing
behind.  The settings are read at call time, so they may be changed.
"""

import gzip
import hashlib
import http.client
import math
import os
import socket
import sys
import threading
import urllib.parse
import urllib.request

from .._fileio import atomic_write
from .locate import FILES, find_files, first_writable_dir, max_dims

__all__ = ["MIRRORS", "MD5", "RAW_MD5", "SIZES", "SIZE_MARGIN", "MAX_DOWNLOAD_BYTES",
           "TIMEOUT", "DEADLINE", "download", "size_limit"]

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


def download(name, data_dir, quiet, mirrors, failures):
    """Fetch the missing files into the first writable directory.

    Returns the file map, or None (with reasons appended to ``failures``).
    """
    if mirrors is None:
        mirrors = MIRRORS.get(name, [])
    if isinstance(mirrors, str):
        mirrors = [mirrors]
    target = first_writable_dir(name, data_dir, failures)
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
    return find_files(target)


def _fetch(name, filename, target, mirrors, quiet, failures):
    """Try each mirror until ``filename`` is downloaded and verified."""
    dest = os.path.join(target, filename)
    want = MD5.get(name, {}).get(filename)
    want_raw = RAW_MD5.get(name, {}).get(filename[:-3])
    limit = size_limit(name, filename)
    for base in mirrors:
        url = base.rstrip("/") + "/" + filename
        digest = {}

        def verify(tmp, digest=digest):
            if (want is not None and digest["md5"] != want
                    and not _raw_md5_ok(tmp, want_raw, filename[:-3])):
                raise ValueError("checksum mismatch: md5 %s, expected %s"
                                 % (digest["md5"], want))

        try:
            with atomic_write(dest, "wb", verify=verify) as out:
                digest["md5"] = _stream(url, out, filename, quiet, limit)
            return True
        except (OSError, ValueError, http.client.HTTPException) as exc:
            failures.append("%s: %s" % (url, exc))
    return False


def size_limit(name, filename):
    """Most bytes accepted for ``filename``: its known size plus the margin."""
    size = SIZES.get(name, {}).get(filename)
    if size is None:
        return MAX_DOWNLOAD_BYTES
    fraction, constant = SIZE_MARGIN
    return int(size * (1 + fraction)) + constant


def _raw_md5_ok(path, want_raw, base):
    """Whether the gunzipped content of ``path`` has MD5 ``want_raw`` (read in
    a stream, and at most as much as the data set's file ``base`` may hold)."""
    if want_raw is None:
        return False
    dims = max_dims(base)
    most = 4 + 4 * len(dims) + math.prod(dims)
    digest = hashlib.md5()
    done = 0
    try:
        with gzip.open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
                done += len(chunk)
                if done > most:
                    return False
    except Exception:
        return False
    return digest.hexdigest() == want_raw


class _Watchdog:
    """Shuts the sockets of one download at its deadline, whatever they are
    blocked in (headers, body): a blocked read returns at once.  A connect in
    progress is bounded by TIMEOUT, and its socket is shut as it arrives."""

    def __init__(self, seconds):
        self.expired = False
        self._socks = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def watch(self, sock):
        with self._lock:
            self._socks.append(sock)
            if self.expired:
                self._shut(sock)

    def _expire(self):
        with self._lock:
            self.expired = True
            for sock in self._socks:
                self._shut(sock)

    @staticmethod
    def _shut(sock):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc):
        self._timer.cancel()

    def opener(self):
        """A urllib opener whose HTTP(S) connections report their sockets here."""
        watch = self.watch

        class Connection(http.client.HTTPConnection):
            def connect(self):
                super().connect()
                watch(self.sock)

        class SecureConnection(http.client.HTTPSConnection):
            def connect(self):
                super().connect()
                watch(self.sock)

        class Handler(urllib.request.HTTPHandler):
            def http_open(self, req):
                return self.do_open(Connection, req)

        class SecureHandler(urllib.request.HTTPSHandler):
            def https_open(self, req):
                return self.do_open(SecureConnection, req, context=self._context)

        return urllib.request.build_opener(Handler, SecureHandler)


def _stream(url, out, filename, quiet, limit):
    """Copy ``url`` into the open file ``out``; return the MD5 hex digest.

    Raises OSError when the server sends more than ``limit`` bytes (or
    announces more), closes early, or the file takes over ``DEADLINE`` s.
    """
    request = urllib.request.Request(url, headers={"User-Agent": "fastnn-scratch"})
    progress = _Progress(filename, urllib.parse.urlsplit(url).netloc, quiet)
    with _Watchdog(DEADLINE) as dog:
        try:
            with dog.opener().open(request, timeout=min(TIMEOUT, DEADLINE)) as response:
                digest = _copy(response, out, limit, progress)
        except (OSError, http.client.HTTPException):
            if not dog.expired:
                raise
        finally:
            progress.close()
        # A socket shut mid-headers or mid-body can look like a short, complete
        # answer: whatever came, an expired download is a failed one.
        if dog.expired:
            raise OSError("gave up after the %gs deadline (DEADLINE) with %d bytes"
                          % (DEADLINE, progress.done))
    return digest


def _copy(response, out, limit, progress):
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    if total is not None and total > limit:
        raise OSError("the server announces %d bytes; the file has at most %d"
                      % (total, limit))
    digest = hashlib.md5()
    while True:
        chunk = response.read1(1 << 16)
        if not chunk:
            break
        if progress.done + len(chunk) > limit:
            raise OSError("the server sent more than %d bytes, more than the "
                          "file holds; stopped" % limit)
        out.write(chunk)
        digest.update(chunk)
        progress.add(len(chunk), total)
    if total is not None and progress.done != total:
        raise OSError("connection closed after %d of %d bytes" % (progress.done, total))
    return digest.hexdigest()


class _Progress:
    """``Downloading <file> from <host>: 42%`` on stderr, updated in place."""

    def __init__(self, filename, host, quiet):
        self.filename, self.host, self.quiet = filename, host, quiet
        self.done = 0
        self._shown = None

    def add(self, n, total):
        self.done += n
        if self.quiet:
            return
        if total:
            step = self.done * 100 // total
            text = "%3d%%" % min(100, step)
        else:
            step = self.done >> 20
            text = "%d MiB" % step
        if step != self._shown:
            self._shown = step
            sys.stderr.write("\rDownloading %s from %s: %s" % (self.filename, self.host, text))
            sys.stderr.flush()

    def close(self):
        if self._shown is not None:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._shown = None
