# cython: language_level=3
"""Winograd's minimal filtering F(2x2, 3x3) for 3x3 stride-1 convolutions:
the forward pass, the input gradient (the same algorithm on dout with the
filters transposed and rotated) and the weight gradient (the algorithm run
backwards), over the transforms of ``winograd_simd.h`` and 16 GEMMs per
chunk of samples (SciPy's BLAS, through ``affine.blas_gemm``).

``ConvOps`` (``conv.pyx``) runs float32 convolutions with at least 8 input
channels here; float64 keeps im2col's direct sums.  The functions take
C-contiguous float32/float64 arrays of one dtype (checked: TypeError or
ValueError otherwise) of trusted shapes, and scratch sized by
:func:`wino_sizes` (checked); the dtype picks the loops once
(FASTNN_BY_DTYPE), and the loops run without the GIL.
"""
from libc.string cimport memset

cimport numpy as cnp
from fastnn._kernels._args cimport (check_blas_sizes, check_kernel_arrays, check_shape,
                                    elem_at, window_count)
from fastnn._kernels.parallel cimport blas_gemm

cnp.import_array()


cdef extern from "sum_simd.h" nogil:
    void fastnn_bias_grad(bint f32, const void* dout, Py_ssize_t N, Py_ssize_t FN,
                          Py_ssize_t P, void* db)

cdef extern from "winograd_simd.h" nogil:
    void fastnn_wino_filter(bint f32, const void* w, Py_ssize_t FN, Py_ssize_t C, int flip,
                            void* U)
    void fastnn_wino_filter_grad(bint f32, const void* dU, Py_ssize_t FN, Py_ssize_t C,
                                 void* dw)
    void fastnn_wino_pad(bint f32, const void* x, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                         Py_ssize_t pad, Py_ssize_t HP, Py_ssize_t WP, void* xp)
    void fastnn_wino_input(bint f32, const void* xp, Py_ssize_t C, Py_ssize_t HP,
                           Py_ssize_t WP, Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t S,
                           Py_ssize_t ldv, void* V)
    void fastnn_wino_output(bint f32, const void* M, Py_ssize_t FN, Py_ssize_t TH,
                            Py_ssize_t TW, Py_ssize_t S, Py_ssize_t ldm, const void* bias,
                            Py_ssize_t OH, Py_ssize_t OW, void* out)
    void fastnn_wino_dout(bint f32, const void* dout, Py_ssize_t FN, Py_ssize_t OH,
                          Py_ssize_t OW, Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t S,
                          Py_ssize_t ldq, void* Q)

cdef enum:
    # Bytes of V and M (the transformed input and the GEMMs' output) per
    # chunk of samples: a chunk stays in the cache between its three passes.
    WINO_CHUNK_BYTES = 1 << 20


cdef inline Py_ssize_t _plane(Py_ssize_t n) noexcept nogil:
    # Distance between two of the 16 planes of V or M: n rounded up to an
    # odd number of 16-entry blocks, so that the 16 streams a transform
    # reads or writes do not fall in one cache set (a power-of-two distance
    # -- DeepConvNet has two -- made the transforms 3x slower).
    cdef Py_ssize_t blocks = (n + 15) // 16
    return (blocks | 1) * 16


cdef Py_ssize_t _wino_entries(Py_ssize_t C, Py_ssize_t FN, Py_ssize_t OH, Py_ssize_t OW,
                              Py_ssize_t nb) noexcept:
    # U, one padded sample, and V and M for chunks of nb samples
    cdef Py_ssize_t TH = (OH + 1) // 2, TW = (OW + 1) // 2
    return (16 * FN * C + C * (2 * TH + 2) * (2 * TW + 2)
            + 16 * (_plane(C * TH * TW * nb) + _plane(FN * TH * TW * nb)))


