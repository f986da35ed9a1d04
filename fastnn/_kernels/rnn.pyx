# cython: language_level=3
"""The recurrent family (the sequel's time layers): LSTM, GRU and tanh-RNN
over whole sequences, the embedding's scatter-add and the time softmax loss.

The time loop runs here, without the GIL:

* forward: the input projection of every step as ONE GEMM, xs (N·T, D) ·
  Wx, into the buffer that then holds the gates; per step one recurrent
  GEMM h_{t-1} · Wh (``blas_gemm``: fastnn's BLAS on its thread pool) and
  one fused pass over the batch rows (rnn_simd.h): the book's
  ``(x·Wx + h·Wh) + b``, the sigmoids and tanh through NumPy's own
  exp/tanh loops (the same bits as np.exp/np.tanh, at their SIMD speed),
  the cell update, ``h = o·tanh(c)``;
* backward: per step one fused pass (the book's LSTM.backward formulas, in
  its order) writing dA into one (N, T, 4H) buffer, and the one GEMM the
  recursion needs, dh_{t-1} = dA_t · Whᵀ; after the loop dxs = dA · Wxᵀ,
  dWx = xsᵀ · dA and dWh = h_prevᵀ · dA as three GEMMs over the whole
  sequence, and db as the book sums it (each step's rows in order, the
  steps added from the last).

Summation order.  For layers whose Wx and Wh take at most 1 MiB
(Rnnlm's LSTM 100, ch05's RNN; every layer with FASTNN_NLP_BOOK_ORDER=1 or
``book_order(True)``) the input projection, dxs, dWx and
dWh are instead made step by step with the book's shapes, dWx/dWh
accumulated by GEMM's ``C += A·B`` in the book's order, so BLAS picks the
book's kernels and the results are the book's bit for bit (on one thread:
a GEMM that BLAS splits over its inner dimension, NumPy's or fastnn's, rounds
differently with the thread count).  Larger layers (BetterRnnlm's 650)
keep the three whole-sequence GEMMs, which sum dWx/dWh over N·T rows in one
product instead of T products of N rows: measured at most ~6 machine
epsilons of the largest entry (float32 and float64;
``tests/test_nlp_time_layers.py`` allows 32).

Each override takes native float32/float64 arrays of one dtype (xs, the
weights and states; non-contiguous ones copied once) and hands anything
else to ``super()``, NumpyOps, the book's loops.  The caches are the layout
NumpyOps documents, so either backward reads either forward's cache.
"""
from libc.stdint cimport int32_t, int64_t, uint8_t
from libc.string cimport memcpy, memset
from libc.limits cimport INT_MAX

import numpy as np
cimport numpy as cnp
from fastnn._kernels._fastpath cimport kernel_input, same_dtype
from fastnn._kernels.pool cimport Pool, pool_take
from fastnn._kernels.parallel cimport (blas_gemm, blas_gemm1, blas_serial, parallel_range,
                                       pool_threads, range_fn, run_parallel)
from fastnn._kernels._args cimport is_f32, elem_at

cnp.import_array()


cdef extern from "rnn_simd.h" nogil:
    ctypedef void (*fastnn_uloop)(char** args, const Py_ssize_t* dims,
                                  const Py_ssize_t* steps, void* data)
    ctypedef struct fastnn_umath:
        fastnn_uloop exp_f
        fastnn_uloop tanh_f
        fastnn_uloop exp_d
        fastnn_uloop tanh_d
        void* exp_f_data
        void* tanh_f_data
        void* exp_d_data
        void* tanh_d_data
    void fastnn_lstm_fwd_rows(bint f32, const fastnn_umath* um, Py_ssize_t n0, Py_ssize_t n1,
                              Py_ssize_t H, void* a, Py_ssize_t lda, const void* hw,
                              const void* b, const void* cp, Py_ssize_t ldcp, void* c,
                              void* tc, Py_ssize_t ldc, void* h, Py_ssize_t ldh, void* h2,
                              Py_ssize_t ldh2)
    void fastnn_lstm_bwd_rows(bint f32, Py_ssize_t n0, Py_ssize_t n1, Py_ssize_t H,
                              const void* dhs, Py_ssize_t lddh, const void* dhc,
                              const void* dc, void* dco, const void* g, Py_ssize_t ldg,
                              const void* tc, Py_ssize_t ldc, const void* cp, Py_ssize_t ldcp,
                              void* da, Py_ssize_t ldda)
    void fastnn_rnn_fwd_rows(bint f32, const fastnn_umath* um, Py_ssize_t n0, Py_ssize_t n1,
                             Py_ssize_t H, const void* xw, Py_ssize_t ldx, const void* hw,
                             const void* b, void* h, Py_ssize_t ldh, void* h2, Py_ssize_t ldh2)
    void fastnn_rnn_bwd_rows(bint f32, Py_ssize_t n0, Py_ssize_t n1, Py_ssize_t H,
                             const void* dhs, Py_ssize_t lddh, const void* dhc, const void* h,
                             Py_ssize_t ldh, void* dt, Py_ssize_t lddt)
    void fastnn_gru_fwd1_rows(bint f32, const fastnn_umath* um, Py_ssize_t n0, Py_ssize_t n1,
                              Py_ssize_t H, void* a, Py_ssize_t lda, const void* hw,
                              const void* b, const void* hp, Py_ssize_t ldhp, void* rh,
                              Py_ssize_t ldrh)
    void fastnn_gru_fwd2_rows(bint f32, const fastnn_umath* um, Py_ssize_t n0, Py_ssize_t n1,
                              Py_ssize_t H, void* a, Py_ssize_t lda, const void* hh,
                              const void* b, const void* hp, Py_ssize_t ldhp, void* h,
                              Py_ssize_t ldh, void* h2)
    void fastnn_gru_bwd1_rows(bint f32, Py_ssize_t n0, Py_ssize_t n1, Py_ssize_t H,
                              const void* dhs, Py_ssize_t lddh, const void* dhc, const void* g,
                              Py_ssize_t ldg, void* dhn, void* dhp, void* da, Py_ssize_t ldda)
    void fastnn_gru_bwd2_rows(bint f32, Py_ssize_t n0, Py_ssize_t n1, Py_ssize_t H,
                              const void* dhr, const void* dhn, void* dhp, const void* g,
                              Py_ssize_t ldg, const void* hp, Py_ssize_t ldhp, void* da,
                              Py_ssize_t ldda)
    void fastnn_time_bias_grad(bint f32, const void* da, Py_ssize_t N, Py_ssize_t T,
                               Py_ssize_t G, Py_ssize_t j0, Py_ssize_t j1, void* db)
    void fastnn_embed_scatter(bint f32, const void* dout, const int64_t* idx,
                              const uint8_t* first, const int32_t* nxt, Py_ssize_t N,
                              Py_ssize_t T, Py_ssize_t D, Py_ssize_t j0, Py_ssize_t j1,
                              void* dW)
    void fastnn_embed_links(const int64_t* idx, Py_ssize_t N, Py_ssize_t T, uint8_t* first,
                            int32_t* nxt)
    void fastnn_softmax_rows(bint f32, const fastnn_umath* um, const void* x, void* y,
                             Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t V)
    void fastnn_tsl_bwd_rows(bint f32, void* y, const int64_t* ts, const uint8_t* mask,
                             Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t V, double dout,
                             double count)
    void fastnn_tsl_bwd_cols(bint f32, void* y, const int64_t* ts, const uint8_t* mask,
                             Py_ssize_t R, Py_ssize_t V, Py_ssize_t c0, Py_ssize_t c1,
                             double dout, double count, void* db)


# -- NumPy's exp and tanh loops ---------------------------------------------------

cdef fastnn_umath _um


cdef int _find_loop(cnp.ufunc uf, int typenum, fastnn_uloop* fn, void** data) except -1:
    cdef int i
    for i in range(uf.ntypes):
        if uf.types[2 * i] == typenum and uf.types[2 * i + 1] == typenum:
            fn[0] = <fastnn_uloop>uf.functions[i]
            data[0] = uf.data[i] if uf.data != NULL else NULL
            return 0
    raise ImportError("numpy.%s has no %s loop" % (uf.__name__, typenum))


_find_loop(np.exp, cnp.NPY_FLOAT, &_um.exp_f, &_um.exp_f_data)
_find_loop(np.tanh, cnp.NPY_FLOAT, &_um.tanh_f, &_um.tanh_f_data)
_find_loop(np.exp, cnp.NPY_DOUBLE, &_um.exp_d, &_um.exp_d_data)
_find_loop(np.tanh, cnp.NPY_DOUBLE, &_um.tanh_d, &_um.tanh_d_data)


# -- the per-step passes, over the pool -------------------------------------------

cdef enum:
    # elements of a gate pass worth a piece of their own (transcendentals:
    # ~10x the work of a streaming element)
    GATE_GRAIN = 4096
    STREAM_GRAIN = 16384


cdef struct LstmStep:
    bint f32
    Py_ssize_t H
    void* a
    Py_ssize_t lda
    const void* hw
    const void* b
    const void* cp
    Py_ssize_t ldcp
    void* c
    void* tc
    Py_ssize_t ldc
    void* h
    Py_ssize_t ldh
    void* h2
    Py_ssize_t ldh2
    # backward
    const void* dhs
    Py_ssize_t lddh
    const void* dhc
    const void* dc
    void* dco
    void* da
    Py_ssize_t ldda


