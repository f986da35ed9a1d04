# cython: language_level=3
"""Winograd's minimal filtering F(2x2, 3x3) for 3x3 stride-1 convolutions:
the forward pass, the input gradient (the same algorithm on dout with the
filters transposed and rotated) and the weight gradient (the algorithm run
backwards), over the transforms of ``winograd_simd.h`` and 16 GEMMs per
chunk of samples (fastnn's OpenBLAS, through ``parallel.blas_gemm``).  The
chunks go over the thread pool, each thread with its own slot of scratch;
the weight gradient sums fixed groups of chunks apart, then the groups in
order, so its rounding depends on the thread count only.

``ConvOps`` (``conv.pyx``) runs float32 convolutions with at least 8 input
channels here; float64 keeps im2col's direct sums.  The functions take
C-contiguous float32/float64 arrays of one dtype (checked: TypeError or
ValueError otherwise) of trusted shapes, and scratch sized by
:func:`wino_sizes` (checked); the dtype picks the loops once
(FASTNN_BY_DTYPE), and the loops run without the GIL.
"""
from libc.string cimport memset

cimport numpy as cnp
from fastnn._kernels._shared cimport (bias_grad, blas_gemm, blas_serial, check_blas_sizes,
                                      check_kernel_arrays, check_shape, elem_at, is_f32,
                                      pool_threads, run_parallel, window_count)

cnp.import_array()


cdef extern from "sum_simd.h" nogil:
    void fastnn_add_planes(bint f32, void* dst, const void* parts, Py_ssize_t G, Py_ssize_t n)

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


cdef Py_ssize_t _slot_entries(Py_ssize_t C, Py_ssize_t FN, Py_ssize_t OH, Py_ssize_t OW,
                              Py_ssize_t nb) noexcept nogil:
    # one thread's scratch: a padded sample, and V and M for chunks of nb samples
    cdef Py_ssize_t TH = (OH + 1) // 2, TW = (OW + 1) // 2
    return (C * (2 * TH + 2) * (2 * TW + 2)
            + 16 * (_plane(C * TH * TW * nb) + _plane(FN * TH * TW * nb)))


cdef inline Py_ssize_t _groups(Py_ssize_t N, Py_ssize_t nb, Py_ssize_t threads) noexcept nogil:
    # chunk groups of a weight gradient on ``threads`` threads: each sums its
    # chunks' dU apart, then the groups are added in order (1 on one thread)
    cdef Py_ssize_t chunks = (N + nb - 1) // nb
    return 1 if threads <= 1 or chunks <= 1 else min(chunks, threads)


cdef Py_ssize_t _wino_entries(Py_ssize_t N, Py_ssize_t C, Py_ssize_t FN, Py_ssize_t OH,
                              Py_ssize_t OW, Py_ssize_t nb, Py_ssize_t threads) noexcept:
    # U (or the groups' dU), then a slot per thread
    return (_groups(N, nb, threads) * 16 * FN * C
            + threads * _slot_entries(C, FN, OH, OW, nb))


