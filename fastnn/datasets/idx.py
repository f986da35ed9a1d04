"""Read and write IDX files, the simple binary format MNIST is distributed in.

An IDX file starts with a 4-byte magic number: two zero bytes, a type code
(0x08 = unsigned byte, the only type used here) and the number of
dimensions.  Then comes one big-endian uint32 per dimension, then the
payload in C order.  Files may be gzipped; that is detected from the
content, not from the file name.

Reading is a stream: the header is read (and checked) first, and exactly
the payload it announces is inflated into the result, never more, and never
more than :data:`MAX_PAYLOAD_BYTES` (or what ``max_dims`` allows: the
data set loaders pass the known sizes of MNIST).  A gzip bomb costs at most
that much memory and fails with an error naming the file.
"""

import gzip
import io
import math
import zlib

import numpy as np

from .._fileio import atomic_write

__all__ = ["IMAGES_MAGIC", "LABELS_MAGIC", "MAX_PAYLOAD_BYTES", "read_idx", "parse_idx",
           "write_idx"]

#: Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
IMAGES_MAGIC = 0x00000803
#: Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
LABELS_MAGIC = 0x00000801
#: Largest payload read (256 MiB; MNIST's largest file holds 47 MB).
MAX_PAYLOAD_BYTES = 1 << 28

_GZIP_SIGNATURE = b"\x1f\x8b"
_UBYTE = 0x08
_TYPE_NAMES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "int16", 0x0C: "int32",
               0x0D: "float32", 0x0E: "float64"}
_CHUNK = 1 << 20


def _describe(magic):
    names = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}
    text = "0x%08X" % magic
    return "%s (%s)" % (text, names[magic]) if magic in names else text


def _read_exactly(stream, out):
    """Fill the writable buffer ``out`` from ``stream``; return the bytes read."""
    view = memoryview(out).cast("B")
    done = 0
    while done < len(view):
        n = stream.readinto(view[done:done + _CHUNK])
        if not n:
            break
        done += n
    return done


def _read_stream(stream, expected_magic, source, max_dims=None):
    head = bytearray(4)
    found = _read_exactly(stream, head)
    if found < 4:
        raise ValueError("%s: expected an IDX header, found only %d bytes" % (source, found))
    magic = int.from_bytes(head, "big")
    if expected_magic is not None and magic != expected_magic:
        raise ValueError("%s: bad magic number: expected %s, found %s"
                         % (source, _describe(expected_magic), _describe(magic)))
    if head[0] != 0 or head[1] != 0:
        raise ValueError("%s: bad magic number %s: an IDX file starts with two zero "
                         "bytes" % (source, _describe(magic)))
    if head[2] != _UBYTE:
        raise ValueError("%s: bad magic number %s: type code 0x%02X (%s), expected 0x08 "
                         "(unsigned byte)" % (source, _describe(magic), head[2],
                                              _TYPE_NAMES.get(head[2], "unknown")))
    ndim = head[3]
    dims_raw = bytearray(4 * ndim)
    found = _read_exactly(stream, dims_raw)
    if found < len(dims_raw):
        raise ValueError("%s: expected a %d-byte header for %d dimensions, found only %d "
                         "bytes" % (source, 4 + len(dims_raw), ndim, 4 + found))
    dims = tuple(int.from_bytes(dims_raw[4 * i:4 * i + 4], "big") for i in range(ndim))
    if max_dims is not None and (len(dims) != len(max_dims)
                                 or any(d > m for d, m in zip(dims, max_dims))):
        raise ValueError("%s: dimensions %s exceed %s, the most this data set holds"
                         % (source, dims, tuple(max_dims)))
    expected = math.prod(dims)
    if expected > MAX_PAYLOAD_BYTES:
        raise ValueError("%s: dimensions %s need %d payload bytes, more than the %d "
                         "this reader accepts (MAX_PAYLOAD_BYTES)"
                         % (source, dims, expected, MAX_PAYLOAD_BYTES))
    out = np.empty(expected, dtype=np.uint8)
    found = _read_exactly(stream, out)
    if found < expected:
        raise ValueError("%s: file truncated: dimensions %s need %d payload bytes, "
                         "found %d" % (source, dims, expected, found))
    if stream.read(1):
        raise ValueError("%s: file has trailing data: dimensions %s need %d payload "
                         "bytes, found more" % (source, dims, expected))
    out = out.reshape(dims)
    out.flags.writeable = False
    return out


def _read(raw, expected_magic, source, max_dims=None):
    """Read IDX from the buffered binary file ``raw``, gunzipping it if it is gzip."""
    if raw.peek(2)[:2] != _GZIP_SIGNATURE:
        return _read_stream(raw, expected_magic, source, max_dims)
    try:
        with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
            return _read_stream(stream, expected_magic, source, max_dims)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError("%s: expected a valid gzip stream, found a damaged or truncated "
                         "one (%s)" % (source, exc)) from None


def parse_idx(data, expected_magic=None, source="<bytes>"):
    """Parse IDX bytes (gzipped or not) into a read-only uint8 array.

    ``expected_magic`` (e.g. :data:`IMAGES_MAGIC`) is checked when given;
    ``source`` names the file in error messages.  Raises ValueError when the
    header is wrong or the payload length does not match the dimensions.
    """
    return _read(io.BufferedReader(io.BytesIO(bytes(data))), expected_magic, source)


def read_idx(path, expected_magic=None, *, max_dims=None):
    """Read an IDX file (gzipped or not) into a read-only uint8 array.

    ``max_dims``, when given, is the largest shape accepted: a header with
    other dimensions, or larger ones, is refused before any payload is read.
    """
    with open(path, "rb") as fh:
        return _read(fh, expected_magic, str(path), max_dims)


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
