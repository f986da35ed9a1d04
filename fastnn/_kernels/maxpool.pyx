# cython: language_level=3
"""Max pooling (the book's ``Pooling``) straight on NCHW, without im2col.

The argmax index of each window (the book's tie rule: the first maximum,
NaN winning, as ``np.argmax``) is kept in NCHW order, one byte each when
the window has at most 256 entries (the layer turns it into the book's
``arg_max`` layout only when that is read).  2x2 windows of stride 2, the
book's pooling, run row loops of ``maxpool_simd.h`` that GCC vectorizes.
The loops are C, one per dtype and index width, reached through one name
(FASTNN_BY_DTYPE); the drivers check dtypes and layouts, trust the shapes
``MaxPoolOps`` (mixed into :class:`fastnn.backends.CompiledOps`) checked,
and run ``nogil`` into caller-provided buffers.
"""
cimport numpy as cnp
from fastnn._kernels._shared cimport (GRAIN_ELEMS, check_kernel_arrays, check_shape, elem_at,
                                      is_c_float, kernel_input_as, parallel_range, Pool,
                                      pool_take, pool_take_like, range_fn, window_count)

from fastnn._checks import check_window
from fastnn._kernels.conv import _shape_error

cnp.import_array()


# -- kernels (maxpool_simd.h) -------------------------------------------------------

cdef extern from "maxpool_simd.h" nogil:
    # one plane: out (OH x OW) and the window index of each maximum
    void fastnn_maxpool_plane(bint f32, bint wide, const void* x, Py_ssize_t H, Py_ssize_t W,
                              Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t s, Py_ssize_t pad,
                              Py_ssize_t OH, Py_ssize_t OW, void* out, void* am)
    # its backward: dx (H x W) of one plane
    void fastnn_unpool_plane(bint f32, bint wide, const void* d, const void* am,
                             Py_ssize_t H, Py_ssize_t W, Py_ssize_t PH, Py_ssize_t PW,
                             Py_ssize_t s, Py_ssize_t pad, Py_ssize_t OH, Py_ssize_t OW,
                             void* g)


cdef bint _index_kind(cnp.ndarray arg_max, Py_ssize_t size) except -1:
    """True for intp window indices, False for uint8; arg_max must be a
    native C-contiguous 1-D array of ``size`` entries."""
    cdef int t = cnp.PyArray_TYPE(arg_max)
    if ((t != cnp.NPY_UINT8 and t != cnp.NPY_INTP) or cnp.PyArray_ISBYTESWAPPED(arg_max)
            or cnp.PyArray_NDIM(arg_max) != 1 or not cnp.PyArray_ISCARRAY_RO(arg_max)):
        raise TypeError("arg_max must be a native C-contiguous 1-D uint8 or intp array")
    if cnp.PyArray_DIMS(arg_max)[0] != size:
        raise ValueError("arg_max has %d entries, expected %d"
                         % (cnp.PyArray_DIMS(arg_max)[0], size))
    return t == cnp.NPY_INTP


cdef struct Planes:
    bint f32, wide            # float32 data; intp (not uint8) window indices
    Py_ssize_t planes, H, W, OH, OW, index_bytes


cdef Planes _planes(cnp.ndarray img, cnp.ndarray y, cnp.ndarray arg_max, Py_ssize_t PH,
                    Py_ssize_t PW, Py_ssize_t stride, Py_ssize_t pad,
                    bint backward) except *:
    """The checked geometry of a pooling call: img (N, C, H, W), y (N, C,
    OH, OW) its PH x PW windows, arg_max one index per window.  Forward:
    img is x (read) and y out (written); backward: img is dx (written) and
    y dout (read)."""
    cdef Planes g
    cdef str y_name = "dout" if backward else "out"
    g.f32 = check_kernel_arrays((("dx" if backward else "x", img, 4, backward),
                                 (y_name, y, 4, not backward)))
    if PH < 1 or PW < 1:
        raise ValueError("pool_h and pool_w must be >= 1, got %d, %d" % (PH, PW))
    g.H, g.W = img.shape[2], img.shape[3]
    g.OH, g.OW = window_count(g.H, PH, stride, pad), window_count(g.W, PW, stride, pad)
    check_shape(y_name, y, (img.shape[0], img.shape[1], g.OH, g.OW))
    g.planes = img.shape[0] * img.shape[1]
    g.wide = _index_kind(arg_max, g.planes * g.OH * g.OW)
    g.index_bytes = sizeof(cnp.npy_intp) if g.wide else 1
    return g


cdef struct PoolCall:
    Planes g
    Py_ssize_t PH, PW, stride, pad
    const void* src        # x, or dout
    const char* am
    void* dst              # out, or dx


