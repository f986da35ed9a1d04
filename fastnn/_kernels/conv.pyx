# cython: language_level=3
"""Convolution and max-pooling kernels (the book's ``Convolution``/``Pooling``).

* ``im2col``/``col2im`` in two layouts: the book's rows ((n, oh, ow) x
  (c, fh, fw), behind :func:`fastnn.util.im2col`) and, per sample,
  channels-first (``colT``: (c, fh, fw) x (oh, ow)), which the layers use:
  the output of a sample is then one GEMM ``W (FN x K) · colT (K x OH·OW)``
  that lands directly in the (FN, OH, OW) block of the NCHW result, and
  the im2col buffer is one sample's (it stays in cache).
* ``conv_forward``/``conv_backward``: per sample, im2col then GEMM;
  backward recomputes the sample's colT (cheaper than keeping the whole
  batch's, which for DeepConvNet is ~90 MB per layer), accumulates dW with
  one GEMM per sample, and, unless dx is None, computes dcolT with a GEMM and
  adds it back with col2im.
* ``pool_forward``/``pool_backward``: max pooling directly on NCHW, without
  im2col; the argmax index of each window (the book's tie rule) in NCHW
  order, one byte each when the window has at most 256 entries (the layer
  turns it into the book's ``arg_max`` layout only when that is read).

Everything is ``nogil`` on typed memoryviews fused over float32/float64,
writing into caller-provided buffers; the callers (``ConvOps`` below, the
overrides of :class:`fastnn.backends.CompiledOps` that
``fastnn._layers_conv`` calls, and ``fastnn.util``) check shapes and layouts
first.  GEMMs go through ``gemm_rm`` (SciPy's BLAS, see ``affine.pyx``).
"""
cimport cython
from cython cimport floating
from libc.string cimport memcpy, memset

import numpy as np
cimport numpy as cnp
from fastnn._kernels.affine cimport gemm_rm, _grad_buffer
from fastnn._kernels._fastpath cimport is_float_array, same_dtype, is_vector
from fastnn._kernels.pool cimport Pool, pool_take, pool_take_like

from fastnn._checks import check_window

# Window indices of max pooling: one byte when pool_h·pool_w <= 256.
ctypedef fused index_t:
    unsigned char
    cnp.intp_t

cnp.import_array()


# -- window sweeps ------------------------------------------------------------

cdef inline Py_ssize_t _first_inside(Py_ssize_t off, Py_ssize_t stride) noexcept nogil:
    # smallest o >= 0 with o·stride + off >= 0
    if off >= 0:
        return 0
    return (-off + stride - 1) // stride


cdef inline Py_ssize_t _end_inside(Py_ssize_t off, Py_ssize_t stride, Py_ssize_t size,
                                   Py_ssize_t count) noexcept nogil:
    # one past the largest o < count with o·stride + off < size
    cdef Py_ssize_t e
    if size - 1 - off < 0:
        return 0
    e = (size - 1 - off) // stride + 1
    return e if e < count else count


cdef void im2col_t(const floating* x, const Window* g, floating* colT) noexcept nogil:
    cdef Py_ssize_t c, fh, fw, oh, ow, ih, lo, hi, s = g.stride
    cdef Py_ssize_t OH = g.OH, OW = g.OW
    cdef floating* dst
    cdef const floating* src
    for c in range(g.C):
        for fh in range(g.FH):
            for fw in range(g.FW):
                lo = _first_inside(fw - g.pad, s)
                hi = _end_inside(fw - g.pad, s, g.W, OW)
                if hi < lo:
                    hi = lo
                for oh in range(OH):
                    dst = colT + oh * OW
                    ih = oh * s + fh - g.pad
                    if ih < 0 or ih >= g.H:
                        memset(dst, 0, OW * sizeof(floating))
                        continue
                    src = x + (c * g.H + ih) * g.W + fw - g.pad
                    for ow in range(lo):
                        dst[ow] = 0
                    if s == 1:
                        memcpy(dst + lo, src + lo, (hi - lo) * sizeof(floating))
                    else:
                        for ow in range(lo, hi):
                            dst[ow] = src[ow * s]
                    for ow in range(hi, OW):
                        dst[ow] = 0
                colT += OH * OW