def wino_sizes(Py_ssize_t N, Py_ssize_t C, Py_ssize_t FN, Py_ssize_t OH, Py_ssize_t OW,
               Py_ssize_t itemsize, Py_ssize_t threads=1):
    """(samples per chunk, scratch entries) of :func:`wino_conv` and
    :func:`wino_weight_grad` on up to ``threads`` threads."""
    cdef Py_ssize_t per = 16 * (C + FN) * ((OH + 1) // 2) * ((OW + 1) // 2) * itemsize
    cdef Py_ssize_t nb = max(1, min(N, WINO_CHUNK_BYTES // max(per, 1)))
    if threads < 1:
        raise ValueError("threads must be >= 1, got %d" % threads)
    return nb, _wino_entries(N, C, FN, OH, OW, nb, threads)


cdef bint _check(tuple arrays, Py_ssize_t N, Py_ssize_t C, Py_ssize_t FN, Py_ssize_t OH,
                 Py_ssize_t OW, cnp.ndarray scratch, Py_ssize_t nb,
                 Py_ssize_t threads) except -1:
    """check_kernel_arrays of ``arrays`` and scratch, and scratch large
    enough for chunks of nb samples on ``threads`` threads.  Returns the
    f32 flag."""
    cdef bint f32 = check_kernel_arrays(arrays + (("scratch", scratch, 1, True),))
    if nb < 1:
        raise ValueError("nb must be >= 1, got %d" % nb)
    if threads < 1:
        raise ValueError("threads must be >= 1, got %d" % threads)
    if cnp.PyArray_DIMS(scratch)[0] < _wino_entries(N, C, FN, OH, OW, nb, threads):
        raise ValueError("scratch holds %d entries, too few for chunks of %d samples on %d "
                         "threads" % (cnp.PyArray_DIMS(scratch)[0], nb, threads))
    check_blas_sizes(FN, C, 16 * (OH + 1) * (OW + 1) * nb)
    return f32


cdef int _check_geometry(cnp.ndarray x, Py_ssize_t pad, cnp.ndarray y) except -1:
    # y (N, ·, OH, OW): x's 3x3 windows at stride 1 with padding pad
    if pad < 0:
        raise ValueError("pad must be >= 0, got %d" % pad)
    check_shape("out", y, (x.shape[0], y.shape[1], window_count(x.shape[2], 3, 1, pad),
                           window_count(x.shape[3], 3, 1, pad)))
    return 0


cdef struct Wino:
    # one call's sizes and arrays (float32 when f32, else float64)
    bint f32
    Py_ssize_t N, C, H, W, FN, OH, OW, TH, TW, per, pad, nb, slot, G
    const void* x
    const void* dout
    const void* bias
    void* out
    void* U           # U, or the groups' dU, 16·FN·C each
    void* slots       # a thread's padded sample, V and M (or Q), slot entries apart


cdef struct Chunk:
    Py_ssize_t n0, cnt, Tc, SV, SM     # first sample, samples, tiles, plane distances


cdef inline void _chunk_at(const Wino* w, Py_ssize_t j, Chunk* k) noexcept nogil:
    # chunk j: samples j·nb .. (j + 1)·nb - 1 (fewer in the last)
    k.n0 = j * w.nb
    k.cnt = min(w.nb, w.N - k.n0)
    k.Tc = k.cnt * w.per
    k.SV = _plane(w.C * k.Tc)
    k.SM = _plane(w.FN * k.Tc)


cdef inline void* _my_slot(const Wino* w, int slot) noexcept nogil:
    return elem_at(w.slots, slot * w.slot, w.f32)


cdef void _conv_piece(void* ctx, Py_ssize_t j, int slot) noexcept nogil:
    _conv_chunk(<const Wino*>ctx, j, _my_slot(<const Wino*>ctx, slot))


cdef void _grad_piece(void* ctx, Py_ssize_t g, int slot) noexcept nogil:
    cdef const Wino* w = <const Wino*>ctx
    _grad_group(w, g, w.G, _my_slot(w, slot))


cdef void _input_chunk(const Wino* w, const Chunk* k, void* xp, void* V) noexcept nogil:
    # V (16 planes k.SV apart) = Bᵀ d B of the chunk's samples of x, each
    # zero-padded into xp first
    cdef Py_ssize_t i, HP = 2 * w.TH + 2, WP = 2 * w.TW + 2
    for i in range(k.cnt):
        fastnn_wino_pad(w.f32, elem_at(w.x, (k.n0 + i) * w.C * w.H * w.W, w.f32), w.C, w.H,
                        w.W, w.pad, HP, WP, xp)
        fastnn_wino_input(w.f32, xp, w.C, HP, WP, w.TH, w.TW, k.SV, k.Tc,
                          elem_at(V, i * w.per, w.f32))


cdef void _conv_chunk(const Wino* w, Py_ssize_t j, void* slot) noexcept nogil:
    cdef Chunk k
    cdef Py_ssize_t i, xi
    cdef void* xp = slot
    cdef void* V = elem_at(xp, w.C * (2 * w.TH + 2) * (2 * w.TW + 2), w.f32)
    cdef void* M
    _chunk_at(w, j, &k)
    M = elem_at(V, 16 * k.SV, w.f32)
    _input_chunk(w, &k, xp, V)
    for xi in range(16):
        blas_gemm(w.f32, c'N', c'N', <int>w.FN, <int>k.Tc, <int>w.C, 1.0,
                  elem_at(w.U, xi * w.FN * w.C, w.f32), <int>w.C, elem_at(V, xi * k.SV, w.f32),
                  <int>k.Tc, 0.0, elem_at(M, xi * k.SM, w.f32), <int>k.Tc)
    for i in range(k.cnt):
        fastnn_wino_output(w.f32, elem_at(M, i * w.per, w.f32), w.FN, w.TH, w.TW, k.SM, k.Tc,
                           w.bias, w.OH, w.OW,
                           elem_at(w.out, (k.n0 + i) * w.FN * w.OH * w.OW, w.f32))


cdef void _grad_group(const Wino* w, Py_ssize_t g, Py_ssize_t G, void* slot) noexcept nogil:
    # chunks [chunks·g/G, chunks·(g+1)/G): their dU terms summed into dU_g
    cdef Chunk k
    cdef Py_ssize_t i, xi, j, chunks = (w.N + w.nb - 1) // w.nb
    cdef void* xp = slot
    cdef void* V = elem_at(xp, w.C * (2 * w.TH + 2) * (2 * w.TW + 2), w.f32)
    cdef void* Q
    cdef void* dU = elem_at(w.U, g * 16 * w.FN * w.C, w.f32)
    cdef double beta = 0
    for j in range(chunks * g // G, chunks * (g + 1) // G):
        _chunk_at(w, j, &k)
        Q = elem_at(V, 16 * k.SV, w.f32)
        _input_chunk(w, &k, xp, V)
        for i in range(k.cnt):
            fastnn_wino_dout(w.f32, elem_at(w.dout, (k.n0 + i) * w.FN * w.OH * w.OW, w.f32),
                             w.FN, w.OH, w.OW, w.TH, w.TW, k.SM, k.Tc,
                             elem_at(Q, i * w.per, w.f32))
        for xi in range(16):
            blas_gemm(w.f32, c'N', c'T', <int>w.FN, <int>w.C, <int>k.Tc, 1.0,
                      elem_at(Q, xi * k.SM, w.f32), <int>k.Tc, elem_at(V, xi * k.SV, w.f32),
                      <int>k.Tc, beta, elem_at(dU, xi * w.FN * w.C, w.f32), <int>w.C)
        beta = 1


cdef void _start(Wino* w, cnp.ndarray x, Py_ssize_t FN, Py_ssize_t OH, Py_ssize_t OW,
                 Py_ssize_t pad, cnp.ndarray scratch, Py_ssize_t nb, Py_ssize_t threads,
                 Py_ssize_t groups) noexcept:
    w.f32 = is_f32(x)
    w.N, w.C, w.H, w.W = x.shape[0], x.shape[1], x.shape[2], x.shape[3]
    w.FN, w.OH, w.OW, w.pad, w.nb = FN, OH, OW, pad, nb
    w.TH, w.TW = (OH + 1) // 2, (OW + 1) // 2
    w.per = w.TH * w.TW
    w.slot = _slot_entries(w.C, FN, OH, OW, nb)
    w.x = cnp.PyArray_DATA(x)
    w.U = cnp.PyArray_DATA(scratch)
    w.slots = elem_at(w.U, groups * 16 * FN * w.C, w.f32)
    w.dout = w.bias = w.out = NULL


def wino_conv(cnp.ndarray x, cnp.ndarray w, object b, Py_ssize_t pad, bint flip,
              cnp.ndarray out, cnp.ndarray scratch, Py_ssize_t nb, Py_ssize_t threads=1):
    """out = x convolved with the 3x3 filters w (stride 1, zero padding pad)
    plus b (None: no bias), by Winograd's F(2x2, 3x3).

    Without flip, w is (FN, C, 3, 3) and x (N, C, H, W), as in the forward
    pass.  With flip the filters are w's transposed and rotated 180 degrees
    (w still (FN, C, 3, 3), x now (N, FN, H, W), out (N, C, ...)): the
    input gradient of a stride-1 convolution with padding 2 - pad.  scratch
    and nb come from :func:`wino_sizes` for ``threads``; the chunks of
    samples go over up to that many of the pool's threads.  Trusted shapes.
    """
    cdef Wino c
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], j
    cdef Py_ssize_t FN = out.shape[1], OH = out.shape[2], OW = out.shape[3]
    _check((("x", x, 4, False), ("w", w, 4, False), ("out", out, 4, True),
            ("b", b, 1, False)), N, C, FN, OH, OW, scratch, nb, threads)
    _check_geometry(x, pad, out)
    check_shape("w", w, (C, FN, 3, 3) if flip else (FN, C, 3, 3))
    check_shape("b", b, (FN,))
    _start(&c, x, FN, OH, OW, pad, scratch, nb, threads, _groups(N, nb, threads))
    if b is not None:
        c.bias = cnp.PyArray_DATA(<cnp.ndarray>b)
    c.out = cnp.PyArray_DATA(out)
    if N * FN * OH * OW == 0:
        return
    cdef Py_ssize_t chunks = (N + nb - 1) // nb
    cdef int nt = min(pool_threads(), threads, chunks)
    with nogil:
        fastnn_wino_filter(c.f32, cnp.PyArray_DATA(w), FN, C, flip, c.U)
        if nt > 1:
            blas_serial()
            run_parallel(_conv_piece, &c, chunks, nt, (N * C * 1000003 + FN) * 1000003 + c.per)
        else:
            for j in range(chunks):
                _conv_chunk(&c, j, c.slots)


def wino_weight_grad(cnp.ndarray x, cnp.ndarray dout, Py_ssize_t pad, cnp.ndarray dw,
                     cnp.ndarray db, cnp.ndarray scratch, Py_ssize_t nb, Py_ssize_t threads=1):
    """dw (FN, C, 3, 3) and db (FN,) of a 3x3 stride-1 convolution of x
    (N, C, H, W) with padding pad, from dout (N, FN, OH, OW), by Winograd's
    F(2x2, 3x3) run backwards.  scratch and nb: :func:`wino_sizes` of the
    forward pass for ``threads``; the chunks go in fixed groups (the sum
    depends on ``threads``, not on which thread ran what) over up to that
    many of the pool's threads.  Trusted shapes."""
    cdef Wino c
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], g
    cdef Py_ssize_t FN = dout.shape[1], OH = dout.shape[2], OW = dout.shape[3]
    _check((("x", x, 4, False), ("dout", dout, 4, False), ("dw", dw, 4, True),
            ("db", db, 1, True)), N, C, FN, OH, OW, scratch, nb, threads)
    _check_geometry(x, pad, dout)
    check_shape("dw", dw, (FN, C, 3, 3))
    check_shape("db", db, (FN,))
    cdef Py_ssize_t G = _groups(N, nb, threads)
    _start(&c, x, FN, OH, OW, pad, scratch, nb, threads, G)
    c.G = G
    c.dout = cnp.PyArray_DATA(dout)
    cdef int nt = min(pool_threads(), threads, G)
    with nogil:
        bias_grad(c.f32, c.dout, N, FN, OH * OW, cnp.PyArray_DATA(db))
        if FN * C:
            memset(cnp.PyArray_DATA(dw), 0, FN * C * 9 * (4 if c.f32 else 8))
    if N * c.per * FN * C == 0:
        return
    with nogil:
        if nt > 1:
            blas_serial()
            run_parallel(_grad_piece, &c, G, nt, (N * C * 1000003 + FN) * 1000003 + c.per)
        else:
            for g in range(G):
                _grad_group(&c, g, G, c.slots)
        if G > 1:
            fastnn_add_planes(c.f32, c.U, elem_at(c.U, 16 * FN * C, c.f32), G - 1,
                              16 * FN * C)
        fastnn_wino_filter_grad(c.f32, c.U, FN, C, cnp.PyArray_DATA(dw))