cdef void _forward_planes(void* ctx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef const PoolCall* c = <const PoolCall*>ctx
    cdef Py_ssize_t p, per = c.g.OH * c.g.OW
    for p in range(lo, hi):
        fastnn_maxpool_plane(c.g.f32, c.g.wide, elem_at(c.src, p * c.g.H * c.g.W, c.g.f32),
                             c.g.H, c.g.W, c.PH, c.PW, c.stride, c.pad, c.g.OH, c.g.OW,
                             elem_at(c.dst, p * per, c.g.f32),
                             <void*>(c.am + p * per * c.g.index_bytes))


cdef void _backward_planes(void* ctx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef const PoolCall* c = <const PoolCall*>ctx
    cdef Py_ssize_t p, per = c.g.OH * c.g.OW
    for p in range(lo, hi):
        fastnn_unpool_plane(c.g.f32, c.g.wide, elem_at(c.src, p * per, c.g.f32),
                            <const void*>(c.am + p * per * c.g.index_bytes), c.g.H, c.g.W,
                            c.PH, c.PW, c.stride, c.pad, c.g.OH, c.g.OW,
                            elem_at(c.dst, p * c.g.H * c.g.W, c.g.f32))


cdef void _run_planes(PoolCall* c, range_fn fn) noexcept nogil:
    # planes in pieces of at least GRAIN_ELEMS input entries
    cdef Py_ssize_t size = c.g.H * c.g.W
    if c.g.OH * c.g.OW == 0 or size == 0:
        return
    parallel_range(fn, c, c.g.planes, (GRAIN_ELEMS + size - 1) // size, 1)


def pool_forward(cnp.ndarray x, Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t stride,
                 Py_ssize_t pad, cnp.ndarray out, cnp.ndarray arg_max):
    """out (N, C, OH, OW): the maximum of each window (padding counts as 0);
    arg_max (N·C·OH·OW,), in NCHW order: the window index fh·PW + fw of
    the first maximum (NaN wins, as in np.argmax).  Shapes checked."""
    cdef PoolCall c
    c.g = _planes(x, out, arg_max, PH, PW, stride, pad, False)
    if not cnp.PyArray_ISWRITEABLE(arg_max):
        raise ValueError("arg_max must be writeable")
    c.PH, c.PW, c.stride, c.pad = PH, PW, stride, pad
    c.src, c.dst = cnp.PyArray_DATA(x), cnp.PyArray_DATA(out)
    c.am = <const char*>cnp.PyArray_DATA(arg_max)
    with nogil:
        _run_planes(&c, _forward_planes)


def pool_backward(cnp.ndarray dout, cnp.ndarray arg_max, Py_ssize_t PH, Py_ssize_t PW,
                  Py_ssize_t stride, Py_ssize_t pad, cnp.ndarray dx):
    """dx (N, C, H, W): each dout entry added at its window's arg_max
    (positions in the padding are dropped, as col2im crops them).  Shapes
    checked."""
    cdef PoolCall c
    c.g = _planes(dx, dout, arg_max, PH, PW, stride, pad, True)
    c.PH, c.PW, c.stride, c.pad = PH, PW, stride, pad
    c.src, c.dst = cnp.PyArray_DATA(dout), cnp.PyArray_DATA(dx)
    c.am = <const char*>cnp.PyArray_DATA(arg_max)
    with nogil:
        _run_planes(&c, _backward_planes)


# -- compiled overrides of NumpyOps (mixed into fastnn.backends.CompiledOps) -----

class MaxPoolOps:
    """Max pooling in x's dtype; x of another byte order or layout, or
    integers, converted once into a buffer of the pool; anything else is
    NumpyOps's.  ``arg`` is uint8 when a window has at most 256 entries."""

    def maxpool_forward(self, x, pool_h, pool_w, stride=2, pad=0, Pool pool=None):
        cdef cnp.ndarray xk, out, arg
        cdef cnp.npy_intp dims[4]
        cdef int t
        out_h, out_w = check_window(x, pool_h, pool_w, stride, pad, pooling=True)
        if type(x) is not cnp.ndarray:
            return super().maxpool_forward(x, pool_h, pool_w, stride, pad, pool)
        t = cnp.PyArray_TYPE(<cnp.ndarray>x)
        xk = kernel_input_as(x, t, pool) if t == cnp.NPY_FLOAT or t == cnp.NPY_DOUBLE else None
        if xk is None:
            return super().maxpool_forward(x, pool_h, pool_w, stride, pad, pool)
        dims[0] = cnp.PyArray_DIMS(xk)[0]
        dims[1] = cnp.PyArray_DIMS(xk)[1]
        dims[2] = out_h
        dims[3] = out_w
        out = pool_take(pool, 4, dims, t)
        arg = pool_take(pool, 4, dims,
                        cnp.NPY_UINT8 if pool_h * pool_w <= 256 else cnp.NPY_INTP)
        pool_forward(xk, pool_h, pool_w, stride, pad, out, arg.reshape(-1))
        return out, xk, arg

    def maxpool_backward(self, dout, x, arg, pool_h, pool_w, stride=2, pad=0, Pool pool=None):
        cdef cnp.ndarray xa, dk, dx
        cdef int at
        if not (is_c_float(x, 4) and type(arg) is cnp.ndarray
                and cnp.PyArray_NDIM(<cnp.ndarray>arg) == 4
                and cnp.PyArray_ISCARRAY_RO(<cnp.ndarray>arg)
                and not cnp.PyArray_ISBYTESWAPPED(<cnp.ndarray>arg)):
            return super().maxpool_backward(dout, x, arg, pool_h, pool_w, stride, pad, pool)
        at = cnp.PyArray_TYPE(<cnp.ndarray>arg)
        xa = <cnp.ndarray>x
        n, c = (<object>xa).shape[:2]
        out_h, out_w = check_window(xa, pool_h, pool_w, stride, pad, pooling=True)
        shape = (n, c, out_h, out_w)
        if not ((at == cnp.NPY_UINT8 or at == cnp.NPY_INTP) and (<object>arg).shape == shape):
            return super().maxpool_backward(dout, x, arg, pool_h, pool_w, stride, pad, pool)
        if getattr(dout, "shape", None) != shape:
            raise _shape_error(dout, shape)
        dk = kernel_input_as(dout, cnp.PyArray_TYPE(xa), pool)
        if dk is None:
            return super().maxpool_backward(dout, x, arg, pool_h, pool_w, stride, pad, pool)
        dx = pool_take_like(pool, xa, -1)
        pool_backward(dk, arg.reshape(-1), pool_h, pool_w, stride, pad, dx)
        return dx