cdef void col2im_t_add(const floating* colT, const Window* g, floating* dx) noexcept nogil:
    cdef Py_ssize_t c, fh, fw, oh, ow, ih, lo, hi, s = g.stride
    cdef Py_ssize_t OH = g.OH, OW = g.OW
    cdef const floating* src
    cdef floating* dst
    for c in range(g.C):
        for fh in range(g.FH):
            for fw in range(g.FW):
                lo = _first_inside(fw - g.pad, s)
                hi = _end_inside(fw - g.pad, s, g.W, OW)
                for oh in range(OH):
                    ih = oh * s + fh - g.pad
                    if ih < 0 or ih >= g.H:
                        continue
                    src = colT + oh * OW
                    dst = dx + (c * g.H + ih) * g.W + fw - g.pad
                    if s == 1:
                        for ow in range(lo, hi):
                            dst[ow] = dst[ow] + src[ow]
                    else:
                        for ow in range(lo, hi):
                            dst[ow * s] = dst[ow * s] + src[ow]
                colT += OH * OW


cdef void im2col_rows(const floating* x, const Window* g, floating* col) noexcept nogil:
    cdef Py_ssize_t c, fh, fw, oh, ow, ih, iw, s = g.stride
    cdef Py_ssize_t K = g.C * g.FH * g.FW
    cdef floating* row
    for oh in range(g.OH):
        for ow in range(g.OW):
            row = col + (oh * g.OW + ow) * K
            for c in range(g.C):
                for fh in range(g.FH):
                    ih = oh * s + fh - g.pad
                    for fw in range(g.FW):
                        iw = ow * s + fw - g.pad
                        if ih < 0 or ih >= g.H or iw < 0 or iw >= g.W:
                            row[0] = 0
                        else:
                            row[0] = x[(c * g.H + ih) * g.W + iw]
                        row += 1


cdef void col2im_rows_add(const floating* col, const Window* g, floating* dx) noexcept nogil:
    # In the book's order: filter offset (fh, fw) outermost, so every pixel
    # receives its contributions in (fh, fw) order, as the book's slices add.
    cdef Py_ssize_t c, fh, fw, oh, ow, ih, iw, s = g.stride
    cdef Py_ssize_t K = g.C * g.FH * g.FW
    for fh in range(g.FH):
        for fw in range(g.FW):
            for c in range(g.C):
                for oh in range(g.OH):
                    ih = oh * s + fh - g.pad
                    if ih < 0 or ih >= g.H:
                        continue
                    for ow in range(g.OW):
                        iw = ow * s + fw - g.pad
                        if iw < 0 or iw >= g.W:
                            continue
                        dx[(c * g.H + ih) * g.W + iw] += \
                            col[(oh * g.OW + ow) * K + (c * g.FH + fh) * g.FW + fw]


cdef Window _window(Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t FH, Py_ssize_t FW,
                    Py_ssize_t stride, Py_ssize_t pad, Py_ssize_t OH, Py_ssize_t OW) noexcept:
    cdef Window g
    g.C = C
    g.H = H
    g.W = W
    g.FH = FH
    g.FW = FW
    g.stride = stride
    g.pad = pad
    g.OH = OH
    g.OW = OW
    return g


# -- the book's im2col / col2im (fastnn.util) -----------------------------------

def im2col_into(const floating[:, :, :, ::1] x, Py_ssize_t FH, Py_ssize_t FW,
                Py_ssize_t stride, Py_ssize_t pad, Py_ssize_t OH, Py_ssize_t OW,
                floating[:, ::1] col):
    """col (N·OH·OW, C·FH·FW) = the book's im2col of x.  Trusted sizes."""
    cdef Window g = _window(x.shape[1], x.shape[2], x.shape[3], FH, FW, stride, pad, OH, OW)
    cdef Py_ssize_t n, per = OH * OW * g.C * FH * FW, img = g.C * g.H * g.W
    if col.shape[0] == 0 or col.shape[1] == 0:
        return
    with nogil:
        for n in range(x.shape[0]):
            im2col_rows(&x[0, 0, 0, 0] + n * img, &g, &col[0, 0] + n * per)


