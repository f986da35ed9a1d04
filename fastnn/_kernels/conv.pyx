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
  adds it back with col2im.  The samples go over the thread pool (each
  thread im2col-ing into its own slab, its GEMMs on one thread); backward
  sums dW by fixed groups of samples (``conv_groups``), then the groups in
  order.
* max pooling lives in ``maxpool.pyx``.

The loops are C (``conv_simd.h``), bound once per dtype (FASTNN_BY_DTYPE);
the ``def`` kernels check dtypes, ranks and layouts (check_kernel_arrays),
trust the shapes their callers (``ConvOps`` below, which
``fastnn.layers`` calls, and ``fastnn.util``) have checked, and run
``nogil`` into caller-provided buffers.  GEMMs go through ``blas_gemm``
(fastnn's OpenBLAS, see ``parallel.pyx``); float32 3x3 stride-1 layers go to
``winograd.pyx``.
"""
from libc.string cimport memset

import numpy as np
cimport numpy as cnp
from fastnn._kernels._shared cimport (bias_grad, blas_gemm, blas_serial, check_blas_sizes,
                                      check_kernel_arrays, check_shape, elem_at, grad_buffer,
                                      is_c_float, is_f32, is_float_array, is_vector,
                                      kernel_input_as, Pool,
                                      pool_take, pool_take_like, pool_threads, run_parallel,
                                      same_dtype, window_count)

from fastnn._checks import check_window
from fastnn._kernels.parallel import get_threads
from fastnn._kernels.winograd import wino_conv, wino_sizes, wino_weight_grad

cnp.import_array()


# -- kernels (conv_simd.h, sum_simd.h) ------------------------------------------

cdef extern from "conv_simd.h" nogil:
    # colT (C·FH·FW x OH·OW) of one sample image (C, H, W), channels-first,
    # 0 in the padding; adjoint: its entries added back into image
    void fastnn_colT(bint f32, bint adjoint, void* image, Py_ssize_t C, Py_ssize_t H,
                     Py_ssize_t W, Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t s, Py_ssize_t pad,
                     Py_ssize_t OH, Py_ssize_t OW, void* colT)
    # the book's rows (OH·OW x C·FH·FW) of one sample, and their adjoint
    void fastnn_im2col_rows(bint f32, const void* x, Py_ssize_t C, Py_ssize_t H,
                            Py_ssize_t W, Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t s,
                            Py_ssize_t pad, Py_ssize_t OH, Py_ssize_t OW, void* col)
    void fastnn_col2im_rows_add(bint f32, const void* col, Py_ssize_t C, Py_ssize_t H,
                                Py_ssize_t W, Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t s,
                                Py_ssize_t pad, Py_ssize_t OH, Py_ssize_t OW, void* dx)
    # out[f][p] = b[f]
    void fastnn_fill_planes(bint f32, void* out, Py_ssize_t FN, Py_ssize_t P, const void* b)

cdef extern from "sum_simd.h" nogil:
    void fastnn_add_planes(bint f32, void* dst, const void* parts, Py_ssize_t G, Py_ssize_t n)


# -- the book's im2col / col2im (fastnn.util) -----------------------------------

cdef void _book_sweep(cnp.ndarray img, cnp.ndarray col, Py_ssize_t FH, Py_ssize_t FW,
                      Py_ssize_t stride, Py_ssize_t pad, Py_ssize_t OH, Py_ssize_t OW,
                      bint adjoint) except *:
    # im2col of img (N, C, H, W) into the book's col, or (adjoint) col2im of
    # col added into img zeroed first
    if adjoint:
        arrays = (("col", col, 2, False), ("dx", img, 4, True))
    else:
        arrays = (("x", img, 4, False), ("col", col, 2, True))
    cdef bint f32 = check_kernel_arrays(arrays)
    cdef Py_ssize_t N = img.shape[0], C = img.shape[1], H = img.shape[2], W = img.shape[3]
    cdef Py_ssize_t per = OH * OW * C * FH * FW, n
    cdef void* xd = cnp.PyArray_DATA(img)
    cdef void* cd = cnp.PyArray_DATA(col)
    if (OH, OW) != (window_count(H, FH, stride, pad), window_count(W, FW, stride, pad)):
        raise ValueError("OH, OW = %d, %d do not match the windows of the image" % (OH, OW))
    check_shape("col", col, (N * OH * OW, C * FH * FW))
    with nogil:
        if adjoint:
            memset(xd, 0, cnp.PyArray_NBYTES(img))
        for n in range(N if per else 0):
            if adjoint:
                fastnn_col2im_rows_add(f32, elem_at(cd, n * per, f32), C, H, W, FH, FW,
                                       stride, pad, OH, OW, elem_at(xd, n * C * H * W, f32))
            else:
                fastnn_im2col_rows(f32, elem_at(xd, n * C * H * W, f32), C, H, W, FH, FW,
                                   stride, pad, OH, OW, elem_at(cd, n * per, f32))


def im2col_into(cnp.ndarray x, Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t stride,
                Py_ssize_t pad, Py_ssize_t OH, Py_ssize_t OW, cnp.ndarray col):
    """col (N·OH·OW, C·FH·FW) = the book's im2col of x.  Trusted sizes."""
    _book_sweep(x, col, FH, FW, stride, pad, OH, OW, False)


def col2im_into(cnp.ndarray col, Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t stride,
                Py_ssize_t pad, Py_ssize_t OH, Py_ssize_t OW, cnp.ndarray dx):
    """dx (N, C, H, W) = the book's col2im of col (overlaps added).  dx is zeroed here."""
    _book_sweep(dx, col, FH, FW, stride, pad, OH, OW, True)


# -- convolution ---------------------------------------------------------------------

cdef int _check_conv(cnp.ndarray x, cnp.ndarray W2, Py_ssize_t FH, Py_ssize_t FW,
                     Py_ssize_t stride, Py_ssize_t pad, str y_name, cnp.ndarray y,
                     cnp.ndarray colT) except -1:
    # y: the output or dout, (N, FN, OH, OW) with OH, OW x's windows; colT
    # (S, K, OH·OW): one slab for each of S threads
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], FN = W2.shape[0]
    cdef Py_ssize_t OH = window_count(x.shape[2], FH, stride, pad)
    cdef Py_ssize_t OW = window_count(x.shape[3], FW, stride, pad)
    check_shape("W2", W2, (FN, C * FH * FW))
    check_shape(y_name, y, (N, FN, OH, OW))
    if colT.shape[0] < 1:
        raise ValueError("colT must hold at least one slab, got shape %s"
                         % ((<object>colT).shape,))
    check_shape("colT", colT, (colT.shape[0], C * FH * FW, OH * OW))
    check_blas_sizes(FN, C * FH * FW, OH * OW)
    return 0