def wino_sizes(Py_ssize_t N, Py_ssize_t C, Py_ssize_t FN, Py_ssize_t OH, Py_ssize_t OW,
               Py_ssize_t itemsize):
    """(samples per chunk, scratch entries) of :func:`wino_conv` and
    :func:`wino_weight_grad`."""
    cdef Py_ssize_t per = 16 * (C + FN) * ((OH + 1) // 2) * ((OW + 1) // 2) * itemsize
    cdef Py_ssize_t nb = max(1, min(N, WINO_CHUNK_BYTES // max(per, 1)))
    return nb, _wino_entries(C, FN, OH, OW, nb)


cdef bint _check(tuple arrays, Py_ssize_t C, Py_ssize_t FN, Py_ssize_t OH, Py_ssize_t OW,
                 cnp.ndarray scratch, Py_ssize_t nb) except -1:
    """check_kernel_arrays of ``arrays`` and scratch, and scratch large
    enough for chunks of nb samples.  Returns the f32 flag."""
    cdef bint f32 = check_kernel_arrays(arrays + (("scratch", scratch, 1, True),))
    if nb < 1:
        raise ValueError("nb must be >= 1, got %d" % nb)
    if cnp.PyArray_DIMS(scratch)[0] < _wino_entries(C, FN, OH, OW, nb):
        raise ValueError("scratch holds %d entries, too few for chunks of %d samples"
                         % (cnp.PyArray_DIMS(scratch)[0], nb))
    check_blas_sizes(FN, C, 16 * (OH + 1) * (OW + 1) * nb)
    return f32


cdef int _check_geometry(cnp.ndarray x, Py_ssize_t pad, cnp.ndarray y) except -1:
    # y (N, ·, OH, OW): x's 3x3 windows at stride 1 with padding pad
    if pad < 0:
        raise ValueError("pad must be >= 0, got %d" % pad)
    check_shape("out", y, (x.shape[0], y.shape[1], window_count(x.shape[2], 3, 1, pad),
                           window_count(x.shape[3], 3, 1, pad)))
    return 0


cdef struct Chunk:
    Py_ssize_t n0, cnt, Tc, SV, SM     # first sample, samples, tiles, plane distances


cdef inline bint _next_chunk(Chunk* k, Py_ssize_t N, Py_ssize_t nb, Py_ssize_t per,
                             Py_ssize_t C, Py_ssize_t FN) noexcept nogil:
    # advance k to the chunk after it (k.cnt = 0 before the first); False past N
    k.n0 += k.cnt
    if k.n0 >= N:
        return False
    k.cnt = min(nb, N - k.n0)
    k.Tc = k.cnt * per
    k.SV = _plane(C * k.Tc)
    k.SM = _plane(FN * k.Tc)
    return True


cdef void _input_chunk(bint f32, const void* x, Py_ssize_t n0, Py_ssize_t cnt, Py_ssize_t C,
                       Py_ssize_t H, Py_ssize_t W, Py_ssize_t pad, Py_ssize_t TH,
                       Py_ssize_t TW, Py_ssize_t SV, void* xp, void* V) noexcept nogil:
    # V (16 planes SV apart) = Bᵀ d B of samples n0 .. n0 + cnt - 1 of x,
    # each zero-padded into xp first
    cdef Py_ssize_t i, per = TH * TW, HP = 2 * TH + 2, WP = 2 * TW + 2
    for i in range(cnt):
        fastnn_wino_pad(f32, elem_at(x, (n0 + i) * C * H * W, f32), C, H, W, pad, HP, WP, xp)
        fastnn_wino_input(f32, xp, C, HP, WP, TH, TW, SV, cnt * per, elem_at(V, i * per, f32))


def wino_conv(cnp.ndarray x, cnp.ndarray w, object b, Py_ssize_t pad, bint flip,
              cnp.ndarray out, cnp.ndarray scratch, Py_ssize_t nb):
    """out = x convolved with the 3x3 filters w (stride 1, zero padding pad)
    plus b (None: no bias), by Winograd's F(2x2, 3x3).

    Without flip, w is (FN, C, 3, 3) and x (N, C, H, W), as in the forward
    pass.  With flip the filters are w's transposed and rotated 180 degrees
    (w still (FN, C, 3, 3), x now (N, FN, H, W), out (N, C, ...)): the
    input gradient of a stride-1 convolution with padding 2 - pad.  scratch
    and nb come from :func:`wino_sizes`.  Trusted shapes.
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t FN = out.shape[1], OH = out.shape[2], OW = out.shape[3]
    cdef Py_ssize_t TH = (OH + 1) // 2, TW = (OW + 1) // 2, per = TH * TW
    cdef Py_ssize_t HP = 2 * TH + 2, WP = 2 * TW + 2, i, xi
    cdef Chunk k = Chunk(0, 0, 0, 0, 0)
    cdef bint f32
    cdef const void* bias = NULL
    cdef const void* xd
    cdef void* od
    cdef void* U
    cdef void* xp
    cdef void* V
    cdef void* M
    f32 = _check((("x", x, 4, False), ("w", w, 4, False), ("out", out, 4, True),
                  ("b", b, 1, False)), C, FN, OH, OW, scratch, nb)
    _check_geometry(x, pad, out)
    check_shape("w", w, (C, FN, 3, 3) if flip else (FN, C, 3, 3))
    check_shape("b", b, (FN,))
    if b is not None:
        bias = cnp.PyArray_DATA(<cnp.ndarray>b)
    if N * FN * OH * OW == 0:
        return
    xd, od = cnp.PyArray_DATA(x), cnp.PyArray_DATA(out)
    U = cnp.PyArray_DATA(scratch)
    xp = elem_at(U, 16 * FN * C, f32)
    V = elem_at(xp, C * HP * WP, f32)
    with nogil:
        fastnn_wino_filter(f32, cnp.PyArray_DATA(w), FN, C, flip, U)
        while _next_chunk(&k, N, nb, per, C, FN):
            M = elem_at(V, 16 * k.SV, f32)
            _input_chunk(f32, xd, k.n0, k.cnt, C, H, W, pad, TH, TW, k.SV, xp, V)
            for xi in range(16):
                blas_gemm(f32, c'N', c'N', <int>FN, <int>k.Tc, <int>C, 1.0,
                          elem_at(U, xi * FN * C, f32), <int>C, elem_at(V, xi * k.SV, f32),
                          <int>k.Tc, 0.0, elem_at(M, xi * k.SM, f32), <int>k.Tc)
            for i in range(k.cnt):
                fastnn_wino_output(f32, elem_at(M, i * per, f32), FN, TH, TW, k.SM, k.Tc, bias,
                                   OH, OW, elem_at(od, (k.n0 + i) * FN * OH * OW, f32))


def wino_weight_grad(cnp.ndarray x, cnp.ndarray dout, Py_ssize_t pad, cnp.ndarray dw,
                     cnp.ndarray db, cnp.ndarray scratch, Py_ssize_t nb):
    """dw (FN, C, 3, 3) and db (FN,) of a 3x3 stride-1 convolution of x
    (N, C, H, W) with padding pad, from dout (N, FN, OH, OW), by Winograd's
    F(2x2, 3x3) run backwards.  scratch and nb: :func:`wino_sizes` of the
    forward pass.  Trusted shapes."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t FN = dout.shape[1], OH = dout.shape[2], OW = dout.shape[3]
    cdef Py_ssize_t TH = (OH + 1) // 2, TW = (OW + 1) // 2, per = TH * TW
    cdef Py_ssize_t HP = 2 * TH + 2, WP = 2 * TW + 2, i, xi
    cdef Chunk k = Chunk(0, 0, 0, 0, 0)
    cdef bint f32 = _check((("x", x, 4, False), ("dout", dout, 4, False), ("dw", dw, 4, True),
                            ("db", db, 1, True)), C, FN, OH, OW, scratch, nb)
    _check_geometry(x, pad, dout)
    check_shape("dw", dw, (FN, C, 3, 3))
    check_shape("db", db, (FN,))
    cdef const void* xd = cnp.PyArray_DATA(x)
    cdef const void* dd = cnp.PyArray_DATA(dout)
    cdef void* dU = cnp.PyArray_DATA(scratch)
    cdef void* xp = elem_at(dU, 16 * FN * C, f32)
    cdef void* V = elem_at(xp, C * HP * WP, f32)
    cdef void* Q
    cdef double beta = 0
    with nogil:
        fastnn_bias_grad(f32, dd, N, FN, OH * OW, cnp.PyArray_DATA(db))
        if FN * C:
            memset(cnp.PyArray_DATA(dw), 0, FN * C * 9 * (4 if f32 else 8))
    if N * per * FN * C == 0:
        return
    with nogil:
        while _next_chunk(&k, N, nb, per, C, FN):
            Q = elem_at(V, 16 * k.SV, f32)
            _input_chunk(f32, xd, k.n0, k.cnt, C, H, W, pad, TH, TW, k.SV, xp, V)
            for i in range(k.cnt):
                fastnn_wino_dout(f32, elem_at(dd, (k.n0 + i) * FN * OH * OW, f32), FN, OH, OW,
                                 TH, TW, k.SM, k.Tc, elem_at(Q, i * per, f32))
            for xi in range(16):
                blas_gemm(f32, c'N', c'T', <int>FN, <int>C, <int>k.Tc, 1.0,
                          elem_at(Q, xi * k.SM, f32), <int>k.Tc, elem_at(V, xi * k.SV, f32),
                          <int>k.Tc, beta, elem_at(dU, xi * FN * C, f32), <int>C)
            beta = 1
        fastnn_wino_filter_grad(f32, dU, FN, C, cnp.PyArray_DATA(dw))