def col2im_into(const floating[:, ::1] col, Py_ssize_t FH, Py_ssize_t FW,
                Py_ssize_t stride, Py_ssize_t pad, Py_ssize_t OH, Py_ssize_t OW,
                floating[:, :, :, ::1] dx):
    """dx (N, C, H, W) = the book's col2im of col (overlaps added).  dx is zeroed here."""
    cdef Window g = _window(dx.shape[1], dx.shape[2], dx.shape[3], FH, FW, stride, pad, OH, OW)
    cdef Py_ssize_t n, per = OH * OW * g.C * FH * FW, img = g.C * g.H * g.W
    if dx.shape[0] * img == 0:
        return
    with nogil:
        memset(&dx[0, 0, 0, 0], 0, dx.shape[0] * img * sizeof(floating))
    if per == 0:
        return
    with nogil:
        for n in range(dx.shape[0]):
            col2im_rows_add(&col[0, 0] + n * per, &g, &dx[0, 0, 0, 0] + n * img)


# -- convolution ---------------------------------------------------------------------

def conv_forward(const floating[:, :, :, ::1] x, const floating[:, ::1] W2,
                 const floating[::1] b, Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t stride,
                 Py_ssize_t pad, floating[:, :, :, ::1] out, floating[:, ::1] colT):
    """out (N, FN, OH, OW) = conv(x, W2 reshaped (FN, C·FH·FW)) + b.

    ``colT`` is scratch of (C·FH·FW, OH·OW).  Trusted shapes (checked by the
    layer), every array C-contiguous and of one dtype, out not overlapping.
    """
    cdef Py_ssize_t N = x.shape[0], FN = W2.shape[0], K = W2.shape[1]
    cdef Window g = _window(x.shape[1], x.shape[2], x.shape[3], FH, FW, stride, pad,
                            out.shape[2], out.shape[3])
    cdef Py_ssize_t P = g.OH * g.OW, img = g.C * g.H * g.W, n, f, j
    cdef floating* o
    cdef floating bf
    if N == 0 or FN == 0 or P == 0:
        return
    with nogil:
        for n in range(N):
            o = &out[0, 0, 0, 0] + n * FN * P
            for f in range(FN):
                bf = b[f]
                for j in range(P):
                    o[f * P + j] = bf
            if K == 0:
                continue
            im2col_t(&x[0, 0, 0, 0] + n * img, &g, &colT[0, 0])
            gemm_rm(c'N', c'N', <int>FN, <int>P, <int>K, <floating>1, &W2[0, 0], <int>K,
                    &colT[0, 0], <int>P, <floating>1, o, <int>P)