cdef struct Conv:
    # one convolution's sizes and arrays (float32 when f32, else float64)
    bint f32
    Py_ssize_t C, H, W, FH, FW, stride, pad, OH, OW, FN, K, P
    const void* x
    const void* w
    const void* b
    const void* dout
    void* out
    void* dW
    void* dx
    void* colT       # S slabs of K·P
    void* parts      # G - 1 partial dW of FN·K (backward)
    Py_ssize_t N, G


cdef inline void* _slab(const Conv* c, int slot) noexcept nogil:
    # thread ``slot``'s colT slab
    return elem_at(c.colT, slot * c.K * c.P, c.f32)


cdef void _forward_piece(void* ctx, Py_ssize_t n, int slot) noexcept nogil:
    _forward_sample(<const Conv*>ctx, n, _slab(<const Conv*>ctx, slot))


cdef void _backward_piece(void* ctx, Py_ssize_t g, int slot) noexcept nogil:
    _backward_group(<const Conv*>ctx, g, _slab(<const Conv*>ctx, slot))


cdef void _forward_sample(const Conv* c, Py_ssize_t n, void* col) noexcept nogil:
    cdef void* o = elem_at(c.out, n * c.FN * c.P, c.f32)
    fastnn_fill_planes(c.f32, o, c.FN, c.P, c.b)
    if c.K == 0:
        return
    fastnn_colT(c.f32, False, elem_at(c.x, n * c.C * c.H * c.W, c.f32), c.C, c.H, c.W, c.FH,
                c.FW, c.stride, c.pad, c.OH, c.OW, col)
    blas_gemm(c.f32, c'N', c'N', <int>c.FN, <int>c.P, <int>c.K, 1.0, c.w, <int>c.K, col,
              <int>c.P, 1.0, o, <int>c.P)


