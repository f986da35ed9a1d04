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
* max pooling lives in ``maxpool.pyx``.

Everything is ``nogil`` on typed memoryviews fused over float32/float64,
writing into caller-provided buffers; the callers (``ConvOps`` below, the
overrides of :class:`fastnn.backends.CompiledOps` that
``fastnn._layers_conv`` calls, and ``fastnn.util``) check shapes and layouts
first.  GEMMs go through ``gemm_rm`` (SciPy's BLAS, see ``affine.pyx``).
"""
from cython cimport floating
from libc.string cimport memset

import numpy as np
cimport numpy as cnp
from fastnn._kernels.affine cimport gemm_rm, _grad_buffer
from fastnn._kernels._fastpath cimport is_c_float, is_float_array, same_dtype, is_vector
from fastnn._kernels.pool cimport Pool, pool_take, pool_take_like

from fastnn._checks import check_window
from fastnn._kernels.winograd import wino_conv, wino_sizes, wino_weight_grad

cnp.import_array()


# -- window sweeps ------------------------------------------------------------

cdef extern from "conv_simd.h" nogil:
    void fastnn_im2col_t_d(const double* x, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                           Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t s, Py_ssize_t pad,
                           Py_ssize_t OH, Py_ssize_t OW, double* colT)
    void fastnn_im2col_t_f(const float* x, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                           Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t s, Py_ssize_t pad,
                           Py_ssize_t OH, Py_ssize_t OW, float* colT)
    void fastnn_col2im_t_add_d(const double* colT, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                               Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t s, Py_ssize_t pad,
                               Py_ssize_t OH, Py_ssize_t OW, double* dx)
    void fastnn_col2im_t_add_f(const float* colT, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                               Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t s, Py_ssize_t pad,
                               Py_ssize_t OH, Py_ssize_t OW, float* dx)


cdef void im2col_t(const floating* x, const Window* g, floating* colT) noexcept nogil:
    if floating is float:
        fastnn_im2col_t_f(x, g.C, g.H, g.W, g.FH, g.FW, g.stride, g.pad, g.OH, g.OW, colT)
    else:
        fastnn_im2col_t_d(x, g.C, g.H, g.W, g.FH, g.FW, g.stride, g.pad, g.OH, g.OW, colT)


cdef void col2im_t_add(const floating* colT, const Window* g, floating* dx) noexcept nogil:
    if floating is float:
        fastnn_col2im_t_add_f(colT, g.C, g.H, g.W, g.FH, g.FW, g.stride, g.pad, g.OH, g.OW, dx)
    else:
        fastnn_col2im_t_add_d(colT, g.C, g.H, g.W, g.FH, g.FW, g.stride, g.pad, g.OH, g.OW, dx)


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


cdef extern from "sum_simd.h" nogil:
    double fastnn_sum8_d(const double* a, Py_ssize_t n)
    float fastnn_sum8_f(const float* a, Py_ssize_t n)

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


# Winograd F(2x2, 3x3) for float32 3x3 stride-1 convolutions (a switch for
# tests and benchmarks).  float64 keeps im2col's direct sums: its results
# stay the book's but for the GEMM's summation order.
WINOGRAD = True


cdef inline bint _winograd(int t, Py_ssize_t fh, Py_ssize_t fw, Py_ssize_t stride,
                           Py_ssize_t channels):
    # ``channels`` is the GEMMs' inner size (the input channels of the pass):
    # below 8 the 16 small GEMMs cost more than im2col's one (DeepConvNet's
    # 1-channel first layer: 0.6 -> 1.7 ms).
    return (WINOGRAD and t == cnp.NPY_FLOAT and fh == 3 and fw == 3 and stride == 1
            and channels >= 8)


cdef cnp.ndarray _scratch(Pool pool, str slot, Py_ssize_t size, int t):
    cdef cnp.npy_intp dims[1]
    dims[0] = size
    return pool_take(pool, slot, 1, dims, t)


def _shape_error(dout, shape):
    return ValueError("dout has shape %s but the forward output had shape %s"
                      % (getattr(dout, "shape", None), shape))


class ConvOps:
    """Convolution as per-sample im2col + GEMM, in W's dtype.  A float32 x into a float64 layer,
    integers, other byte orders and layouts are converted once into a
    buffer of the pool; anything else (W or b not native floats of one
    dtype, promotion past W's dtype, float16, subclasses) is NumpyOps's.
    ``col`` is never built (None: the layer builds the book's matrix from x
    when it is read)."""

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
        if _winograd(t, fh, fw, stride, c):
            nb, size = wino_sizes(dims[0], c, fn, out_h, out_w, 4)
            wino_conv(xk, W2.reshape(fn, c, 3, 3), np.ascontiguousarray(b), pad, False, out,
                      _scratch(pool, "wino", size, t), nb)
            return out, xk, None, W2.T
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
        if (is_c_float(x, 4) and is_float_array(W) and cnp.PyArray_NDIM(<cnp.ndarray>W) == 4
                and type(col_W) is cnp.ndarray):
            W2 = (<cnp.ndarray>col_W).T
        if not (W2 is not None and is_c_float(W2, 2) and same_dtype(<cnp.ndarray>x, W2)
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
        wino_x = dx is not None and _winograd(t, fh, fw, stride, fn) and pad <= 2
        if dx is None or wino_x:
            if _winograd(t, fh, fw, stride, c):
                nb, size = wino_sizes(n, c, fn, shape[2], shape[3], 4)
                wino_weight_grad(xa, dk, pad, dW, db, _scratch(pool, "wino", size, t), nb)
            else:
                conv_backward(xa, W2, dk, fh, fw, stride, pad, dW.reshape(fn, -1), db, None,
                              colT)
            if wino_x:
                # dx = dout convolved with W's filters transposed and rotated
                # (padding 2 - pad), instead of dcol and col2im.
                nb, size = wino_sizes(n, fn, c, h, w, 4)
                wino_conv(dk, W2.reshape(fn, c, 3, 3), None, 2 - pad, True, dx,
                          _scratch(pool, "wino_dx", size, t), nb)
            return dx, dW, db
        conv_backward(xa, W2, dk, fh, fw, stride, pad, dW.reshape(fn, -1), db, dx, colT)
        return dx, dW, db