def conv_backward(const floating[:, :, :, ::1] x, const floating[:, ::1] W2,
                  const floating[:, :, :, ::1] dout, Py_ssize_t FH, Py_ssize_t FW,
                  Py_ssize_t stride, Py_ssize_t pad, floating[:, ::1] dW2, floating[::1] db,
                  floating[:, :, :, ::1] dx, floating[:, ::1] colT):
    """dW2 (FN, K) = Σ_n dout_n · colT_nᵀ, db = Σ dout over (n, oh, ow) and,
    unless dx is None, dx = col2im(W2ᵀ · dout_n) per sample.

    ``colT`` is scratch of (K, OH·OW) (it holds colT_n, then dcolT_n).
    Trusted shapes, C-contiguous, one dtype, outputs not overlapping inputs.
    """
    cdef Py_ssize_t N = x.shape[0], FN = W2.shape[0], K = W2.shape[1]
    cdef Window g = _window(x.shape[1], x.shape[2], x.shape[3], FH, FW, stride, pad,
                            dout.shape[2], dout.shape[3])
    cdef Py_ssize_t P = g.OH * g.OW, img = g.C * g.H * g.W, n, f, j
    cdef bint want_dx = dx is not None
    cdef const floating* d
    cdef floating* dxp = NULL
    cdef floating* dWp = &dW2[0, 0] if FN * K else NULL
    with nogil:
        if FN * K:
            memset(dWp, 0, FN * K * sizeof(floating))
        for f in range(FN):
            db[f] = 0
    if want_dx:
        if N * img == 0:
            want_dx = False
        else:
            dxp = &dx[0, 0, 0, 0]
            with nogil:
                memset(dxp, 0, N * img * sizeof(floating))
    if N == 0 or FN == 0 or P == 0:
        return
    with nogil:
        for n in range(N):
            d = &dout[0, 0, 0, 0] + n * FN * P
            for f in range(FN):
                if floating is double:
                    db[f] += fastnn_sum8_d(d + f * P, P)
                else:
                    db[f] += fastnn_sum8_f(d + f * P, P)
            if K == 0:
                continue
            im2col_t(&x[0, 0, 0, 0] + n * img, &g, &colT[0, 0])
            gemm_rm(c'N', c'T', <int>FN, <int>K, <int>P, <floating>1, d, <int>P,
                    &colT[0, 0], <int>P, <floating>1, dWp, <int>K)
            if want_dx:
                gemm_rm(c'T', c'N', <int>K, <int>P, <int>FN, <floating>1, &W2[0, 0], <int>K,
                        d, <int>P, <floating>0, &colT[0, 0], <int>P)
                col2im_t_add(&colT[0, 0], &g, dxp + n * img)


# -- max pooling -----------------------------------------------------------------

cdef inline void _pick(floating v, Py_ssize_t i, floating* best, Py_ssize_t* k) noexcept nogil:
    # The book's rule (np.argmax): a larger value, or the first NaN, wins;
    # written as selects, since on real data the comparison is a coin toss
    # that a branch predictor loses.
    cdef int take = (v > best[0]) | ((v != v) & (best[0] == best[0]))
    best[0] = v if take else best[0]
    k[0] = i if take else k[0]


cdef extern from "conv_simd.h" nogil:
    double fastnn_sum8_d(const double* a, Py_ssize_t n)
    float fastnn_sum8_f(const float* a, Py_ssize_t n)
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

cdef object _takes(object a, int typenum, Pool pool, str slot):
    """``a`` as the kernels read it: a native, aligned, C-contiguous array of
    ``typenum`` -- ``a`` itself, or converted once into ``pool``'s ``slot``
    when NumPy promotes a's dtype to that one (other byte order or layout,
    float32 into a float64 layer, integers) -- or None for anything else
    (then NumpyOps runs): the family's one dispatch predicate."""
    cdef cnp.ndarray arr, buf
    if type(a) is not cnp.ndarray:
        return None
    arr = <cnp.ndarray>a
    if (cnp.PyArray_TYPE(arr) == typenum and not cnp.PyArray_ISBYTESWAPPED(arr)
            and cnp.PyArray_ISCARRAY_RO(arr)):
        return arr
    dt = cnp.PyArray_DescrFromType(typenum)
    if arr.dtype.kind not in "biuf" or np.result_type(arr.dtype, dt) != dt:
        return None
    buf = pool_take_like(pool, slot, arr, typenum)
    np.copyto(buf, arr, casting="unsafe")
    return buf


cdef inline bint _is_c_float(object a, int nd) noexcept:
    """A native, aligned, C-contiguous float32/float64 array of ``nd`` dimensions."""
    return (is_float_array(a) and cnp.PyArray_NDIM(<cnp.ndarray>a) == nd
            and cnp.PyArray_ISCARRAY_RO(<cnp.ndarray>a))


def _shape_error(dout, shape):
    return ValueError("dout has shape %s but the forward output had shape %s"
                      % (getattr(dout, "shape", None), shape))


