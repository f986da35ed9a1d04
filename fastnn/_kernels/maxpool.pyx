# cython: language_level=3
"""Max pooling (the book's ``Pooling``) straight on NCHW, without im2col.

The argmax index of each window (the book's tie rule: the first maximum,
NaN winning, as ``np.argmax``) is kept in NCHW order, one byte each when
the window has at most 256 entries (the layer turns it into the book's
``arg_max`` layout only when that is read).  2x2 windows of stride 2, the
book's pooling, run row loops of ``maxpool_simd.h`` that GCC vectorizes.
Everything is ``nogil`` on typed memoryviews fused over float32/float64,
writing into caller-provided buffers; ``MaxPoolOps`` (mixed into
:class:`fastnn.backends.CompiledOps`) checks shapes and layouts first.
"""
cimport cython
from cython cimport floating
from libc.string cimport memset

cimport numpy as cnp
from fastnn._kernels._fastpath cimport is_c_float
from fastnn._kernels.conv cimport _takes
from fastnn._kernels.pool cimport Pool, pool_take, pool_take_like

from fastnn._checks import check_window
from fastnn._kernels.conv import _shape_error

# Window indices: one byte when pool_h·pool_w <= 256.
ctypedef fused index_t:
    unsigned char
    cnp.intp_t

cnp.import_array()


# -- kernels -----------------------------------------------------------------

cdef inline void _pick(floating v, Py_ssize_t i, floating* best, Py_ssize_t* k) noexcept nogil:
    # The book's rule (np.argmax): a larger value, or the first NaN, wins;
    # written as selects, since on real data the comparison is a coin toss
    # that a branch predictor loses.
    cdef int take = (v > best[0]) | ((v != v) & (best[0] == best[0]))
    best[0] = v if take else best[0]
    k[0] = i if take else k[0]


cdef extern from "maxpool_simd.h" nogil:
    void fastnn_unpool2x2_row_d(const double* d, const unsigned char* idx, Py_ssize_t ow_n,
                                double* g0, double* g1)
    void fastnn_unpool2x2_row_f(const float* d, const unsigned char* idx, Py_ssize_t ow_n,
                                float* g0, float* g1)
    int fastnn_pool2x2_row_d(const double* r0, const double* r1, Py_ssize_t ow_n,
                             double* out, unsigned char* idx)
    int fastnn_pool2x2_row_f(const float* r0, const float* r1, Py_ssize_t ow_n,
                             float* out, unsigned char* idx)


cdef void _pool2x2_plane(const floating* x, Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW,
                         floating* out, index_t* am) noexcept nogil:
    # 2x2 windows, stride 2, no padding (the book's pooling) on one plane.
    cdef Py_ssize_t oh, ow, k
    cdef const floating* r0
    cdef const floating* r1
    cdef floating best
    cdef int nan_row
    for oh in range(OH):
        r0 = x + 2 * oh * W
        r1 = r0 + W
        if index_t is cython.uchar:
            if floating is double:
                nan_row = fastnn_pool2x2_row_d(r0, r1, OW, out + oh * OW, am + oh * OW)
            else:
                nan_row = fastnn_pool2x2_row_f(r0, r1, OW, out + oh * OW, am + oh * OW)
            if not nan_row:
                continue
        for ow in range(OW):
            best = r0[2 * ow]
            k = 0
            _pick(r0[2 * ow + 1], 1, &best, &k)
            _pick(r1[2 * ow], 2, &best, &k)
            _pick(r1[2 * ow + 1], 3, &best, &k)
            out[oh * OW + ow] = best
            am[oh * OW + ow] = <index_t>k