cdef void _backward_group(const Conv* c, Py_ssize_t g, void* col) noexcept nogil:
    # samples [N·g/G, N·(g+1)/G): their dW terms added into dW (g = 0) or
    # partial g - 1, in sample order, and their dx
    cdef Py_ssize_t n, img = c.C * c.H * c.W
    cdef const void* d
    cdef void* acc = c.dW if g == 0 else elem_at(c.parts, (g - 1) * c.FN * c.K, c.f32)
    if g > 0:
        memset(acc, 0, c.FN * c.K * (4 if c.f32 else 8))
    for n in range(c.N * g // c.G, c.N * (g + 1) // c.G):
        d = elem_at(c.dout, n * c.FN * c.P, c.f32)
        fastnn_colT(c.f32, False, elem_at(c.x, n * img, c.f32), c.C, c.H, c.W, c.FH, c.FW,
                    c.stride, c.pad, c.OH, c.OW, col)
        blas_gemm(c.f32, c'N', c'T', <int>c.FN, <int>c.K, <int>c.P, 1.0, d, <int>c.P, col,
                  <int>c.P, 1.0, acc, <int>c.K)
        if c.dx != NULL:
            blas_gemm(c.f32, c'T', c'N', <int>c.K, <int>c.P, <int>c.FN, 1.0, c.w, <int>c.K, d,
                      <int>c.P, 0.0, col, <int>c.P)
            fastnn_colT(c.f32, True, elem_at(c.dx, n * img, c.f32), c.C, c.H, c.W, c.FH,
                        c.FW, c.stride, c.pad, c.OH, c.OW, col)


cdef void _start(Conv* c, cnp.ndarray x, cnp.ndarray W2, Py_ssize_t FH, Py_ssize_t FW,
                 Py_ssize_t stride, Py_ssize_t pad, Py_ssize_t OH, Py_ssize_t OW,
                 cnp.ndarray colT) noexcept:
    c.f32 = is_f32(x)
    c.N, c.C, c.H, c.W = x.shape[0], x.shape[1], x.shape[2], x.shape[3]
    c.FH, c.FW, c.stride, c.pad, c.OH, c.OW = FH, FW, stride, pad, OH, OW
    c.FN, c.K, c.P = W2.shape[0], W2.shape[1], OH * OW
    c.x, c.w, c.colT = cnp.PyArray_DATA(x), cnp.PyArray_DATA(W2), cnp.PyArray_DATA(colT)
    c.b = c.dout = c.out = c.dW = c.dx = c.parts = NULL
    c.G = 1


def conv_forward(cnp.ndarray x, cnp.ndarray W2, cnp.ndarray b, Py_ssize_t FH, Py_ssize_t FW,
                 Py_ssize_t stride, Py_ssize_t pad, cnp.ndarray out, cnp.ndarray colT):
    """out (N, FN, OH, OW) = conv(x, W2 reshaped (FN, C·FH·FW)) + b.

    ``colT`` is scratch of (S, C·FH·FW, OH·OW): the samples go over up to S
    of the pool's threads, each im2col-ing into its own slab.  Trusted
    shapes (checked by the layer), every array C-contiguous and of one
    dtype, out not overlapping.
    """
    check_kernel_arrays((("x", x, 4, False), ("W2", W2, 2, False), ("b", b, 1, False),
                         ("out", out, 4, True), ("colT", colT, 3, True)))
    _check_conv(x, W2, FH, FW, stride, pad, "out", out, colT)
    check_shape("b", b, (W2.shape[0],))
    cdef Conv c
    _start(&c, x, W2, FH, FW, stride, pad, out.shape[2], out.shape[3], colT)
    c.b, c.out = cnp.PyArray_DATA(b), cnp.PyArray_DATA(out)
    cdef Py_ssize_t n
    cdef int nt = min(pool_threads(), colT.shape[0], c.N)
    if c.N == 0 or c.FN == 0 or c.P == 0:
        return
    with nogil:
        if nt > 1:
            blas_serial()
            run_parallel(_forward_piece, &c, c.N, nt, (c.N * c.FN * 1000003 + c.K) * 1000003 + c.P)
        else:
            for n in range(c.N):
                _forward_sample(&c, n, c.colT)


def conv_groups(Py_ssize_t N, int threads):
    """Sample groups of a backward pass on ``threads`` threads: each group's
    weight gradient is summed apart, and the groups' in group order, so the
    result depends on the thread count only (1 group on one thread: the
    samples in order, as the book's one GEMM over the batch)."""
    return 1 if threads <= 1 or N <= 1 else min(N, threads)


def conv_backward(cnp.ndarray x, cnp.ndarray W2, cnp.ndarray dout, Py_ssize_t FH,
                  Py_ssize_t FW, Py_ssize_t stride, Py_ssize_t pad, cnp.ndarray dW2,
                  cnp.ndarray db, object dx, cnp.ndarray colT, object parts=None):
    """dW2 (FN, K) = Σ_n dout_n · colT_nᵀ, db = Σ dout over (n, oh, ow) and,
    unless dx is None, dx = col2im(W2ᵀ · dout_n) per sample.

    ``colT`` is scratch of (S, K, OH·OW), a slab for each of up to S
    threads (it holds colT_n, then dcolT_n).  ``parts`` is scratch of
    (G - 1, FN, K) for G sample groups (:func:`conv_groups`; None: one
    group), each summing its samples' dW terms apart.  Trusted shapes,
    C-contiguous, one dtype, outputs not overlapping inputs.
    """
    check_kernel_arrays((("x", x, 4, False), ("W2", W2, 2, False), ("dout", dout, 4, False),
                         ("dW2", dW2, 2, True), ("db", db, 1, True), ("dx", dx, 4, True),
                         ("colT", colT, 3, True), ("parts", parts, 3, True)))
    _check_conv(x, W2, FH, FW, stride, pad, "dout", dout, colT)
    cdef Conv c
    _start(&c, x, W2, FH, FW, stride, pad, dout.shape[2], dout.shape[3], colT)
    check_shape("dW2", dW2, (c.FN, c.K))
    check_shape("db", db, (c.FN,))
    check_shape("dx", dx, (<object>x).shape)
    if parts is not None:
        check_shape("parts", parts, ((<object>parts).shape[0], c.FN, c.K))
        c.G = 1 + (<object>parts).shape[0]
        if c.G > max(c.N, 1):
            raise ValueError("parts holds %d groups for %d samples" % (c.G - 1, c.N))
        c.parts = cnp.PyArray_DATA(<cnp.ndarray>parts)
    c.dout, c.dW = cnp.PyArray_DATA(dout), cnp.PyArray_DATA(dW2)
    if dx is not None and c.N * c.C * c.H * c.W:
        c.dx = cnp.PyArray_DATA(<cnp.ndarray>dx)
    cdef Py_ssize_t g
    cdef int nt = min(pool_threads(), colT.shape[0], c.G)
    with nogil:
        memset(c.dW, 0, cnp.PyArray_NBYTES(dW2))
        bias_grad(c.f32, c.dout, c.N, c.FN, c.P, cnp.PyArray_DATA(db))
        if c.dx != NULL:
            memset(c.dx, 0, c.N * c.C * c.H * c.W * (4 if c.f32 else 8))
    if c.N == 0 or c.FN == 0 or c.P == 0 or c.K == 0:
        return
    with nogil:
        if nt > 1:
            blas_serial()
            run_parallel(_backward_piece, &c, c.G, nt,
                         ((c.N * c.FN * 1000003 + c.K) * 1000003 + c.P) * 2 + (c.dx != NULL))
        else:
            for g in range(c.G):
                _backward_group(&c, g, c.colT)
        if c.G > 1:
            fastnn_add_planes(c.f32, c.dW, c.parts, c.G - 1, c.FN * c.K)


# -- compiled overrides of NumpyOps (mixed into fastnn.backends.CompiledOps) -----

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


cdef cnp.ndarray _scratch(Pool pool, Py_ssize_t size, int t):
    cdef cnp.npy_intp dims[1]
    dims[0] = size
    return pool_take(pool, 1, dims, t)


cdef cnp.ndarray _slabs(Pool pool, Py_ssize_t count, Py_ssize_t rows, Py_ssize_t cols,
                        int t):
    cdef cnp.npy_intp dims[3]
    dims[0] = max(count, 1)
    dims[1] = rows
    dims[2] = cols
    return pool_take(pool, 3, dims, t)


cdef _conv_backward(cnp.ndarray xa, cnp.ndarray W2, cnp.ndarray dk, Py_ssize_t fh,
                    Py_ssize_t fw, Py_ssize_t stride, Py_ssize_t pad, cnp.ndarray dW,
                    cnp.ndarray db, object dx, Pool pool, int t):
    # conv_backward with its scratch: a colT slab per thread, a partial dW
    # per sample group but the first
    cdef Py_ssize_t n = xa.shape[0], fn = W2.shape[0], k = W2.shape[1]
    cdef Py_ssize_t p = dk.shape[2] * dk.shape[3]
    cdef int threads = get_threads()
    cdef Py_ssize_t groups = conv_groups(n, threads)
    parts = _slabs(pool, groups - 1, fn, k, t) if groups > 1 else None
    conv_backward(xa, W2, dk, fh, fw, stride, pad, dW.reshape(fn, -1), db, dx,
                  _slabs(pool, min(threads, groups), k, p, t), parts)


def _shape_error(dout, shape):
    return ValueError("dout has shape %s but the forward output had shape %s"
                      % (getattr(dout, "shape", None), shape))


class ConvOps:
    """Convolution in W's dtype: Winograd's F(2x2, 3x3) (winograd.pyx) for
    float32 3x3 stride-1 layers with at least 8 input channels (8 filters
    for the input gradient), else per-sample im2col + GEMM.  A float32 x into a float64 layer,
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
        xk = kernel_input_as(x, t, pool)
        if xk is None:
            return super().conv_forward(x, W, b, stride, pad, pool)
        if not cnp.PyArray_ISCARRAY_RO(wa):
            wa = np.array(wa, order="C")
        W2 = wa.reshape(fn, -1)
        dims[0] = cnp.PyArray_DIMS(xk)[0]
        dims[1] = fn
        dims[2] = out_h
        dims[3] = out_w
        out = pool_take(pool, 4, dims, t)
        if _winograd(t, fh, fw, stride, c):
            threads = get_threads()
            nb, size = wino_sizes(dims[0], c, fn, out_h, out_w, 4, threads)
            wino_conv(xk, W2.reshape(fn, c, 3, 3), np.ascontiguousarray(b), pad, False, out,
                      _scratch(pool, size, t), nb, threads)
            return out, xk, None, W2.T
        conv_forward(xk, W2, np.ascontiguousarray(b), fh, fw, stride, pad, out,
                     _slabs(pool, min(get_threads(), dims[0]), c * fh * fw, out_h * out_w, t))
        return out, xk, None, W2.T

    def conv_backward(self, dout, x, col, col_W, W, stride=1, pad=0, need_dx=True,
                      Pool pool=None, dW=None, db=None):
        cdef cnp.ndarray xa, wa, W2, dk
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
        dk = kernel_input_as(dout, t, pool)
        if dk is None:
            return super().conv_backward(dout, x, col, col_W, W, stride, pad, need_dx, pool)
        dW = grad_buffer(dW, wa)
        dims[0] = fn
        if not (is_vector(db, t, fn) and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>db)
                and cnp.PyArray_ISWRITEABLE(<cnp.ndarray>db)):
            db = cnp.PyArray_EMPTY(1, dims, t, 0)
        dx = pool_take_like(pool, xa, -1) if need_dx else None
        wino_x = dx is not None and _winograd(t, fh, fw, stride, fn) and pad <= 2
        threads = get_threads()
        if dx is None or wino_x:
            if _winograd(t, fh, fw, stride, c):
                nb, size = wino_sizes(n, c, fn, shape[2], shape[3], 4, threads)
                wino_weight_grad(xa, dk, pad, dW, db, _scratch(pool, size, t), nb, threads)
            else:
                _conv_backward(xa, W2, dk, fh, fw, stride, pad, dW, db, None, pool, t)
            if wino_x:
                # dx = dout convolved with W's filters transposed and rotated
                # (padding 2 - pad), instead of dcol and col2im.
                nb, size = wino_sizes(n, fn, c, h, w, 4, threads)
                wino_conv(dk, W2.reshape(fn, c, 3, 3), None, 2 - pad, True, dx,
                          _scratch(pool, size, t), nb, threads)
            return dx, dW, db
        _conv_backward(xa, W2, dk, fh, fw, stride, pad, dW, db, dx, pool, t)
        return dx, dW, db
