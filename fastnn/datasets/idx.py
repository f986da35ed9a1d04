"""Read and write IDX files, the simple binary format MNIST is distributed in.

An IDX file starts with a 4-byte magic number: two zero bytes, a type code
(0x08 = unsigned byte, the only type used here) and the number of
dimensions.  Then comes one big-endian uint32 per dimension, then the
payload in C order.  Files may be gzipped; that is detected from the
content, not from the file name.
"""

import gzip
import math
import zlib

import numpy as np

from .._fileio import atomic_write

__all__ = ["IMAGES_MAGIC", "LABELS_MAGIC", "read_idx", "parse_idx", "write_idx"]

#: Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
IMAGES_MAGIC = 0x00000803
#: Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
LABELS_MAGIC = 0x00000801

_GZIP_SIGNATURE = b"\x1f\x8b"
_UBYTE = 0x08


def _describe(magic):
    names = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}
    text = "0x%08X" % magic
    return "%s (%s)" % (text, names[magic]) if magic in names else text


def read_bytes(path):
    """Return the content of ``path``, gunzipped if it is a gzip file."""
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:2] == _GZIP_SIGNATURE:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(
                "%s: expected a valid gzip stream, found a damaged or truncated "
                "one (%s)" % (path, exc)) from None
    return data


def parse_idx(data, expected_magic=None, source="<bytes>"):
    """Parse IDX bytes into a read-only uint8 array.

    ``expected_magic`` (e.g. :data:`IMAGES_MAGIC`) is checked when given;
    ``source`` names the file in error messages.  Raises ValueError when the
    header is wrong or the payload length does not match the dimensions.
    """
    if len(data) < 4:
        raise ValueError("%s: expected an IDX header, found only %d bytes"
                         % (source, len(data)))
    magic = int.from_bytes(data[:4], "big")
    if expected_magic is not None and magic != expected_magic:
        raise ValueError("%s: bad magic number: expected %s, found %s"
                         % (source, _describe(expected_magic), _describe(magic)))
    if data[0] != 0 or data[1] != 0 or data[2] != _UBYTE:
        raise ValueError("%s: bad magic number %s: expected an IDX file of "
                         "unsigned bytes (0x000008nn)" % (source, _describe(magic)))
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError("%s: expected a %d-byte header for %d dimensions, "
                         "found only %d bytes" % (source, header, ndim, len(data)))
    dims = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big")
                 for i in range(ndim))
    expected = math.prod(dims)
    found = len(data) - header
    if found != expected:
        what = "truncated" if found < expected else "has trailing data"
        raise ValueError("%s: file %s: dimensions %s need %d payload bytes, "
                         "found %d" % (source, what, dims, expected, found))
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_idx(path, expected_magic=None):
    """Read an IDX file (gzipped or not) into a read-only uint8 array."""
    return parse_idx(read_bytes(path), expected_magic, source=str(path))


def write_idx(path, array, compresslevel=9):
    """Write a uint8 array as an IDX file; gzip it if ``path`` ends in .gz.

    The gzip header carries no time stamp or name, so equal arrays give
    byte-identical files.  The file is written atomically.
    """
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8:
        raise TypeError("write_idx needs a uint8 array, got %s" % array.dtype)
    if not 1 <= array.ndim <= 255:
        raise ValueError("write_idx needs 1 to 255 dimensions")
    head = bytes([0, 0, _UBYTE, array.ndim])
    head += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = head + array.tobytes()
    if str(path).endswith(".gz"):
        data = gzip.compress(data, compresslevel=compresslevel, mtime=0)
    with atomic_write(path) as fh:
        fh.write(data)