class ConvOps:
    """Convolution as per-sample im2col + GEMM and max pooling straight on
    NCHW, in W's (pooling: x's) dtype.  A float32 x into a float64 layer,
    integers, other byte orders and layouts are converted once into a
    buffer of the pool; anything else (W or b not native floats of one
    dtype, promotion past W's dtype, float16, subclasses) is NumpyOps's.
    ``col`` is never built (None: the layer builds the book's matrix from x
    when it is read) and ``arg`` is uint8 when a window has at most 256
    entries."""

    def conv_forward(self, x, W, b, stride=1, pad=0, Pool pool=None):
        cdef cnp.ndarray wa, xk, out, colT
        cdef cnp.npy_intp dims[4]
        cdef int t
        if not (is_float_array(W) and cnp.PyArray_NDIM(<cnp.ndarray>W) == 4):
            return super().conv_forward(x, W, b, stride, pad, pool)
        wa = <cnp.ndarray>W
        t = cnp.PyArray_TYPE(wa)
        if not is_vector(b, t, cnp.PyArray_DIMS(wa)[0]):
            return super().conv_forward(x, W, b, stride, pad, pool)
        fn, c, fh, fw = (<object>wa).shape
        out_h, out_w = check_window(x, fh, fw, stride, pad, channels=c)
        xk = _takes(x, t, pool, "x")
        if xk is None:
            return super().conv_forward(x, W, b, stride, pad, pool)
        if not cnp.PyArray_ISCARRAY_RO(wa):
            wa = np.array(wa, order="C")
        W2 = wa.reshape(fn, -1)
        dims[0] = cnp.PyArray_DIMS(xk)[0]
        dims[1] = fn
        dims[2] = out_h
        dims[3] = out_w
        out = pool_take(pool, "out", 4, dims, t)
        dims[0] = c * fh * fw
        dims[1] = out_h * out_w
        colT = pool_take(pool, "colT", 2, dims, t)
        conv_forward(xk, W2, np.ascontiguousarray(b), fh, fw, stride, pad, out, colT)
        return out, xk, None, W2.T

    def conv_backward(self, dout, x, col, col_W, W, stride=1, pad=0, need_dx=True,
                      Pool pool=None, dW=None, db=None):
        cdef cnp.ndarray xa, wa, W2, dk, colT
        cdef cnp.npy_intp dims[2]
        cdef int t
        W2 = None
        if (_is_c_float(x, 4) and is_float_array(W) and cnp.PyArray_NDIM(<cnp.ndarray>W) == 4
                and type(col_W) is cnp.ndarray):
            W2 = (<cnp.ndarray>col_W).T
        if not (W2 is not None and _is_c_float(W2, 2) and same_dtype(<cnp.ndarray>x, W2)
                and same_dtype(<cnp.ndarray>x, <cnp.ndarray>W)):
            return super().conv_backward(dout, x, col, col_W, W, stride, pad, need_dx, pool)
        xa, wa = <cnp.ndarray>x, <cnp.ndarray>W
        t = cnp.PyArray_TYPE(xa)
        fn, c, fh, fw = (<object>wa).shape
        n, xc, h, w = (<object>xa).shape
        if (<object>W2).shape != (fn, c * fh * fw) or xc != c:
            return super().conv_backward(dout, x, col, col_W, W, stride, pad, need_dx, pool)
        shape = (n, fn, (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1)
        if getattr(dout, "shape", None) != shape:
            raise _shape_error(dout, shape)
        dk = _takes(dout, t, pool, "dout")
        if dk is None:
            return super().conv_backward(dout, x, col, col_W, W, stride, pad, need_dx, pool)
        dW = _grad_buffer(dW, wa)
        dims[0] = fn
        if not (is_vector(db, t, fn) and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>db)
                and cnp.PyArray_ISWRITEABLE(<cnp.ndarray>db)):
            db = cnp.PyArray_EMPTY(1, dims, t, 0)
        dx = pool_take_like(pool, "dx", xa, -1) if need_dx else None
        dims[0] = c * fh * fw
        dims[1] = shape[2] * shape[3]
        colT = pool_take(pool, "colT", 2, dims, t)
        conv_backward(xa, W2, dk, fh, fw, stride, pad, dW.reshape(fn, -1), db, dx, colT)
        return dx, dW, db

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
        if not (_is_c_float(x, 4) and type(arg) is cnp.ndarray
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