cdef void _lstm_fwd_range(void* ctx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef LstmStep* s = <LstmStep*>ctx
    fastnn_lstm_fwd_rows(s.f32, &_um, lo, hi, s.H, s.a, s.lda, s.hw, s.b, s.cp, s.ldcp,
                         s.c, s.tc, s.ldc, s.h, s.ldh, s.h2, s.ldh2)


cdef void _lstm_bwd_range(void* ctx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef LstmStep* s = <LstmStep*>ctx
    fastnn_lstm_bwd_rows(s.f32, lo, hi, s.H, s.dhs, s.lddh, s.dhc, s.dc, s.dco, s.a, s.lda,
                         s.tc, s.ldc, s.cp, s.ldcp, s.da, s.ldda)


cdef void _rnn_fwd_range(void* ctx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef LstmStep* s = <LstmStep*>ctx
    fastnn_rnn_fwd_rows(s.f32, &_um, lo, hi, s.H, s.a, s.lda, s.hw, s.b, s.h, s.ldh,
                        s.h2, s.ldh2)


cdef void _rnn_bwd_range(void* ctx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef LstmStep* s = <LstmStep*>ctx
    fastnn_rnn_bwd_rows(s.f32, lo, hi, s.H, s.dhs, s.lddh, s.dhc, s.h, s.ldh, s.da, s.ldda)


cdef struct ColJob:
    bint f32
    const void* src
    const int64_t* idx
    const uint8_t* first
    const int32_t* nxt
    Py_ssize_t N, T, G
    void* dst


cdef void _bias_range(void* ctx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef ColJob* j = <ColJob*>ctx
    fastnn_time_bias_grad(j.f32, j.src, j.N, j.T, j.G, lo, hi, j.dst)


cdef void _scatter_range(void* ctx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef ColJob* j = <ColJob*>ctx
    fastnn_embed_scatter(j.f32, j.src, j.idx, j.first, j.nxt, j.N, j.T, j.G, lo, hi, j.dst)


cdef void _zero_range(void* ctx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef ColJob* j = <ColJob*>ctx
    memset(<char*>j.dst + lo, 0, hi - lo)


cdef struct RowJob:
    bint f32
    const void* x
    void* y
    const int64_t* ts
    const uint8_t* mask
    Py_ssize_t V, R
    double dout, count
    void* db


cdef void _softmax_range(void* ctx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef RowJob* r = <RowJob*>ctx
    fastnn_softmax_rows(r.f32, &_um, r.x, r.y, lo, hi, r.V)


cdef void _tsl_bwd_range(void* ctx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef RowJob* r = <RowJob*>ctx
    fastnn_tsl_bwd_rows(r.f32, r.y, r.ts, r.mask, lo, hi, r.V, r.dout, r.count)


cdef void _tsl_bwd_cols_range(void* ctx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef RowJob* r = <RowJob*>ctx
    fastnn_tsl_bwd_cols(r.f32, r.y, r.ts, r.mask, r.R, r.V, lo, hi, r.dout, r.count, r.db)


cdef inline Py_ssize_t _rows_grain(Py_ssize_t per_row, Py_ssize_t elems) noexcept nogil:
    return max(1, elems // max(1, per_row))


# -- drivers (trusted: shapes and dtypes checked by the overrides) ----------------

# The two-thread pipeline of the per-step backward (_pipe_piece) and the row
# blocks of the forward (_row_pieces); off only to measure them (_set_pipeline)
cdef bint _pipeline_on = True
cdef bint _rows_on = True

cdef struct Products:
    # whole products over the pool, C = A·B (B k x n, rows n apart), one a
    # piece: the i-th of a batch (A and C advanced by a_step, c_step), or the
    # i-th block of m's rows at 16-row edges (by_rows)
    bint f32, by_rows
    Py_ssize_t m, n, k, lda, ldc, a_step, c_step, pieces
    const void* a
    const void* b
    void* c


cdef void _product_piece(void* ctx, Py_ssize_t i, int slot) noexcept nogil:
    cdef Products* p = <Products*>ctx
    cdef Py_ssize_t lo = 0, rows = p.m, a_at = i * p.a_step, c_at = i * p.c_step
    if p.by_rows:
        lo = _row_edge(p.m, i, p.pieces)
        rows = _row_edge(p.m, i + 1, p.pieces) - lo
        a_at, c_at = lo * p.lda, lo * p.ldc
    blas_gemm1(p.f32, b'N', b'N', <int>rows, <int>p.n, <int>p.k, 1.0, elem_at(p.a, a_at, p.f32),
               <int>p.lda, p.b, <int>p.n, 0.0, elem_at(p.c, c_at, p.f32), <int>p.ldc)


cdef void _step_inputs(bint f32, Py_ssize_t N, Py_ssize_t T, Py_ssize_t D, Py_ssize_t G,
                       const void* xs, const void* Wx, void* out) noexcept nogil:
    """out[:, t] = xs[:, t]·Wx for every step t, the book's per-step products
    (each whole, on one thread: the 1-thread bits), the steps over the pool."""
    cdef Products p
    p.f32, p.by_rows, p.m, p.n, p.k, p.lda, p.ldc = f32, False, N, G, D, T * D, T * G
    p.a_step, p.c_step, p.pieces, p.a, p.b, p.c = D, G, T, xs, Wx, out
    blas_serial()
    run_parallel(_product_piece, &p, T, pool_threads() if 2 * N * D * G * T >= (1 << 22)
                 else 1, (<long long>N * 1000003 + D) * 1000003 + G)


cdef struct StepPipe:
    # the recurrence's backward at 2 threads (_pipe_piece): step t's dh_{t-1}
    # and the gates of t-1 on one thread, step t's weight gradients on the other
    LstmStep* s
    range_fn gates
    bint f32
    Py_ssize_t N, T, D, H, G, t
    const void* xs
    const void* hprev
    const void* Wx
    const void* Wh
    void* DA
    void* dhc
    void* dxs
    void* dWx
    void* dWh


cdef void _pipe_piece(void* ctx, Py_ssize_t i, int slot) noexcept nogil:
    cdef StepPipe* p = <StepPipe*>ctx
    cdef Py_ssize_t t = p.t, T = p.T, G = p.G, H = p.H, D = p.D
    cdef const void* da_t = elem_at(p.DA, t * G, p.f32)
    cdef double beta = 0.0 if t == T - 1 else 1.0
    if i == 0:
        # dh_{t-1} = dA_t·Whᵀ, the gates of step t-1 (its dA), dxs_t = dA_t·Wxᵀ
        blas_gemm1(p.f32, b'N', b'T', <int>p.N, <int>H, <int>G, 1.0, da_t, <int>(T * G), p.Wh,
                   <int>G, 0.0, p.dhc, <int>H)
        if t > 0:
            p.gates(p.s, 0, p.N)
        if D > 0:
            blas_gemm1(p.f32, b'N', b'T', <int>p.N, <int>D, <int>G, 1.0, da_t, <int>(T * G),
                       p.Wx, <int>G, 0.0, elem_at(p.dxs, t * D, p.f32), <int>(T * D))
    else:
        # dWx += x_tᵀ·dA_t, dWh += h_{t-1}ᵀ·dA_t (_step_grads' products and order)
        if D > 0:
            blas_gemm1(p.f32, b'T', b'N', <int>D, <int>G, <int>p.N, 1.0,
                       elem_at(p.xs, t * D, p.f32), <int>(T * D), da_t, <int>(T * G), beta,
                       p.dWx, <int>G)
        blas_gemm1(p.f32, b'T', b'N', <int>H, <int>G, <int>p.N, 1.0,
                   elem_at(p.hprev, t * H, p.f32), <int>(T * H), da_t, <int>(T * G), beta,
                   p.dWh, <int>G)


def _set_pipeline(bint on, rows=None):
    """Turn the two-thread pipeline (and the forward's row blocks, unless
    ``rows`` says otherwise) off or on; returns the old settings (for their
    measurement in bench/README.md, not an API)."""
    global _pipeline_on, _rows_on
    old = (_pipeline_on, _rows_on)
    _pipeline_on = on
    _rows_on = on if rows is None else rows
    return old


cdef inline bint _pipelined(bint per_step, Py_ssize_t N) noexcept nogil:
    """The two-thread pipeline of the per-step backward: on exactly two
    threads (more split each product instead), for a batch worth it."""
    return _pipeline_on and per_step and N > 1 and pool_threads() == 2


cdef struct SeqRows:
    # a recurrence's forward split by batch rows (_row_pieces): piece i runs
    # rows [_row_edge(i), _row_edge(i + 1)) through every step
    LstmStep* s
    bint f32
    Py_ssize_t N, T, H, G, pieces
    const void* h0
    const void* c0
    const void* Wh
    void* A
    void* cs
    void* tcs
    void* hs
    void* hprev


# A row block of h_{t-1}·Wh rounds as those rows of the whole product while
# OpenBLAS runs both through its blocked kernels (each element's sum over k
# in one order, whatever the rows); its small-matrix kernels (SkylakeX and
# later, for M·N·K ≤ 100³) may not, so every block stays above that (the
# thread-bits test of test_nlp_time_layers checks it on the machine at hand).
cdef enum:
    SMALL_GEMM = 1000000
    # Wh up to this many bytes: row blocks (each thread reads all of Wh a step)
    ROWS_WH_BYTES = 1 << 19


cdef inline bint _rows_keep_bits(bint f32, Py_ssize_t H) noexcept nogil:
    """Whether a block of rows of h·Wh (inner size H) rounds as those rows
    of the whole product.  Measured (OpenBLAS 0.3.34, SkylakeX kernels,
    row blocks at 16-row edges above the small-matrix size): float32 at
    every H from 40 to 329; float64 differed at every odd H (63 .. 329)
    and at H = 300, and held at every multiple of 8 tried."""
    return f32 or H % 8 == 0


cdef inline Py_ssize_t _row_edge(Py_ssize_t N, Py_ssize_t i, Py_ssize_t pieces) noexcept nogil:
    return N if i >= pieces else (N * i // pieces) // 16 * 16


cdef Py_ssize_t _row_pieces(bint f32, Py_ssize_t N, Py_ssize_t G, Py_ssize_t H) noexcept nogil:
    """How many row blocks the forward recurrence runs in at the pool's
    thread count: 1 (the whole product each step, _recur_gemm) unless
    Wh is small enough for every thread to read all of it each step (the
    TimeLSTM of Seq2seq, 256 KiB, gains; AttentionSeq2seq's 1 MiB loses:
    bench/README.md), and every block of 16-row edges keeps the whole
    product's bits and is worth a thread."""
    cdef Py_ssize_t p = min(<Py_ssize_t>pool_threads(), N // 16)
    cdef Py_ssize_t item = 4 if f32 else 8
    if (p < 2 or not _rows_on or 2 * (N // p) * G * H < (1 << 22)
            or H * G * item > ROWS_WH_BYTES or not _row_blocks_keep_bits(f32, N, G, H, p)):
        return 1
    return p


cdef bint _row_blocks_keep_bits(bint f32, Py_ssize_t N, Py_ssize_t G, Py_ssize_t H,
                                Py_ssize_t p) noexcept nogil:
    """Whether the p blocks of 16-row edges of an (N, H)·(H, G) product each
    round as those rows of the whole product: _rows_keep_bits, and every
    block (so the whole product too) above OpenBLAS's small-matrix size."""
    cdef Py_ssize_t i
    if not _rows_keep_bits(f32, H):
        return False
    for i in range(p):
        if <double>(_row_edge(N, i + 1, p) - _row_edge(N, i, p)) * G * H <= SMALL_GEMM:
            return False
    return True


cdef void _lstm_rows_piece(void* ctx, Py_ssize_t i, int slot) noexcept nogil:
    cdef SeqRows* r = <SeqRows*>ctx
    cdef LstmStep s = r.s[0]
    cdef Py_ssize_t t, T = r.T, H = r.H, G = r.G
    cdef Py_ssize_t lo = _row_edge(r.N, i, r.pieces), hi = _row_edge(r.N, i + 1, r.pieces)
    cdef int item = 4 if r.f32 else 8
    cdef const void* hp
    cdef Py_ssize_t ldhp
    memcpy_rows(elem_at(r.hprev, lo * T * H, r.f32), elem_at(r.h0, lo * H, r.f32), hi - lo, H,
                T * H, H, item)
    for t in range(T):
        if t == 0:
            hp, ldhp = elem_at(r.h0, lo * H, r.f32), H
            s.cp, s.ldcp = r.c0, H
        else:
            hp, ldhp = elem_at(r.hprev, lo * T * H + t * H, r.f32), T * H
            s.cp, s.ldcp = elem_at(r.cs, (t - 1) * H, r.f32), T * H
        blas_gemm1(r.f32, b'N', b'N', <int>(hi - lo), <int>G, <int>H, 1.0, hp, <int>ldhp, r.Wh,
                   <int>G, 0.0, elem_at(s.hw, lo * G, r.f32), <int>G)
        s.a = elem_at(r.A, t * G, r.f32)
        s.c = elem_at(r.cs, t * H, r.f32)
        s.tc = elem_at(r.tcs, t * H, r.f32)
        s.h = elem_at(r.hs, t * H, r.f32)
        s.h2 = elem_at(r.hprev, (t + 1) * H, r.f32) if t + 1 < T else NULL
        _lstm_fwd_range(&s, lo, hi)


cdef void _recur_gemm(bint f32, bint per_step, Py_ssize_t N, Py_ssize_t G, Py_ssize_t H,
                      const void* h, Py_ssize_t ldh, const void* Wh, void* out) noexcept nogil:
    """out (N, G) = h (N, H; rows ldh apart)·Wh, a step's recurrent product.
    A per-step layer on two threads keeps the one-thread bits: the product
    in two blocks of batch rows where each stays above OpenBLAS's
    small-matrix size and keep its bits (_row_blocks_keep_bits), else
    whole on this thread; never blas_gemm's split by columns (OpenBLAS
    rounded column blocks otherwise than the whole product: float64
    TimeRNN, N = 40, H = 300; a 40 x 256 x 300 product)."""
    cdef Products p
    if not per_step or pool_threads() != 2:
        blas_gemm(f32, b'N', b'N', <int>N, <int>G, <int>H, 1.0, h, <int>ldh, Wh, <int>G, 0.0,
                  out, <int>G)
        return
    blas_serial()
    if 2.0 * N * G * H >= (1 << 22) and _row_blocks_keep_bits(f32, N, G, H, 2):
        p.f32, p.by_rows, p.m, p.n, p.k, p.lda, p.ldc = f32, True, N, G, H, ldh, G
        p.a_step, p.c_step, p.pieces, p.a, p.b, p.c = 0, 0, 2, h, Wh, out
        run_parallel(_product_piece, &p, 2, 2,
                     ((<long long>N * 1000003 + G) * 1000003 + H) * 2 + 1)
    else:
        blas_gemm1(f32, b'N', b'N', <int>N, <int>G, <int>H, 1.0, h, <int>ldh, Wh, <int>G, 0.0,
                   out, <int>G)


cdef void _lstm_forward_t(bint f32, Py_ssize_t N, Py_ssize_t T, Py_ssize_t D, Py_ssize_t H,
                          const void* xs, const void* Wx, const void* Wh, const void* b,
                          const void* h0, const void* c0, void* G, void* hs, void* hprev,
                          void* cs, void* tcs, void* hw, void* h_last, void* c_last) noexcept nogil:
    cdef Py_ssize_t t, G4 = 4 * H
    cdef LstmStep s
    cdef int item = 4 if f32 else 8
    cdef bint per_step = _per_step(f32, D, H, G4)
    # the input projection of all steps: G (N·T, 4H) = xs (N·T, D) · Wx (step
    # by step, as the book's products, for the small layers of _per_step)
    if D == 0:
        memset(G, 0, N * T * G4 * item)
    elif per_step:
        _step_inputs(f32, N, T, D, G4, xs, Wx, G)
    else:
        blas_gemm(f32, b'N', b'N', <int>(N * T), <int>G4, <int>D, 1.0, xs, <int>D, Wx,
                  <int>G4, 0.0, G, <int>G4)
    s.f32, s.H, s.b = f32, H, b
    s.lda, s.ldc, s.ldh, s.ldh2 = T * G4, T * H, T * H, T * H
    s.hw = hw
    cdef SeqRows r
    r.pieces = _row_pieces(f32, N, G4, H)
    if r.pieces > 1:
        # the batch's rows over the pool, each block all T steps on its own
        r.s, r.f32, r.N, r.T, r.H, r.G = &s, f32, N, T, H, G4
        r.h0, r.c0, r.Wh, r.A, r.cs, r.tcs, r.hs, r.hprev = h0, c0, Wh, G, cs, tcs, hs, hprev
        blas_serial()
        run_parallel(_lstm_rows_piece, &r, r.pieces, pool_threads(),
                     ((<long long>N * 1000003 + H) * 1000003 + T) * 2)
    for t in range(T if r.pieces < 2 else 0):
        # h_{t-1} (N, H): h0, or the slot the last step wrote
        if t == 0:
            memcpy_rows(hprev, h0, N, H, T * H, H, item)
            _recur_gemm(f32, per_step, N, G4, H, h0, H, Wh, hw)
            s.cp, s.ldcp = c0, H
        else:
            _recur_gemm(f32, per_step, N, G4, H, elem_at(hprev, t * H, f32), T * H, Wh, hw)
            s.cp, s.ldcp = elem_at(cs, (t - 1) * H, f32), T * H
        s.a = elem_at(G, t * G4, f32)
        s.c = elem_at(cs, t * H, f32)
        s.tc = elem_at(tcs, t * H, f32)
        s.h = elem_at(hs, t * H, f32)
        s.h2 = elem_at(hprev, (t + 1) * H, f32) if t + 1 < T else NULL
        parallel_range(_lstm_fwd_range, &s, N, _rows_grain(8 * H, GATE_GRAIN), 1)
    memcpy_rows(h_last, elem_at(hs, (T - 1) * H, f32), N, H, H, T * H, item)
    memcpy_rows(c_last, elem_at(cs, (T - 1) * H, f32), N, H, H, T * H, item)


cdef inline void _lstm_bwd_at(LstmStep* s, Py_ssize_t t, bint f32, Py_ssize_t T,
                              Py_ssize_t H, const void* dhs, const void* G, const void* tcs,
                              const void* cs, const void* c0, void* DA) noexcept nogil:
    # the gates' backward of step t reads and writes these
    s.dhs = elem_at(dhs, t * H, f32)
    s.a = elem_at(G, t * 4 * H, f32)
    s.tc = elem_at(tcs, t * H, f32)
    if t == 0:
        s.cp, s.ldcp = c0, H
    else:
        s.cp, s.ldcp = elem_at(cs, (t - 1) * H, f32), T * H
    s.da = elem_at(DA, t * 4 * H, f32)


cdef void _pipe_init(StepPipe* p, LstmStep* s, range_fn gates, bint f32, Py_ssize_t N,
                     Py_ssize_t T, Py_ssize_t D, Py_ssize_t H, Py_ssize_t G, const void* xs,
                     const void* hprev, const void* Wx, const void* Wh, void* DA, void* dhc,
                     void* dxs, void* dWx, void* dWh) noexcept nogil:
    p.s, p.gates, p.f32, p.N, p.T, p.D, p.H, p.G = s, gates, f32, N, T, D, H, G
    p.xs, p.hprev, p.Wx, p.Wh, p.DA, p.dhc = xs, hprev, Wx, Wh, DA, dhc
    p.dxs, p.dWx, p.dWh = dxs, dWx, dWh
    blas_serial()


cdef inline void _pipe_run(StepPipe* p, Py_ssize_t t) noexcept nogil:
    p.t = t
    run_parallel(_pipe_piece, p, 2, 2,
                 ((<long long>p.N * 1000003 + p.H) * 1000003 + p.D) * 2 + (p.G != p.H))


cdef void memcpy_rows(void* dst, const void* src, Py_ssize_t rows, Py_ssize_t cols,
                      Py_ssize_t ldd, Py_ssize_t lds, int item) noexcept nogil:
    cdef Py_ssize_t r
    for r in range(rows):
        memcpy(<char*>dst + r * ldd * item, <const char*>src + r * lds * item, cols * item)


cdef void _lstm_backward_t(bint f32, Py_ssize_t N, Py_ssize_t T, Py_ssize_t D, Py_ssize_t H,
                           const void* dhs, const void* dh_next, const void* dc_next,
                           const void* xs, const void* hprev, const void* c0, const void* G,
                           const void* cs, const void* tcs, const void* Wx, const void* Wh,
                           void* DA, void* dhc, void* dcc, void* dxs, void* dWx, void* dWh,
                           void* db) noexcept nogil:
    cdef Py_ssize_t t, G4 = 4 * H
    cdef bint per_step = _per_step(f32, D, H, G4)
    cdef LstmStep s
    cdef StepPipe p
    cdef bint pipe = _pipelined(per_step, N)
    s.f32, s.H = f32, H
    s.lddh, s.lda, s.ldc, s.ldda = T * H, T * G4, T * H, T * G4
    s.dhc, s.dc = dh_next, dc_next
    s.dco = dcc
    if pipe:
        _pipe_init(&p, &s, _lstm_bwd_range, f32, N, T, D, H, G4, xs, hprev, Wx, Wh, DA, dhc,
                   dxs, dWx, dWh)
    for t in range(T - 1, -1, -1):
        if not pipe or t == T - 1:
            _lstm_bwd_at(&s, t, f32, T, H, dhs, G, tcs, cs, c0, DA)
            parallel_range(_lstm_bwd_range, &s, N, _rows_grain(8 * H, STREAM_GRAIN), 1)
        if pipe:
            # the region of step t also runs the gates of step t-1
            if t > 0:
                _lstm_bwd_at(&s, t - 1, f32, T, H, dhs, G, tcs, cs, c0, DA)
                s.dhc, s.dc = dhc, dcc
            _pipe_run(&p, t)
            continue
        if per_step:
            _step_grads(f32, N, T, D, H, G4, t, s.da, xs, hprev, Wx, dxs, dWx, dWh)
        # dh_{t-1} = dA_t · Whᵀ
        blas_gemm(f32, b'N', b'T', <int>N, <int>H, <int>G4, 1.0, s.da, <int>(T * G4), Wh,
                  <int>G4, 0.0, dhc, <int>H)
        s.dhc, s.dc = dhc, dcc
    _seq_grads(f32, N, T, D, H, G4, DA, xs, hprev, Wx, dxs, dWx, dWh, db, per_step)


# Weights up to this many bytes (Wx and Wh together) are handled step by step
# in the book's order (_per_step): 1 MiB, or every layer when the environment
# sets FASTNN_NLP_BOOK_ORDER=1 (or book_order(True) is called): the book's
# numbers for BetterRnnlm too, at ~60 ms more per 650-wide layer's backward.
cdef Py_ssize_t _per_step_bytes = 1 << 20


def book_order(enabled=None):
    """Whether every recurrent layer sums its weight gradients step by step
    in the book's order (True), or only those up to 1 MiB (False, the
    default: larger ones use one GEMM over all steps).  With an argument,
    sets it; returns the setting in force before."""
    global _per_step_bytes
    before = _per_step_bytes > (1 << 20)
    if enabled is not None:
        _per_step_bytes = (<Py_ssize_t>1 << 62) if enabled else (1 << 20)
    return before


import os as _os
if _os.environ.get("FASTNN_NLP_BOOK_ORDER", "").strip().lower() in ("1", "true", "yes", "on"):
    book_order(True)


cdef inline bint _per_step(bint f32, Py_ssize_t D, Py_ssize_t H, Py_ssize_t G) noexcept nogil:
    """dWx and dWh summed step by step, in the book's order, when they are
    small enough to stay in cache (Rnnlm's: 0.3 MB); otherwise one GEMM each
    over all N·T rows (BetterRnnlm's 13 MB would be read and written T times)."""
    return (D + H) * G * (4 if f32 else 8) <= _per_step_bytes


cdef void _step_grads(bint f32, Py_ssize_t N, Py_ssize_t T, Py_ssize_t D, Py_ssize_t H,
                      Py_ssize_t G, Py_ssize_t t, const void* da_t, const void* xs,
                      const void* hprev, const void* Wx, void* dxs, void* dWx,
                      void* dWh) noexcept nogil:
    """dxs_t = dA_t·Wxᵀ, dWx += x_tᵀ·dA_t and dWh += h_{t-1}ᵀ·dA_t, the first
    step (the last t) written with beta = 0: the book's per-step products of
    the same shapes (so BLAS picks the same kernels), added in its order
    (GEMM adds its product to C once, as the book's ``grads[i] += grad``)."""
    cdef double beta = 0.0 if t == T - 1 else 1.0
    if D > 0:
        blas_gemm(f32, b'N', b'T', <int>N, <int>D, <int>G, 1.0, da_t, <int>(T * G), Wx,
                  <int>G, 0.0, elem_at(dxs, t * D, f32), <int>(T * D))
        blas_gemm(f32, b'T', b'N', <int>D, <int>G, <int>N, 1.0, elem_at(xs, t * D, f32),
                  <int>(T * D), da_t, <int>(T * G), beta, dWx, <int>G)
    blas_gemm(f32, b'T', b'N', <int>H, <int>G, <int>N, 1.0, elem_at(hprev, t * H, f32),
              <int>(T * H), da_t, <int>(T * G), beta, dWh, <int>G)


cdef void _seq_grads(bint f32, Py_ssize_t N, Py_ssize_t T, Py_ssize_t D, Py_ssize_t H,
                     Py_ssize_t G4, const void* DA, const void* xs, const void* hprev,
                     const void* Wx, void* dxs, void* dWx, void* dWh, void* db,
                     bint per_step) noexcept nogil:
    """Unless ``per_step`` made them step by step: dxs = DA·Wxᵀ, dWx = xsᵀ·DA
    and dWh = hprevᵀ·DA over all N·T rows; db in the book's order."""
    cdef ColJob cj
    cdef int M = <int>(N * T)
    if D > 0 and not per_step:
        blas_gemm(f32, b'N', b'T', M, <int>D, <int>G4, 1.0, DA, <int>G4, Wx, <int>G4, 0.0,
                  dxs, <int>D)
        blas_gemm(f32, b'T', b'N', <int>D, <int>G4, M, 1.0, xs, <int>D, DA, <int>G4, 0.0,
                  dWx, <int>G4)
    if H > 0 and not per_step:
        blas_gemm(f32, b'T', b'N', <int>H, <int>G4, M, 1.0, hprev, <int>H, DA, <int>G4, 0.0,
                  dWh, <int>G4)
    cj.f32, cj.src, cj.N, cj.T, cj.G, cj.dst = f32, DA, N, T, G4, db
    parallel_range(_bias_range, &cj, G4, _rows_grain(N * T, STREAM_GRAIN), 16)


cdef void _rnn_forward_t(bint f32, Py_ssize_t N, Py_ssize_t T, Py_ssize_t D, Py_ssize_t H,
                         const void* xs, const void* Wx, const void* Wh, const void* b,
                         const void* h0, void* XW, void* hs, void* hprev, void* hw,
                         void* h_last) noexcept nogil:
    cdef Py_ssize_t t
    cdef LstmStep s
    cdef int item = 4 if f32 else 8
    cdef bint per_step = _per_step(f32, D, H, H)
    if D == 0:
        memset(XW, 0, N * T * H * item)
    elif per_step:
        _step_inputs(f32, N, T, D, H, xs, Wx, XW)
    else:
        blas_gemm(f32, b'N', b'N', <int>(N * T), <int>H, <int>D, 1.0, xs, <int>D, Wx,
                  <int>H, 0.0, XW, <int>H)
    s.f32, s.H, s.b, s.hw = f32, H, b, hw
    s.lda, s.ldh, s.ldh2 = T * H, T * H, T * H
    for t in range(T):
        if t == 0:
            memcpy_rows(hprev, h0, N, H, T * H, H, item)
            _recur_gemm(f32, per_step, N, H, H, h0, H, Wh, hw)
        else:
            _recur_gemm(f32, per_step, N, H, H, elem_at(hprev, t * H, f32), T * H, Wh, hw)
        s.a = elem_at(XW, t * H, f32)
        s.h = elem_at(hs, t * H, f32)
        s.h2 = elem_at(hprev, (t + 1) * H, f32) if t + 1 < T else NULL
        parallel_range(_rnn_fwd_range, &s, N, _rows_grain(4 * H, GATE_GRAIN), 1)
    memcpy_rows(h_last, elem_at(hs, (T - 1) * H, f32), N, H, H, T * H, item)


cdef void _rnn_backward_t(bint f32, Py_ssize_t N, Py_ssize_t T, Py_ssize_t D, Py_ssize_t H,
                          const void* dhs, const void* dh_next, const void* xs,
                          const void* hprev, const void* hs, const void* Wx, const void* Wh,
                          void* DT, void* dhc, void* dxs, void* dWx, void* dWh,
                          void* db) noexcept nogil:
    cdef Py_ssize_t t
    cdef LstmStep s
    cdef StepPipe p
    cdef bint per_step = _per_step(f32, D, H, H)
    cdef bint pipe = _pipelined(per_step, N)
    s.f32, s.H = f32, H
    s.lddh, s.ldh, s.ldda = T * H, T * H, T * H
    s.dhc = dh_next
    if pipe:
        _pipe_init(&p, &s, _rnn_bwd_range, f32, N, T, D, H, H, xs, hprev, Wx, Wh, DT, dhc,
                   dxs, dWx, dWh)
    for t in range(T - 1, -1, -1):
        if not pipe or t == T - 1:
            s.dhs, s.h, s.da = (elem_at(dhs, t * H, f32), elem_at(hs, t * H, f32),
                                elem_at(DT, t * H, f32))
            parallel_range(_rnn_bwd_range, &s, N, _rows_grain(H, STREAM_GRAIN), 1)
        if pipe:
            if t > 0:
                s.dhs, s.h, s.da = (elem_at(dhs, (t - 1) * H, f32), elem_at(hs, (t - 1) * H, f32),
                                    elem_at(DT, (t - 1) * H, f32))
                s.dhc = dhc
            _pipe_run(&p, t)
            continue
        if per_step:
            _step_grads(f32, N, T, D, H, H, t, s.da, xs, hprev, Wx, dxs, dWx, dWh)
        blas_gemm(f32, b'N', b'T', <int>N, <int>H, <int>H, 1.0, s.da, <int>(T * H), Wh,
                  <int>H, 0.0, dhc, <int>H)
        s.dhc = dhc
    _seq_grads(f32, N, T, D, H, H, DT, xs, hprev, Wx, dxs, dWx, dWh, db, per_step)


cdef struct GruStep:
    bint f32
    Py_ssize_t H
    void* a
    Py_ssize_t lda
    const void* hw
    const void* b
    const void* hp
    Py_ssize_t ldhp
    void* rh
    Py_ssize_t ldrh
    void* h
    Py_ssize_t ldh
    void* h2
    const void* dhs
    Py_ssize_t lddh
    const void* dhc
    void* dhn
    void* dhp
    const void* dhr


cdef void _gru_fwd1_range(void* ctx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef GruStep* s = <GruStep*>ctx
    fastnn_gru_fwd1_rows(s.f32, &_um, lo, hi, s.H, s.a, s.lda, s.hw, s.b, s.hp, s.ldhp, s.rh,
                         s.ldrh)


cdef void _gru_fwd2_range(void* ctx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef GruStep* s = <GruStep*>ctx
    fastnn_gru_fwd2_rows(s.f32, &_um, lo, hi, s.H, s.a, s.lda, s.hw, s.b, s.hp, s.ldhp, s.h,
                         s.ldh, s.h2)


cdef void _gru_bwd1_range(void* ctx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef GruStep* s = <GruStep*>ctx
    fastnn_gru_bwd1_rows(s.f32, lo, hi, s.H, s.dhs, s.lddh, s.dhc, s.a, s.lda, s.dhn, s.dhp,
                         s.rh, s.ldrh)


cdef void _gru_bwd2_range(void* ctx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef GruStep* s = <GruStep*>ctx
    fastnn_gru_bwd2_rows(s.f32, lo, hi, s.H, s.dhr, s.dhn, s.dhp, s.a, s.lda, s.hp, s.ldhp,
                         s.rh, s.ldrh)


cdef void _gru_forward_t(bint f32, Py_ssize_t N, Py_ssize_t T, Py_ssize_t D, Py_ssize_t H,
                         const void* xs, const void* Wx, const void* Wh, const void* b,
                         const void* h0, void* G, void* hs, void* hprev, void* hw, void* rh,
                         void* hh, void* h_last) noexcept nogil:
    """The book's GRU over T steps: z, r from (x·Wx + h·Wh) + b; h_hat from
    x·Wxh + (r·h)·Whh + bh; G holds [z r h_hat] per step."""
    cdef Py_ssize_t t, G3 = 3 * H
    cdef int item = 4 if f32 else 8
    cdef GruStep s
    if D > 0:
        blas_gemm(f32, b'N', b'N', <int>(N * T), <int>G3, <int>D, 1.0, xs, <int>D, Wx,
                  <int>G3, 0.0, G, <int>G3)
    else:
        memset(G, 0, N * T * G3 * item)
    memcpy_rows(hprev, h0, N, H, T * H, H, item)
    s.f32, s.H, s.b, s.lda, s.ldh, s.ldrh = f32, H, b, T * G3, T * H, H
    s.rh = rh
    for t in range(T):
        s.hp, s.ldhp = elem_at(hprev, t * H, f32), T * H
        s.a = elem_at(G, t * G3, f32)
        # z, r: h_{t-1}·Wh[:, :2H]
        s.hw = hw
        blas_gemm(f32, b'N', b'N', <int>N, <int>(2 * H), <int>H, 1.0, s.hp, <int>(T * H), Wh,
                  <int>G3, 0.0, hw, <int>(2 * H))
        parallel_range(_gru_fwd1_range, &s, N, _rows_grain(6 * H, GATE_GRAIN), 1)
        # h_hat: (r·h_{t-1})·Whh
        blas_gemm(f32, b'N', b'N', <int>N, <int>H, <int>H, 1.0, rh, <int>H,
                  elem_at(Wh, 2 * H, f32), <int>G3, 0.0, hh, <int>H)
        s.hw = hh
        s.h = elem_at(hs, t * H, f32)
        s.h2 = elem_at(hprev, (t + 1) * H, f32) if t + 1 < T else NULL
        parallel_range(_gru_fwd2_range, &s, N, _rows_grain(6 * H, GATE_GRAIN), 1)
    memcpy_rows(h_last, elem_at(hs, (T - 1) * H, f32), N, H, H, T * H, item)


cdef void _gru_backward_t(bint f32, Py_ssize_t N, Py_ssize_t T, Py_ssize_t D, Py_ssize_t H,
                          const void* dhs, const void* dh_next, const void* xs,
                          const void* hprev, const void* G, const void* RH, const void* Wx,
                          const void* Wh, void* DA, void* dhn, void* dhp, void* dhr, void* dhc,
                          void* dxs, void* dWx, void* dWh, void* db) noexcept nogil:
    cdef Py_ssize_t t, G3 = 3 * H
    cdef int item = 4 if f32 else 8
    cdef int M = <int>(N * T)
    cdef GruStep s
    cdef ColJob cj
    s.f32, s.H, s.lda, s.lddh, s.ldrh, s.ldhp = f32, H, T * G3, T * H, T * G3, T * H
    s.dhc, s.dhn, s.dhp, s.dhr = dh_next, dhn, dhp, dhr
    for t in range(T - 1, -1, -1):
        s.dhs = elem_at(dhs, t * H, f32)
        s.a = <void*>elem_at(G, t * G3, f32)
        s.hp = elem_at(hprev, t * H, f32)
        s.rh = elem_at(DA, t * G3, f32)          # this step's dA
        parallel_range(_gru_bwd1_range, &s, N, _rows_grain(4 * H, STREAM_GRAIN), 1)
        # dhr = dt·Whhᵀ
        blas_gemm(f32, b'N', b'T', <int>N, <int>H, <int>H, 1.0, elem_at(s.rh, 2 * H, f32),
                  <int>(T * G3), elem_at(Wh, 2 * H, f32), <int>G3, 0.0, dhr, <int>H)
        parallel_range(_gru_bwd2_range, &s, N, _rows_grain(4 * H, STREAM_GRAIN), 1)
        # dh_prev += dt_z·Whzᵀ, then += dt_r·Whrᵀ (the book's two products)
        blas_gemm(f32, b'N', b'T', <int>N, <int>H, <int>H, 1.0, s.rh, <int>(T * G3), Wh,
                  <int>G3, 1.0, dhp, <int>H)
        blas_gemm(f32, b'N', b'T', <int>N, <int>H, <int>H, 1.0, elem_at(s.rh, H, f32),
                  <int>(T * G3), elem_at(Wh, H, f32), <int>G3, 1.0, dhp, <int>H)
        memcpy(dhc, dhp, N * H * item)
        s.dhc = dhc
    if D > 0:
        blas_gemm(f32, b'N', b'T', M, <int>D, <int>G3, 1.0, DA, <int>G3, Wx, <int>G3, 0.0,
                  dxs, <int>D)
        blas_gemm(f32, b'T', b'N', <int>D, <int>G3, M, 1.0, xs, <int>D, DA, <int>G3, 0.0,
                  dWx, <int>G3)
    blas_gemm(f32, b'T', b'N', <int>H, <int>(2 * H), M, 1.0, hprev, <int>H, DA, <int>G3, 0.0,
              dWh, <int>G3)
    blas_gemm(f32, b'T', b'N', <int>H, <int>H, M, 1.0, RH, <int>H, elem_at(DA, 2 * H, f32),
              <int>G3, 0.0, elem_at(dWh, 2 * H, f32), <int>G3)
    cj.f32, cj.src, cj.N, cj.T, cj.G, cj.dst = f32, DA, N, T, G3, db
    parallel_range(_bias_range, &cj, G3, _rows_grain(N * T, STREAM_GRAIN), 16)


# -- argument handling ----------------------------------------------------------

cdef object _same(object a, cnp.ndarray like):
    """``a`` as a native C-contiguous array of like's dtype, or None."""
    a = kernel_input(a)
    if a is None or not same_dtype(<cnp.ndarray>like, <cnp.ndarray>a):
        return None
    return a


cdef object _grad_out(object g, cnp.ndarray like_dtype, tuple shape):
    """The layer's gradient array itself when the kernel can write it, else None."""
    if (type(g) is cnp.ndarray and cnp.PyArray_ISCARRAY(<cnp.ndarray>g)
            and same_dtype(like_dtype, <cnp.ndarray>g) and g.shape == shape):
        return g
    return None


cdef cnp.ndarray _take(Pool pool, tuple shape, int typenum):
    cdef cnp.npy_intp dims[3]
    cdef int i, nd = len(shape)
    for i in range(nd):
        dims[i] = shape[i]
    return pool_take(pool, nd, dims, typenum)


cdef inline void* _ptr(object a):
    return NULL if a is None else cnp.PyArray_DATA(<cnp.ndarray>a)


cdef bint _fits(Py_ssize_t a, Py_ssize_t b, Py_ssize_t c) noexcept:
    return a <= INT_MAX and b <= INT_MAX and c <= INT_MAX


def _check_seq(xs, Wx, Wh, gates):
    """Shapes of a whole-sequence call: ValueError naming the argument."""
    if xs.ndim != 3:
        raise ValueError("xs must be (N, T, D), got shape %s" % (xs.shape,))
    if xs.shape[1] == 0:
        raise ValueError("xs has T = 0 time steps (shape %s): need T >= 1" % (xs.shape,))
    if Wx.ndim != 2 or Wh.ndim != 2 or Wh.shape[1] != gates * Wh.shape[0]:
        raise ValueError("Wh must be (H, %dH), got %s" % (gates, Wh.shape))
    if Wx.shape != (xs.shape[2], Wh.shape[1]):
        raise ValueError("Wx has shape %s, expected %s for xs %s and Wh %s"
                         % (Wx.shape, (xs.shape[2], Wh.shape[1]), xs.shape, Wh.shape))


def _check_state(name, s, n, h):
    if s is not None and tuple(s.shape) != (n, h):
        raise ValueError("%s has shape %s, expected %s (batch, hidden)"
                         % (name, tuple(s.shape), (n, h)))


# -- compiled overrides of NumpyOps (mixed into fastnn.backends.CompiledOps) -----

class RnnOps:
    """Whole-sequence LSTM/RNN, embedding backward and the time softmax loss
    on the kernels above; NumpyOps (``super()``) for other inputs."""

    def lstm_forward(self, xs, Wx, Wh, b, h0, c0, Pool pool=None):
        _check_seq(xs, Wx, Wh, 4)
        n, t_len, d = xs.shape
        hd = Wh.shape[0]
        _check_state("h", h0, n, hd)
        _check_state("c", c0, n, hd)
        xa = kernel_input(xs) if n > 1 else None   # one row: NumPy's GEMV, the book's bits
        if xa is None:
            return super().lstm_forward(xs, Wx, Wh, b, h0, c0, pool)
        wx, wh, ba, ha, ca = (_same(Wx, xa), _same(Wh, xa), _same(b, xa), _same(h0, xa),
                              _same(c0, xa))
        if (wx is None or wh is None or ba is None or ha is None or ca is None
                or ba.shape != (4 * hd,) or not _fits(n * t_len, 4 * hd, max(d, hd))):
            return super().lstm_forward(xs, Wx, Wh, b, h0, c0, pool)
        cdef int tn = cnp.PyArray_TYPE(<cnp.ndarray>xa)
        cdef bint f32 = is_f32(<cnp.ndarray>xa)
        cdef cnp.ndarray G = _take(pool, (n, t_len, 4 * hd), tn)
        cdef cnp.ndarray hs = _take(pool, (n, t_len, hd), tn)
        cdef cnp.ndarray hprev = _take(pool, (n, t_len, hd), tn)
        cdef cnp.ndarray cs = _take(pool, (n, t_len, hd), tn)
        cdef cnp.ndarray tcs = _take(pool, (n, t_len, hd), tn)
        cdef cnp.ndarray hw = _take(pool, (n, 4 * hd), tn)
        cdef cnp.ndarray hl = _take(None, (n, hd), tn)
        cdef cnp.ndarray cl = _take(None, (n, hd), tn)
        cdef void* p[14]
        p[:] = [cnp.PyArray_DATA(<cnp.ndarray>xa), cnp.PyArray_DATA(<cnp.ndarray>wx),
                cnp.PyArray_DATA(<cnp.ndarray>wh), cnp.PyArray_DATA(<cnp.ndarray>ba),
                cnp.PyArray_DATA(<cnp.ndarray>ha), cnp.PyArray_DATA(<cnp.ndarray>ca),
                cnp.PyArray_DATA(G), cnp.PyArray_DATA(hs), cnp.PyArray_DATA(hprev),
                cnp.PyArray_DATA(cs), cnp.PyArray_DATA(tcs), cnp.PyArray_DATA(hw),
                cnp.PyArray_DATA(hl), cnp.PyArray_DATA(cl)]
        cdef Py_ssize_t N = n, T = t_len, D = d, H = hd
        with nogil:
            _lstm_forward_t(f32, N, T, D, H, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7],
                            p[8], p[9], p[10], p[11], p[12], p[13])
        return hs, hl, cl, (xa, hprev, ca, G, cs, tcs)

    def lstm_backward(self, dhs, dh_next, dc_next, cache, Wx, Wh, dWx, dWh, db,
                      Pool pool=None):
        xs, hprev, c0, G, cs, tcs = cache
        n, t_len, d = xs.shape
        hd = Wh.shape[0]
        if tuple(dhs.shape) != (n, t_len, hd):
            raise ValueError("dhs has shape %s, expected %s" % (dhs.shape, (n, t_len, hd)))
        _check_state("dh_next", dh_next, n, hd)
        _check_state("dc_next", dc_next, n, hd)
        xa = kernel_input(xs) if n > 1 else None
        da = _same(dhs, xa) if xa is not None else None
        wx, wh = (_same(Wx, xa), _same(Wh, xa)) if xa is not None else (None, None)
        dhn = _same(dh_next, xa) if dh_next is not None and xa is not None else None
        dcn = _same(dc_next, xa) if dc_next is not None and xa is not None else None
        if (tcs is None or da is None or wx is None or wh is None
                or (dh_next is not None and dhn is None) or (dc_next is not None and dcn is None)
                or _same(hprev, xa) is not hprev or _same(G, xa) is not G
                or _same(cs, xa) is not cs or _same(tcs, xa) is not tcs
                or _same(c0, xa) is not c0
                or tuple(wx.shape) != (d, 4 * hd) or tuple(wh.shape) != (hd, 4 * hd)):
            return super().lstm_backward(dhs, dh_next, dc_next, cache, Wx, Wh, dWx, dWh, db,
                                         pool)
        cdef int tn = cnp.PyArray_TYPE(<cnp.ndarray>xa)
        cdef bint f32 = is_f32(<cnp.ndarray>xa)
        gx = _grad_out(dWx, xa, (d, 4 * hd))
        gh = _grad_out(dWh, xa, (hd, 4 * hd))
        gb = _grad_out(db, xa, (4 * hd,))
        gx2 = gx if gx is not None else _take(None, (d, 4 * hd), tn)
        gh2 = gh if gh is not None else _take(None, (hd, 4 * hd), tn)
        gb2 = gb if gb is not None else _take(None, (4 * hd,), tn)
        cdef cnp.ndarray DA = _take(pool, (n, t_len, 4 * hd), tn)
        cdef cnp.ndarray dxs = _take(pool, (n, t_len, d), tn)
        cdef cnp.ndarray dhc = _take(None, (n, hd), tn)
        cdef cnp.ndarray dcc = _take(None, (n, hd), tn)
        cdef void* p[18]
        p[:] = [cnp.PyArray_DATA(<cnp.ndarray>da),
                _ptr(dhn),
                _ptr(dcn),
                cnp.PyArray_DATA(<cnp.ndarray>xa), cnp.PyArray_DATA(<cnp.ndarray>hprev),
                cnp.PyArray_DATA(<cnp.ndarray>c0), cnp.PyArray_DATA(<cnp.ndarray>G),
                cnp.PyArray_DATA(<cnp.ndarray>cs), cnp.PyArray_DATA(<cnp.ndarray>tcs),
                cnp.PyArray_DATA(<cnp.ndarray>wx), cnp.PyArray_DATA(<cnp.ndarray>wh),
                cnp.PyArray_DATA(DA), cnp.PyArray_DATA(dhc), cnp.PyArray_DATA(dcc),
                cnp.PyArray_DATA(dxs), cnp.PyArray_DATA(<cnp.ndarray>gx2),
                cnp.PyArray_DATA(<cnp.ndarray>gh2), cnp.PyArray_DATA(<cnp.ndarray>gb2)]
        cdef Py_ssize_t N = n, T = t_len, D = d, H = hd
        with nogil:
            _lstm_backward_t(f32, N, T, D, H, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7],
                             p[8], p[9], p[10], p[11], p[12], p[13], p[14], p[15], p[16],
                             p[17])
        if gx is None:
            dWx[...] = gx2
        if gh is None:
            dWh[...] = gh2
        if gb is None:
            db[...] = gb2
        return dxs, dhc, dcc

    def rnn_forward(self, xs, Wx, Wh, b, h0, Pool pool=None):
        _check_seq(xs, Wx, Wh, 1)
        n, t_len, d = xs.shape
        hd = Wh.shape[0]
        _check_state("h", h0, n, hd)
        xa = kernel_input(xs) if n > 1 else None   # one row: NumPy's GEMV, the book's bits
        if xa is None:
            return super().rnn_forward(xs, Wx, Wh, b, h0, pool)
        wx, wh, ba, ha = _same(Wx, xa), _same(Wh, xa), _same(b, xa), _same(h0, xa)
        if (wx is None or wh is None or ba is None or ha is None or ba.shape != (hd,)
                or not _fits(n * t_len, hd, max(d, hd))):
            return super().rnn_forward(xs, Wx, Wh, b, h0, pool)
        cdef int tn = cnp.PyArray_TYPE(<cnp.ndarray>xa)
        cdef bint f32 = is_f32(<cnp.ndarray>xa)
        cdef cnp.ndarray XW = _take(pool, (n, t_len, hd), tn)
        cdef cnp.ndarray hs = _take(pool, (n, t_len, hd), tn)
        cdef cnp.ndarray hprev = _take(pool, (n, t_len, hd), tn)
        cdef cnp.ndarray hw = _take(pool, (n, hd), tn)
        cdef cnp.ndarray hl = _take(None, (n, hd), tn)
        cdef void* p[10]
        p[:] = [cnp.PyArray_DATA(<cnp.ndarray>xa), cnp.PyArray_DATA(<cnp.ndarray>wx),
                cnp.PyArray_DATA(<cnp.ndarray>wh), cnp.PyArray_DATA(<cnp.ndarray>ba),
                cnp.PyArray_DATA(<cnp.ndarray>ha), cnp.PyArray_DATA(XW), cnp.PyArray_DATA(hs),
                cnp.PyArray_DATA(hprev), cnp.PyArray_DATA(hw), cnp.PyArray_DATA(hl)]
        cdef Py_ssize_t N = n, T = t_len, D = d, H = hd
        with nogil:
            _rnn_forward_t(f32, N, T, D, H, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7],
                           p[8], p[9])
        return hs, hl, (xa, hprev, hs)

    def rnn_backward(self, dhs, dh_next, cache, Wx, Wh, dWx, dWh, db, Pool pool=None):
        xs, hprev, hs = cache
        n, t_len, d = xs.shape
        hd = Wh.shape[0]
        if tuple(dhs.shape) != (n, t_len, hd):
            raise ValueError("dhs has shape %s, expected %s" % (dhs.shape, (n, t_len, hd)))
        _check_state("dh_next", dh_next, n, hd)
        xa = kernel_input(xs) if n > 1 else None
        da = _same(dhs, xa) if xa is not None else None
        wx, wh = (_same(Wx, xa), _same(Wh, xa)) if xa is not None else (None, None)
        dhn = _same(dh_next, xa) if dh_next is not None and xa is not None else None
        if (da is None or wx is None or wh is None or (dh_next is not None and dhn is None)
                or _same(hprev, xa) is not hprev or _same(hs, xa) is not hs
                or tuple(wx.shape) != (d, hd) or tuple(wh.shape) != (hd, hd)):
            return super().rnn_backward(dhs, dh_next, cache, Wx, Wh, dWx, dWh, db, pool)
        cdef int tn = cnp.PyArray_TYPE(<cnp.ndarray>xa)
        cdef bint f32 = is_f32(<cnp.ndarray>xa)
        gx = _grad_out(dWx, xa, (d, hd))
        gh = _grad_out(dWh, xa, (hd, hd))
        gb = _grad_out(db, xa, (hd,))
        gx2 = gx if gx is not None else _take(None, (d, hd), tn)
        gh2 = gh if gh is not None else _take(None, (hd, hd), tn)
        gb2 = gb if gb is not None else _take(None, (hd,), tn)
        cdef cnp.ndarray DT = _take(pool, (n, t_len, hd), tn)
        cdef cnp.ndarray dxs = _take(pool, (n, t_len, d), tn)
        cdef cnp.ndarray dhc = _take(None, (n, hd), tn)
        cdef void* p[14]
        p[:] = [cnp.PyArray_DATA(<cnp.ndarray>da),
                _ptr(dhn),
                cnp.PyArray_DATA(<cnp.ndarray>xa), cnp.PyArray_DATA(<cnp.ndarray>hprev),
                cnp.PyArray_DATA(<cnp.ndarray>hs), cnp.PyArray_DATA(<cnp.ndarray>wx),
                cnp.PyArray_DATA(<cnp.ndarray>wh), cnp.PyArray_DATA(DT), cnp.PyArray_DATA(dhc),
                cnp.PyArray_DATA(dxs), cnp.PyArray_DATA(<cnp.ndarray>gx2),
                cnp.PyArray_DATA(<cnp.ndarray>gh2), cnp.PyArray_DATA(<cnp.ndarray>gb2), NULL]
        cdef Py_ssize_t N = n, T = t_len, D = d, H = hd
        with nogil:
            _rnn_backward_t(f32, N, T, D, H, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7],
                            p[8], p[9], p[10], p[11], p[12])
        if gx is None:
            dWx[...] = gx2
        if gh is None:
            dWh[...] = gh2
        if gb is None:
            db[...] = gb2
        return dxs, dhc

    def gru_forward(self, xs, Wx, Wh, b, h0, Pool pool=None):
        _check_seq(xs, Wx, Wh, 3)
        n, t_len, d = xs.shape
        hd = Wh.shape[0]
        _check_state("h", h0, n, hd)
        xa = kernel_input(xs) if n > 1 else None   # one row: NumPy's GEMV, the book's bits
        if xa is None:
            return super().gru_forward(xs, Wx, Wh, b, h0, pool)
        wx, wh, ba, ha = _same(Wx, xa), _same(Wh, xa), _same(b, xa), _same(h0, xa)
        if (wx is None or wh is None or ba is None or ha is None or ba.shape != (3 * hd,)
                or not _fits(n * t_len, 3 * hd, max(d, hd))):
            return super().gru_forward(xs, Wx, Wh, b, h0, pool)
        cdef int tn = cnp.PyArray_TYPE(<cnp.ndarray>xa)
        cdef bint f32 = is_f32(<cnp.ndarray>xa)
        cdef cnp.ndarray G = _take(pool, (n, t_len, 3 * hd), tn)
        cdef cnp.ndarray hs = _take(pool, (n, t_len, hd), tn)
        cdef cnp.ndarray hprev = _take(pool, (n, t_len, hd), tn)
        cdef cnp.ndarray hw = _take(pool, (n, 2 * hd), tn)
        cdef cnp.ndarray rh = _take(pool, (n, hd), tn)
        cdef cnp.ndarray hh = _take(pool, (n, hd), tn)
        cdef cnp.ndarray hl = _take(None, (n, hd), tn)
        cdef void* p[12]
        p[:] = [_ptr(xa), _ptr(wx), _ptr(wh), _ptr(ba), _ptr(ha), _ptr(G), _ptr(hs),
                _ptr(hprev), _ptr(hw), _ptr(rh), _ptr(hh), _ptr(hl)]
        cdef Py_ssize_t N = n, T = t_len, D = d, H = hd
        with nogil:
            _gru_forward_t(f32, N, T, D, H, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7],
                           p[8], p[9], p[10], p[11])
        return hs, hl, (xa, hprev, G)

    def gru_backward(self, dhs, dh_next, cache, Wx, Wh, dWx, dWh, db, Pool pool=None):
        xs, hprev, G = cache
        n, t_len, d = xs.shape
        hd = Wh.shape[0]
        if tuple(dhs.shape) != (n, t_len, hd):
            raise ValueError("dhs has shape %s, expected %s" % (dhs.shape, (n, t_len, hd)))
        _check_state("dh_next", dh_next, n, hd)
        xa = kernel_input(xs) if n > 1 else None
        da = _same(dhs, xa) if xa is not None else None
        wx, wh = (_same(Wx, xa), _same(Wh, xa)) if xa is not None else (None, None)
        dhn_in = _same(dh_next, xa) if dh_next is not None and xa is not None else None
        if (da is None or wx is None or wh is None or (dh_next is not None and dhn_in is None)
                or _same(hprev, xa) is not hprev or _same(G, xa) is not G
                or tuple(wx.shape) != (d, 3 * hd) or tuple(wh.shape) != (hd, 3 * hd)):
            return super().gru_backward(dhs, dh_next, cache, Wx, Wh, dWx, dWh, db, pool)
        cdef int tn = cnp.PyArray_TYPE(<cnp.ndarray>xa)
        cdef bint f32 = is_f32(<cnp.ndarray>xa)
        gx = _grad_out(dWx, xa, (d, 3 * hd))
        gh = _grad_out(dWh, xa, (hd, 3 * hd))
        gb = _grad_out(db, xa, (3 * hd,))
        gx2 = gx if gx is not None else _take(None, (d, 3 * hd), tn)
        gh2 = gh if gh is not None else _take(None, (hd, 3 * hd), tn)
        gb2 = gb if gb is not None else _take(None, (3 * hd,), tn)
        RH = np.multiply(G[:, :, hd:2 * hd], hprev)          # r·h_prev, as the forward made it
        cdef cnp.ndarray DA = _take(pool, (n, t_len, 3 * hd), tn)
        cdef cnp.ndarray dxs = _take(pool, (n, t_len, d), tn)
        cdef cnp.ndarray dhn = _take(pool, (n, hd), tn)
        cdef cnp.ndarray dhp = _take(pool, (n, hd), tn)
        cdef cnp.ndarray dhr = _take(pool, (n, hd), tn)
        cdef cnp.ndarray dhc = _take(None, (n, hd), tn)
        cdef void* p[17]
        p[:] = [_ptr(da), _ptr(dhn_in), _ptr(xa), _ptr(hprev), _ptr(G), _ptr(RH), _ptr(wx),
                _ptr(wh), _ptr(DA), _ptr(dhn), _ptr(dhp), _ptr(dhr), _ptr(dhc), _ptr(dxs),
                _ptr(gx2), _ptr(gh2), _ptr(gb2)]
        cdef Py_ssize_t N = n, T = t_len, D = d, H = hd
        with nogil:
            _gru_backward_t(f32, N, T, D, H, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7],
                            p[8], p[9], p[10], p[11], p[12], p[13], p[14], p[15], p[16])
        if gx is None:
            dWx[...] = gx2
        if gh is None:
            dWh[...] = gh2
        if gb is None:
            db[...] = gb2
        return dxs, dhc

    def time_affine_forward(self, x, W, b, Pool pool=None):
        """x·W + b with the book's rounding: the product, then the bias added
        (one GEMM, W C- or Fortran-ordered, then a pass adding b).  Folding
        b into the GEMM (C starts as b, beta = 1) rounds as the book only
        while BLAS takes the inner dimension in one block, so the folded
        form (AffineOps) is used for D <= 128 only (Rnnlm's 100)."""
        xa = kernel_input(x)
        if (xa is None or xa.ndim != 2 or xa.shape[0] < 2     # one row: NumPy's GEMV
                or type(W) is not cnp.ndarray or W.ndim != 2
                or type(b) is not cnp.ndarray or b.ndim != 1 or W.dtype != xa.dtype
                or b.dtype != xa.dtype or not W.dtype.isnative or not b.dtype.isnative
                or W.shape[0] != xa.shape[1] or b.shape[0] != W.shape[1]
                or not (W.flags.c_contiguous or W.flags.f_contiguous)
                or not _fits(xa.shape[0], W.shape[1], xa.shape[1])):
            return super().time_affine_forward(x, W, b, pool)
        if xa.shape[1] <= 128:
            return self.affine_forward(xa, W, b, pool)[0]
        cdef int n = xa.shape[0], k = xa.shape[1], m = W.shape[1]
        cdef bint f32 = is_f32(<cnp.ndarray>xa)
        cdef bint wc = W.flags.c_contiguous
        cdef cnp.ndarray out = _take(pool, (n, m), cnp.PyArray_TYPE(<cnp.ndarray>xa))
        cdef void* px = cnp.PyArray_DATA(<cnp.ndarray>xa)
        cdef void* pw = cnp.PyArray_DATA(<cnp.ndarray>W)
        cdef void* po = cnp.PyArray_DATA(out)
        if n > 0 and m > 0:
            with nogil:
                blas_gemm(f32, b'N', b'N' if wc else b'T', n, m, k, 1.0, px, k, pw,
                          m if wc else k, 0.0, po, m)
        np.add(out, b, out=out)
        return out

    def time_affine_backward(self, dout, x, W, dW, db, Pool pool=None):
        """dx = dout·Wᵀ and dW = xᵀ·dout through fastnn's BLAS, written into
        the layer's dW whether it is C-ordered or Fortran-ordered (the tied
        output layer's gradient, ``zeros_like(embed_W.T)``: then dWᵀ =
        doutᵀ·x is computed in place of a transposing copy); db = NumPy's
        row sum (the book's), or left alone when None (the loss's backward
        pass wrote it: time_softmax_loss_backward(..., db=))."""
        da = kernel_input(dout)
        xa = _same(x, da) if da is not None else None
        if (xa is None or type(W) is not cnp.ndarray or type(dW) is not cnp.ndarray
                or da.ndim != 2 or da.shape[0] < 2 or xa.ndim != 2 or W.ndim != 2 or W.dtype != da.dtype
                or dW.dtype != da.dtype or not W.dtype.isnative or not dW.dtype.isnative
                or W.shape != (xa.shape[1], da.shape[1]) or dW.shape != W.shape
                or da.shape[0] != xa.shape[0] or not dW.flags.writeable
                or not (W.flags.c_contiguous or W.flags.f_contiguous)
                or not (dW.flags.c_contiguous or dW.flags.f_contiguous)
                or not _fits(da.shape[0], da.shape[1], xa.shape[1])
                or np.may_share_memory(dW, da) or np.may_share_memory(dW, xa)):
            return super().time_affine_backward(dout, x, W, dW, db, pool)
        cdef int n = da.shape[0], m = da.shape[1], k = xa.shape[1]
        cdef bint f32 = is_f32(<cnp.ndarray>da)
        cdef bint wc = W.flags.c_contiguous, gc = dW.flags.c_contiguous
        cdef cnp.ndarray dx = _take(pool, (n, k), cnp.PyArray_TYPE(<cnp.ndarray>da))
        cdef void* pd = cnp.PyArray_DATA(<cnp.ndarray>da)
        cdef void* px = cnp.PyArray_DATA(<cnp.ndarray>xa)
        cdef void* pw = cnp.PyArray_DATA(<cnp.ndarray>W)
        cdef void* pg = cnp.PyArray_DATA(<cnp.ndarray>dW)
        cdef void* pdx = cnp.PyArray_DATA(dx)
        if db is not None:
            if _same(db, da) is db and db.shape == (m,) and db.flags.writeable:
                np.sum(da, axis=0, out=db)
            else:
                db[...] = np.sum(da, axis=0)
        with nogil:
            if n > 0 and k > 0:
                # dx (n×k) = dout (n×m) · Wᵀ; W (k×m) row-major, or Wᵀ (m×k) row-major
                if m > 0:
                    blas_gemm(f32, b'N', b'T' if wc else b'N', n, k, m, 1.0, pd, m, pw,
                              m if wc else k, 0.0, pdx, k)
                else:
                    memset(pdx, 0, <size_t>n * k * (4 if f32 else 8))
            if k > 0 and m > 0:
                if n == 0:
                    memset(pg, 0, <size_t>k * m * (4 if f32 else 8))
                elif gc:
                    blas_gemm(f32, b'T', b'N', k, m, n, 1.0, px, k, pd, m, 0.0, pg, m)
                else:
                    blas_gemm(f32, b'T', b'N', m, k, n, 1.0, pd, m, px, k, 0.0, pg, k)
        return dx

    def time_embedding_backward(self, dout, idx, dW, Pool pool=None):
        """dW = Σ scatter-add of dout rows at idx, without np.add.at: zeroed,
        then added per column block (the pool's threads take column blocks,
        so repeated ids never race), in the book's order: each step's rows of
        one id summed in batch order, then added to dW step after step."""
        gw = _grad_out(dW, dW, tuple(dW.shape)) if type(dW) is cnp.ndarray else None
        da = _same(dout, dW) if gw is not None else None
        if (gw is None or da is None or dW.ndim != 2 or not isinstance(idx, np.ndarray)
                or idx.ndim != 2 or dout.shape != idx.shape + (dW.shape[1],)):
            return super().time_embedding_backward(dout, idx, dW, pool)
        ids = np.ascontiguousarray(idx, dtype=np.int64)
        v, dd = dW.shape
        if ids.size and (ids.min() < 0 or ids.max() >= v):
            raise ValueError("idx holds ids outside [0, %d)" % v)
        if idx.shape[0] > INT_MAX:
            return super().time_embedding_backward(dout, idx, dW, pool)
        first = np.empty(idx.shape, np.uint8)
        nxt = np.empty(idx.shape, np.int32)
        cdef ColJob cj
        cj.f32 = is_f32(<cnp.ndarray>gw)
        cj.src = cnp.PyArray_DATA(<cnp.ndarray>da)
        cj.idx = <const int64_t*>cnp.PyArray_DATA(<cnp.ndarray>ids)
        cj.first = <const uint8_t*>cnp.PyArray_DATA(<cnp.ndarray>first)
        cj.nxt = <const int32_t*>cnp.PyArray_DATA(<cnp.ndarray>nxt)
        cj.N, cj.T, cj.G = idx.shape[0], idx.shape[1], dd
        cj.dst = cnp.PyArray_DATA(<cnp.ndarray>gw)
        cdef Py_ssize_t nbytes = cnp.PyArray_NBYTES(<cnp.ndarray>gw)
        cdef Py_ssize_t D = dd
        with nogil:
            fastnn_embed_links(cj.idx, cj.N, cj.T, <uint8_t*>cj.first, <int32_t*>cj.nxt)
            parallel_range(_zero_range, &cj, nbytes, 1 << 18, 64)
            parallel_range(_scatter_range, &cj, D, 16, 16)
        return dW

    def time_softmax_loss_forward(self, xs, ts, ignore_label=-1, Pool pool=None,
                                  overwrite=False):
        xa = kernel_input(xs)
        if (xa is None or xa.ndim != 3 or not isinstance(ts, np.ndarray)
                or ts.shape != xa.shape[:2] or ts.dtype.kind not in "iu"
                or xa.shape[2] == 0):    # no classes: NumPy's error (the row max reads x[0])
            return super().time_softmax_loss_forward(xs, ts, ignore_label, pool)
        n, t_len, v = xa.shape
        rows = n * t_len
        mask = (ts != ignore_label).reshape(rows)
        tf = ts.reshape(rows)
        cdef cnp.ndarray ys
        if overwrite and cnp.PyArray_ISCARRAY(<cnp.ndarray>xa):
            # the scores are the caller's own scratch: the softmax goes over
            # them (each row is read into cache by its max, then rewritten)
            ys = xa.reshape(rows, v)
        else:
            ys = _take(pool, (rows, v), cnp.PyArray_TYPE(<cnp.ndarray>xa))
        cdef RowJob rj
        rj.f32 = is_f32(ys)
        rj.x = cnp.PyArray_DATA(<cnp.ndarray>xa)
        rj.y = cnp.PyArray_DATA(ys)
        rj.V = v
        cdef Py_ssize_t R = rows
        with nogil:
            parallel_range(_softmax_range, &rj, R, _rows_grain(8 * rj.V, GATE_GRAIN), 1)
        ls = np.log(ys[np.arange(rows), tf])
        ls *= mask
        loss = -np.sum(ls)
        loss /= mask.sum()
        return loss, (tf, ys, mask, (n, t_len, v))

    def time_softmax_loss_backward(self, dout, cache, Pool pool=None, db=None):
        ts, ys, mask, (n, t_len, v) = cache
        if not (type(ys) is cnp.ndarray and cnp.PyArray_ISCARRAY(<cnp.ndarray>ys)
                and ys.dtype in (np.float32, np.float64) and ys.dtype.isnative
                and type(dout) in (int, float)):
            return super().time_softmax_loss_backward(dout, cache, pool, db)
        cdef bint cols = (db is not None and type(db) is cnp.ndarray
                          and cnp.PyArray_ISCARRAY(<cnp.ndarray>db) and db.dtype == ys.dtype
                          and db.shape == (v,) and n * t_len > 0
                          and not np.may_share_memory(db, ys))
        rows = n * t_len
        tsa = np.ascontiguousarray(ts, dtype=np.int64)
        if tsa.size and (tsa.min() < -v or tsa.max() >= v):
            raise IndexError("labels outside [-%d, %d)" % (v, v))
        ma = np.ascontiguousarray(mask, dtype=np.bool_)
        cdef RowJob rj
        rj.f32 = is_f32(<cnp.ndarray>ys)
        rj.y = cnp.PyArray_DATA(<cnp.ndarray>ys)
        rj.ts = <const int64_t*>cnp.PyArray_DATA(<cnp.ndarray>tsa)
        rj.mask = <const uint8_t*>cnp.PyArray_DATA(<cnp.ndarray>ma)
        rj.V = v
        rj.dout = <double>dout
        rj.count = <double>int(ma.sum())
        cdef Py_ssize_t R = rows
        if cols:
            # by column blocks: each walks every row, so it can add up its
            # columns' sums row after row (np.sum(dx, axis=0)'s bits)
            rj.R = R
            rj.db = cnp.PyArray_DATA(<cnp.ndarray>db)
            with nogil:
                parallel_range(_tsl_bwd_cols_range, &rj, rj.V, _rows_grain(R, STREAM_GRAIN),
                               16)
            return ys.reshape((n, t_len, v))
        with nogil:
            parallel_range(_tsl_bwd_range, &rj, R, _rows_grain(rj.V, STREAM_GRAIN), 1)
        if db is not None:
            db[...] = np.sum(ys, axis=0)
        return ys.reshape((n, t_len, v))


def _numpy_loop(str name, cnp.ndarray a):
    """Apply the exp or tanh loop this module calls, in place on the
    C-contiguous float32/float64 ``a`` (for the tests: the same bits as
    ``np.exp``/``np.tanh``)."""
    if not (cnp.PyArray_ISCARRAY(a) and a.dtype in (np.float32, np.float64)):
        raise ValueError("a must be a writeable C-contiguous float32/float64 array")
    cdef bint f32 = is_f32(a)
    cdef fastnn_uloop fn
    cdef void* data
    if name == "exp":
        fn, data = (_um.exp_f, _um.exp_f_data) if f32 else (_um.exp_d, _um.exp_d_data)
    elif name == "tanh":
        fn, data = (_um.tanh_f, _um.tanh_f_data) if f32 else (_um.tanh_d, _um.tanh_d_data)
    else:
        raise ValueError("name must be 'exp' or 'tanh'")
    cdef char* args[2]
    cdef Py_ssize_t dims[1]
    cdef Py_ssize_t steps[2]
    args[0] = args[1] = <char*>cnp.PyArray_DATA(a)
    dims[0] = cnp.PyArray_SIZE(a)
    steps[0] = steps[1] = cnp.PyArray_ITEMSIZE(a)
    with nogil:
        fn(args, dims, steps, data)
    return a