def pool_forward(const floating[:, :, :, ::1] x, Py_ssize_t PH, Py_ssize_t PW,
                 Py_ssize_t stride, Py_ssize_t pad, floating[:, :, :, ::1] out,
                 index_t[::1] arg_max):
    """out (N, C, OH, OW): the maximum of each window (padding counts as 0);
    arg_max (N·C·OH·OW,), in NCHW order: the window index fh·PW + fw of
    the first maximum (NaN wins, as in np.argmax)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t OH = out.shape[2], OW = out.shape[3]
    cdef Py_ssize_t n, c, oh, ow, fh, fw, ih, iw, k, best_k
    cdef floating v, best
    cdef const floating* xc
    cdef const floating* win
    cdef int take
    cdef floating* o
    if N * C * OH * OW == 0:
        return
    with nogil:
        for n in range(N):
            for c in range(C):
                xc = &x[0, 0, 0, 0] + (n * C + c) * H * W
                o = &out[0, 0, 0, 0] + (n * C + c) * OH * OW
                if pad == 0 and PH == 2 and PW == 2 and stride == 2:
                    _pool2x2_plane(xc, W, OH, OW, o,
                                   &arg_max[0] + (n * C + c) * OH * OW)
                    continue
                if pad == 0:
                    # Every window inside the image: no bounds checks.
                    for oh in range(OH):
                        for ow in range(OW):
                            win = xc + oh * stride * W + ow * stride
                            best = win[0]
                            best_k = 0
                            k = 0
                            for fh in range(PH):
                                for fw in range(PW):
                                    v = win[fh * W + fw]
                                    # Branch-free (conditional moves): on
                                    # random data the comparison is a coin
                                    # toss the branch predictor loses.
                                    take = (v > best) | ((v != v) & (best == best))
                                    best = v if take else best
                                    best_k = k if take else best_k
                                    k += 1
                            o[oh * OW + ow] = best
                            arg_max[((n * C + c) * OH + oh) * OW + ow] = <index_t>best_k
                    continue
                for oh in range(OH):
                    for ow in range(OW):
                        best_k = -1
                        best = 0
                        k = 0
                        for fh in range(PH):
                            ih = oh * stride + fh - pad
                            for fw in range(PW):
                                iw = ow * stride + fw - pad
                                if ih < 0 or ih >= H or iw < 0 or iw >= W:
                                    v = 0
                                else:
                                    v = xc[ih * W + iw]
                                if best_k < 0 or v > best or (v != v and best == best):
                                    best = v
                                    best_k = k
                                k += 1
                        o[oh * OW + ow] = best
                        arg_max[((n * C + c) * OH + oh) * OW + ow] = <index_t>best_k


cdef void _unpool_tiled_plane(const floating* d, const index_t* am,
                              Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t H, Py_ssize_t W,
                              Py_ssize_t OH, Py_ssize_t OW, floating* g) noexcept nogil:
    cdef Py_ssize_t oh, ow, fh, fw, k, r
    cdef floating v
    cdef floating* row
    for oh in range(OH):
        if index_t is cython.uchar and PH == 2 and PW == 2:
            row = g + oh * 2 * W
            if floating is double:
                fastnn_unpool2x2_row_d(d + oh * OW, am + oh * OW, OW, row, row + W)
            else:
                fastnn_unpool2x2_row_f(d + oh * OW, am + oh * OW, OW, row, row + W)
            for fw in range(OW * 2, W):        # a column no window covers
                row[fw] = 0
                row[W + fw] = 0
            continue
        for fh in range(PH):
            row = g + (oh * PH + fh) * W
            if PW == 2:
                for ow in range(OW):
                    k = <Py_ssize_t>am[oh * OW + ow] - fh * 2
                    v = d[oh * OW + ow]
                    row[2 * ow] = v if k == 0 else 0
                    row[2 * ow + 1] = v if k == 1 else 0
            else:
                for ow in range(OW):
                    k = <Py_ssize_t>am[oh * OW + ow] - fh * PW
                    v = d[oh * OW + ow]
                    for fw in range(PW):
                        row[ow * PW + fw] = v if k == fw else 0
            for fw in range(OW * PW, W):       # columns no window covers
                row[fw] = 0
    for r in range(OH * PH, H):                # rows no window covers
        memset(g + r * W, 0, W * sizeof(floating))


def pool_backward(const floating[:, :, :, ::1] dout, const index_t[::1] arg_max,
                  Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t stride, Py_ssize_t pad,
                  floating[:, :, :, ::1] dx):
    """dx (N, C, H, W): each dout entry added at its window's arg_max
    (positions in the padding are dropped, as col2im crops them)."""
    cdef Py_ssize_t N = dx.shape[0], C = dx.shape[1], H = dx.shape[2], W = dx.shape[3]
    cdef Py_ssize_t OH = dout.shape[2], OW = dout.shape[3]
    cdef Py_ssize_t n, c, oh, ow, ih, iw, k
    cdef const floating* d
    cdef floating* g
    if N * C * H * W == 0:
        return
    if pad == 0 and stride == PH and stride == PW and OH * OW > 0:
        # Windows tile the image without overlap: every covered pixel is
        # written once (dout or 0), no zeroing pass and no read-modify-write.
        with nogil:
            for n in range(N):
                for c in range(C):
                    _unpool_tiled_plane(&dout[0, 0, 0, 0] + (n * C + c) * OH * OW,
                                        &arg_max[0] + (n * C + c) * OH * OW, PH, PW,
                                        H, W, OH, OW, &dx[0, 0, 0, 0] + (n * C + c) * H * W)
        return
    with nogil:
        memset(&dx[0, 0, 0, 0], 0, N * C * H * W * sizeof(floating))
    if OH * OW == 0:
        return
    with nogil:
        for n in range(N):
            for c in range(C):
                d = &dout[0, 0, 0, 0] + (n * C + c) * OH * OW
                g = &dx[0, 0, 0, 0] + (n * C + c) * H * W
                for oh in range(OH):
                    for ow in range(OW):
                        k = <Py_ssize_t>arg_max[((n * C + c) * OH + oh) * OW + ow]
                        ih = oh * stride + k // PW - pad
                        iw = ow * stride + k % PW - pad
                        if ih >= 0 and ih < H and iw >= 0 and iw < W:
                            g[ih * W + iw] += d[oh * OW + ow]


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
        xk = _takes(x, t, pool, "x") if t == cnp.NPY_FLOAT or t == cnp.NPY_DOUBLE else None
        if xk is None:
            return super().maxpool_forward(x, pool_h, pool_w, stride, pad, pool)
        dims[0] = cnp.PyArray_DIMS(xk)[0]
        dims[1] = cnp.PyArray_DIMS(xk)[1]
        dims[2] = out_h
        dims[3] = out_w
        out = pool_take(pool, "out", 4, dims, t)
        arg = pool_take(pool, "arg", 4, dims,
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
        dk = _takes(dout, cnp.PyArray_TYPE(xa), pool, "dout")
        if dk is None:
            return super().maxpool_backward(dout, x, arg, pool_h, pool_w, stride, pad, pool)
        dx = pool_take_like(pool, "dx", xa, -1)
        pool_backward(dk, arg.reshape(-1), pool_h, pool_w, stride, pad, dx)
        return dx

