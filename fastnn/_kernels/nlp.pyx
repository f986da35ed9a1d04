# cython: language_level=3
"""Kernels of the sequel's util and layers (fastnn.nlp): the embedding's
scatter-add (the book's ``np.add.at``), ``clip_grads`` fused, the
co-occurrence count and PPMI.  Each gives the book's numbers bit for bit:

* ``embedding_backward``: every element of dW adds its rows in index order,
  as ``np.add.at`` does; the threads split dW's rows (each scans all ids
  and keeps its own), so no element is added by two threads.
* ``clip_grads``: each gradient's sum of squares is NumPy's pairwise sum
  (same tree, same roundings: nlp_simd.h), the sums are added in list
  order in the gradients' dtype, and the scale is the book's float32 (or
  float64) ``max_norm / (total + 1e-6)``; on large arrays the tree's
  subtrees go to the threads and are combined in the tree's order.
* ``co_matrix``: integer counts (any order gives the same).
* ``ppmi``: the quotient in the book's types (int64 products, a float64
  division) computed by rows into a block, NumPy's own ``np.log2`` on the
  block (the values of the book's scalar ``np.log2`` calls: the same
  loop), then ``max(0, ·)`` to float32; ``verbose`` prints the book's
  progress lines as the blocks complete.

The overrides take native C-contiguous arrays of the kinds named and hand
the rest to NumpyOps (``super()``).
"""
from libc.stdint cimport int32_t, int64_t
from libc.string cimport memset

import numpy as np
cimport numpy as cnp
from fastnn.backends.numpy_ops import NumpyOps
from fastnn._kernels._args cimport NOGIL_MIN, elem_at, is_f32, release_gil_if, retake_gil
from fastnn._kernels.parallel cimport GRAIN_ELEMS, parallel_range

cnp.import_array()


cdef extern from "nlp_simd.h" nogil:
    void fastnn_adam_f32_wide_lr(float* p, const float* g, float* m, float* v, Py_ssize_t lo,
                                 Py_ssize_t hi, double lr_t, float b1c, float b2c, float eps)
    void fastnn_embed_scatter_wide(float* dW, Py_ssize_t V, Py_ssize_t D, const int64_t* idx,
                                   const double* dout, Py_ssize_t n, Py_ssize_t lo,
                                   Py_ssize_t hi, int zero)
    void fastnn_embed_scatter(bint f32, void* dW, Py_ssize_t V, Py_ssize_t D,
                              const int64_t* idx, const void* dout, Py_ssize_t n,
                              Py_ssize_t lo, Py_ssize_t hi, int zero)
    float fastnn_pairwise_sq_f(const float* g, Py_ssize_t n)
    double fastnn_pairwise_sq_d(const double* g, Py_ssize_t n)
    void fastnn_scale(bint f32, void* g, Py_ssize_t n, double rate)
    int fastnn_pairwise_leaves(Py_ssize_t n, int depth, Py_ssize_t* starts, Py_ssize_t* lens,
                               int count, Py_ssize_t start)
    double fastnn_pairwise_combine(int f32, Py_ssize_t n, int depth, const double* sums,
                                   int* next)
    void fastnn_co_matrix(const int64_t* corpus, Py_ssize_t n, int32_t* co, Py_ssize_t V,
                          Py_ssize_t window)
    void fastnn_ppmi_arg_i32(const int32_t* C, Py_ssize_t ncols, const int64_t* S, int64_t N,
                             double eps, Py_ssize_t r0, Py_ssize_t r1, double* out)
    void fastnn_ppmi_arg_i64(const int64_t* C, Py_ssize_t ncols, const int64_t* S, int64_t N,
                             double eps, Py_ssize_t r0, Py_ssize_t r1, double* out)
    void fastnn_ppmi_arg_exact(const int32_t* C, Py_ssize_t ncols, const double* S, double N,
                               double eps, Py_ssize_t r0, Py_ssize_t r1, double* out)
    int64_t fastnn_colsums_i32(const int32_t* C, Py_ssize_t rows, Py_ssize_t cols, int64_t* S)
    int64_t fastnn_colsums_i64(const int64_t* C, Py_ssize_t rows, Py_ssize_t cols, int64_t* S)
    void fastnn_ppmi_store(const double* pmi, float* M, Py_ssize_t n)
    void fastnn_dup_sum(bint f32, void* out, const void* const* inp,
                        const unsigned char* in_f64, int K, Py_ssize_t lo, Py_ssize_t hi)
    Py_ssize_t fastnn_dup_sum_rows(bint f32, void* out, const void* const* inp,
                                   const unsigned char* in_f64, int K,
                                   const int64_t* const* rows, const Py_ssize_t* nrows,
                                   Py_ssize_t H, int* stamp, int* count, int64_t* uniq)


cdef enum:
    # Entries of PPMI's float64 block between two np.log2 calls (512 KiB).
    PPMI_BLOCK = 65536
    # A gradient this long has its pairwise tree split over the threads.
    SUMSQ_PAR_MIN = 1 << 17
    SUMSQ_DEPTH = 3


cdef inline bint _c_float(object a, bint writeable):
    """A native, aligned, C-contiguous float32/float64 ndarray (writeable if asked)."""
    if type(a) is not cnp.ndarray:
        return False
    cdef cnp.ndarray arr = <cnp.ndarray>a
    cdef int t = cnp.PyArray_TYPE(arr)
    if (t != cnp.NPY_FLOAT and t != cnp.NPY_DOUBLE) or cnp.PyArray_ISBYTESWAPPED(arr):
        return False
    if not cnp.PyArray_ISCARRAY_RO(arr):
        return False
    return not writeable or cnp.PyArray_ISWRITEABLE(arr)


# -- the embedding's scatter-add ---------------------------------------------------

cdef struct Scatter:
    bint f32
    bint wide           # float32 dW, float64 dout
    bint zero           # zero dW's rows first (else the caller zeroed what was not)
    void* dW
    Py_ssize_t V, D, n
    const int64_t* idx
    const void* dout


cdef void _scatter_range(void* ctx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef const Scatter* s = <const Scatter*>ctx
    if s.wide:
        fastnn_embed_scatter_wide(<float*>s.dW, s.V, s.D, s.idx, <const double*>s.dout, s.n,
                                  lo, hi, s.zero)
    else:
        fastnn_embed_scatter(s.f32, s.dW, s.V, s.D, s.idx, s.dout, s.n, lo, hi, s.zero)


cdef void _scatter(Scatter* s) noexcept nogil:
    cdef Py_ssize_t grain = GRAIN_ELEMS // s.D if s.D > 0 else s.V
    if grain < 1:
        grain = 1
    if not s.zero and s.n * s.D < GRAIN_ELEMS:
        _scatter_range(s, 0, s.V)       # a few rows to add: one thread, one scan of idx
    else:
        parallel_range(_scatter_range, s, s.V, grain, 1)


def zero_rows(a, rows):
    """``a[rows] = 0`` for a native C-contiguous writeable float32/float64
    (V, H) ndarray and int64 row ids in [-V, V) (repeats allowed); TypeError
    or ValueError before anything is written otherwise."""
    if not (_c_float(a, True) and cnp.PyArray_NDIM(<cnp.ndarray>a) == 2):
        raise TypeError("a must be a writeable C-contiguous native float32/float64 2-D "
                        "ndarray")
    cdef cnp.ndarray r = np.ascontiguousarray(rows, dtype=np.int64).reshape(-1)
    cdef Py_ssize_t V = a.shape[0], n = cnp.PyArray_DIMS(r)[0], k
    cdef size_t rowbytes = a.shape[1] * a.dtype.itemsize
    if n and (r.min() < -V or r.max() >= V):
        raise ValueError("rows must be in [-%d, %d)" % (V, V))
    cdef const int64_t* rp = <const int64_t*>cnp.PyArray_DATA(r)
    cdef char* base = <char*>cnp.PyArray_DATA(<cnp.ndarray>a)
    cdef int64_t i
    with nogil:
        for k in range(n):
            i = rp[k] + V if rp[k] < 0 else rp[k]
            memset(base + <size_t>i * rowbytes, 0, rowbytes)


# -- the sequel's Adam (float64 lr_t, float32 arrays) ------------------------------

cdef struct AdamWide:
    float* p
    const float* g
    float* m
    float* v
    double lr_t
    float b1c, b2c, eps


cdef void _adam_range(void* ctx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef const AdamWide* a = <const AdamWide*>ctx
    fastnn_adam_f32_wide_lr(a.p, a.g, a.m, a.v, lo, hi, a.lr_t, a.b1c, a.b2c, a.eps)


def NumpyOps_adam():
    """NumpyOps's adam_step, called unbound on the compiled ops (for one key)."""
    return NumpyOps.adam_step


def _f32_inplace(a):
    return (type(a) is np.ndarray and a.dtype == np.float32 and a.dtype.isnative
            and a.flags.c_contiguous and a.flags.writeable and a.flags.aligned)


# -- clip_grads --------------------------------------------------------------------

cdef struct SumSq:
    bint f32
    const void* g
    Py_ssize_t* starts
    Py_ssize_t* lens
    double* sums


cdef double _leaf_sum(const SumSq* s, Py_ssize_t k) noexcept nogil:
    if s.f32:
        return <double>fastnn_pairwise_sq_f(<const float*>elem_at(s.g, s.starts[k], True),
                                            s.lens[k])
    return fastnn_pairwise_sq_d(<const double*>elem_at(s.g, s.starts[k], False), s.lens[k])


cdef void _leaves_range(void* ctx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef const SumSq* s = <const SumSq*>ctx
    cdef Py_ssize_t k
    for k in range(lo, hi):
        s.sums[k] = _leaf_sum(s, k)


cdef double _sumsq(bint f32, const void* g, Py_ssize_t n) noexcept nogil:
    """NumPy's ``np.sum(g ** 2)`` of n contiguous elements (float f32, or
    double; a float result returned exactly as a double)."""
    cdef Py_ssize_t starts[1 << SUMSQ_DEPTH]
    cdef Py_ssize_t lens[1 << SUMSQ_DEPTH]
    cdef double sums[1 << SUMSQ_DEPTH]
    cdef SumSq s
    cdef int count, nxt = 0
    if n < SUMSQ_PAR_MIN:
        if f32:
            return <double>fastnn_pairwise_sq_f(<const float*>g, n)
        return fastnn_pairwise_sq_d(<const double*>g, n)
    count = fastnn_pairwise_leaves(n, SUMSQ_DEPTH, starts, lens, 0, 0)
    s.f32, s.g, s.starts, s.lens, s.sums = f32, g, starts, lens, sums
    parallel_range(_leaves_range, &s, count, 1, 1)
    return fastnn_pairwise_combine(f32, n, SUMSQ_DEPTH, sums, &nxt)


cdef struct Scale:
    bint f32
    void* g
    double rate


cdef void _scale_range(void* ctx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef const Scale* s = <const Scale*>ctx
    fastnn_scale(s.f32, elem_at(s.g, lo, s.f32), hi - lo, s.rate)


# -- remove_duplicate's sum of a shared weight's gradients ------------------------

cdef struct DupSum:
    bint f32
    void* out
    const void** inp
    const unsigned char* in_f64
    int K


cdef void _dup_sum_range(void* ctx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef const DupSum* d = <const DupSum*>ctx
    fastnn_dup_sum(d.f32, d.out, d.inp, d.in_f64, d.K, lo, hi)


cdef object _sum_inputs(out, inputs, int ndim):
    """``(ptrs, wide)`` for the gradient sums: the inputs' addresses and
    whether each is float64, when ``out`` is a writeable native C-contiguous
    float32/float64 ndarray (of rank ndim, 0: any) and every input one
    (writeable or not) of its shape overlapping no part of it; else None."""
    cdef Py_ssize_t k, K = len(inputs)
    if (K == 0 or K > 1 << 20 or not _c_float(out, True)
            or (ndim and cnp.PyArray_NDIM(<cnp.ndarray>out) != ndim)):
        return None
    shape = out.shape
    for x in inputs:
        if not _c_float(x, False) or x.shape != shape or np.may_share_memory(out, x):
            return None
    ptrs = np.empty(K, dtype=np.uintp)
    wide = np.empty(K, dtype=np.uint8)
    cdef size_t[::1] pv = ptrs
    cdef unsigned char[::1] wv = wide
    cdef cnp.ndarray g
    for k in range(K):
        g = <cnp.ndarray>inputs[k]
        pv[k] = <size_t>cnp.PyArray_DATA(g)
        wv[k] = cnp.PyArray_TYPE(g) == cnp.NPY_DOUBLE
    return ptrs, wide


def dup_sum_into(out, inputs):
    """``for g in inputs: out += g`` in one pass (fastnn.nlp.trainer's
    remove_duplicate), the same numbers: element by element the adds of the
    in-place loop, in list order and in its types.  Taken only when ``out``
    is a writeable native C-contiguous float32/float64 ndarray and every
    input one (writeable or not) of the same shape, overlapping no part of
    ``out``; returns False having done nothing otherwise (the caller then
    runs the loop itself), True when done."""
    cdef cnp.ndarray o
    cdef DupSum d
    cdef Py_ssize_t n, K = len(inputs)
    arrays = _sum_inputs(out, inputs, 0)
    if arrays is None:
        return False
    o = <cnp.ndarray>out
    n = cnp.PyArray_SIZE(o)
    cdef size_t[::1] pv = arrays[0]
    cdef unsigned char[::1] wv = arrays[1]
    d.f32, d.out, d.K = is_f32(o), cnp.PyArray_DATA(o), <int>K
    d.inp = <const void**>&pv[0]
    d.in_f64 = &wv[0]
    if n:
        ts = release_gil_if(n * (K + 1) >= NOGIL_MIN)
        parallel_range(_dup_sum_range, &d, n, GRAIN_ELEMS, 16)
        retake_gil(ts)
    return True


def dup_sum_rows_into(out, inputs, rows):
    """:func:`dup_sum_into` when the arrays are known to be zero outside
    some rows: ``out`` (V, H) and ``inputs`` as there, ``rows`` one int64
    array per array (out's first, then the inputs'), each listing the rows
    outside which its array is zero (ids in [0, V), repeats allowed).  Only
    the rows each input lists are added (nlp_dupsum_loops.h: the same sums
    as the whole pass, -0.0 included).  Returns the rows reached (int64,
    distinct, in order of first appearance), or None having done nothing
    when the arrays are not ones dup_sum_into takes; ValueError for a row
    outside [0, V)."""
    cdef cnp.ndarray o, r
    cdef Py_ssize_t k, V, H, total = 0, u, K = len(inputs)
    arrays = _sum_inputs(out, inputs, 2) if len(rows) == K + 1 else None
    if arrays is None:
        return None
    o = <cnp.ndarray>out
    V, H = out.shape
    ids = []
    cdef const int64_t* rv
    cdef Py_ssize_t j, nr
    for x in rows:
        if (type(x) is np.ndarray and x.dtype == np.int64 and x.dtype.isnative
                and x.ndim == 1 and x.flags.c_contiguous):
            r = x
        else:
            r = np.ascontiguousarray(x, dtype=np.int64).reshape(-1)
        rv = <const int64_t*>cnp.PyArray_DATA(r)
        nr = cnp.PyArray_DIMS(r)[0]
        for j in range(nr):
            if rv[j] < 0 or rv[j] >= V:
                raise ValueError("rows must be in [0, %d)" % V)
        ids.append(r)
        total += nr
    uniq = np.empty(total, dtype=np.int64)
    rptr = np.empty(K + 1, dtype=np.uintp)
    rlen = np.empty(K + 1, dtype=np.intp)
    stamp = np.full(V, -1, dtype=np.intc)
    count = np.zeros(V, dtype=np.intc)
    cdef size_t[::1] rp = rptr
    cdef Py_ssize_t[::1] rl = rlen
    cdef size_t[::1] pv = arrays[0]
    cdef unsigned char[::1] wv = arrays[1]
    cdef int[::1] sv = stamp
    cdef int[::1] cv = count
    cdef int64_t[::1] uv = uniq
    for k in range(K + 1):
        r = <cnp.ndarray>ids[k]
        rp[k] = <size_t>cnp.PyArray_DATA(r)
        rl[k] = cnp.PyArray_DIMS(r)[0]
    cdef bint f32 = is_f32(o)
    cdef void* op = cnp.PyArray_DATA(o)
    with nogil:
        u = fastnn_dup_sum_rows(f32, op, <const void**>&pv[0], &wv[0], <int>K,
                                <const int64_t**>&rp[0], &rl[0], H, &sv[0], &cv[0], &uv[0])
    return uniq[:u]


# -- compiled overrides of NumpyOps (mixed into fastnn.backends.CompiledOps) -----

class NlpOps:
    """The sequel's scatter-add, clip_grads, co-occurrence and PPMI kernels;
    NumpyOps (``super()``) for inputs they do not take."""

    def embedding_backward(self, dW, idx, dout, stale=None):
        cdef Scatter s
        cdef cnp.ndarray w, ids, d
        cdef Py_ssize_t V, D, n
        if not (_c_float(dW, True) and cnp.PyArray_NDIM(<cnp.ndarray>dW) == 2
                and type(dout) is cnp.ndarray and type(idx) is cnp.ndarray
                and idx.dtype.kind in "iu"
                and (dout.dtype == dW.dtype
                     or (dout.dtype == np.float64 and dW.dtype == np.float32))
                and dout.dtype.isnative
                and dout.shape == idx.shape + dW.shape[1:]
                and not np.may_share_memory(dW, dout)):
            return super().embedding_backward(dW, idx, dout, stale)
        w = <cnp.ndarray>dW
        V = cnp.PyArray_DIMS(w)[0]
        D = cnp.PyArray_DIMS(w)[1]
        ids = np.ascontiguousarray(idx, dtype=np.int64).reshape(-1)
        n = cnp.PyArray_DIMS(ids)[0]
        if n:
            lo, hi = ids.min(), ids.max()
            if lo < -V or hi >= V:      # NumPy's statements: the book's dW zeroed, then
                return super().embedding_backward(dW, idx, dout, stale)   # its IndexError
        d = np.ascontiguousarray(dout)
        if stale is not None:
            zero_rows(dW, stale)
        s.zero = stale is None
        s.f32, s.dW, s.V, s.D, s.n = is_f32(w), cnp.PyArray_DATA(w), V, D, n
        s.wide = dout.dtype != dW.dtype
        s.idx = <const int64_t*>cnp.PyArray_DATA(ids)
        s.dout = cnp.PyArray_DATA(d)
        ts = release_gil_if(V * D + n * D >= NOGIL_MIN)
        _scatter(&s)
        retake_gil(ts)
        return dW

    def adam_step(self, params, grads, m, v, lr_t, beta1, beta2, eps=1e-7, keys=None):
        """The sequel's Adam: a NumPy float64 ``lr_t`` with float32 arrays (the
        first book's is a Python float, which OptimOps takes).  Key by key in
        order, each in one pass (NumPy's formula for a key whose arrays the
        kernel does not take); anything else goes to super()."""
        if (type(lr_t) is not np.float64 or type(beta1) is not float
                or type(beta2) is not float or type(eps) is not float):
            return super().adam_step(params, grads, m, v, lr_t, beta1, beta2, eps=eps, keys=keys)
        cdef AdamWide a
        cdef Py_ssize_t n
        cdef cnp.ndarray cp, cg, cm, cv
        numpy_ops = NumpyOps_adam()
        for key in (params.keys() if keys is None else keys):
            p, g = params[key], grads[key]
            if key not in m:
                m[key] = np.zeros_like(p)
            if key not in v:
                v[key] = np.zeros_like(p)
            mk, vk = m[key], v[key]
            if not (_f32_inplace(p) and _f32_inplace(mk) and _f32_inplace(vk)
                    and type(g) is np.ndarray and g.dtype == np.float32 and g.dtype.isnative
                    and g.shape == p.shape == mk.shape == vk.shape
                    and not np.may_share_memory(p, g) and not np.may_share_memory(p, mk)
                    and not np.may_share_memory(p, vk) and not np.may_share_memory(mk, vk)
                    and not np.may_share_memory(g, mk) and not np.may_share_memory(g, vk)):
                numpy_ops(self, params, grads, m, v, lr_t, beta1, beta2, eps, keys=(key,))
                continue
            g = np.ascontiguousarray(g)
            cp, cg, cm, cv = p, g, mk, vk
            a.p = <float*>cnp.PyArray_DATA(cp)
            a.g = <const float*>cnp.PyArray_DATA(cg)
            a.m = <float*>cnp.PyArray_DATA(cm)
            a.v = <float*>cnp.PyArray_DATA(cv)
            a.lr_t = <double>lr_t
            a.b1c = <float>(1 - beta1)
            a.b2c = <float>(1 - beta2)
            a.eps = <float>eps
            n = cnp.PyArray_SIZE(cp)
            ts = release_gil_if(n >= NOGIL_MIN)
            parallel_range(_adam_range, &a, n, GRAIN_ELEMS, 16)
            retake_gil(ts)
        return None

    def clip_grads(self, grads, max_norm):
        cdef list gs
        cdef int t = -1
        cdef bint f32
        cdef Py_ssize_t k, m, total_n = 0
        cdef double acc = 0.0, sq
        cdef Scale sc
        cdef cnp.ndarray ptrs, sizes
        cdef void** p
        cdef Py_ssize_t* sz
        gs = list(grads) if type(grads) is not list else grads
        if not gs or type(max_norm) not in (int, float):
            return super().clip_grads(grads, max_norm)
        m = len(gs)
        # The arrays' addresses and sizes, read while the GIL is held: the
        # passes below touch no Python object.
        ptrs = np.empty(m, dtype=np.uintp)
        sizes = np.empty(m, dtype=np.intp)
        p = <void**>cnp.PyArray_DATA(ptrs)
        sz = <Py_ssize_t*>cnp.PyArray_DATA(sizes)
        for k in range(m):
            a = gs[k]
            if not _c_float(a, True) or (t >= 0 and cnp.PyArray_TYPE(<cnp.ndarray>a) != t):
                return super().clip_grads(grads, max_norm)
            t = cnp.PyArray_TYPE(<cnp.ndarray>a)
            p[k] = cnp.PyArray_DATA(<cnp.ndarray>a)
            sz[k] = cnp.PyArray_SIZE(<cnp.ndarray>a)
            total_n += sz[k]
        f32 = t == cnp.NPY_FLOAT
        ts = release_gil_if(total_n >= NOGIL_MIN)
        for k in range(m):
            sq = _sumsq(f32, p[k], sz[k])
            # The book's total_norm += np.sum(grad ** 2), in the grads' dtype
            # (its first term 0 + x is x exactly).
            acc = <double>(<float>acc + <float>sq) if f32 else acc + sq
        retake_gil(ts)
        # √, + 1e-6, max_norm / (...): the book's scalar operations in NumPy's
        # types (float32 stays float32), so the rate is its value to the bit.
        if f32:
            total = np.sqrt(np.float32(acc))
        else:
            total = np.sqrt(np.float64(acc))
        rate = max_norm / (total + 1e-6)
        if rate < 1:
            sc.f32, sc.rate = f32, <double>rate
            ts = release_gil_if(total_n >= NOGIL_MIN)
            for k in range(m):      # one array after another: a listed twice scales twice
                sc.g = p[k]
                parallel_range(_scale_range, &sc, sz[k], GRAIN_ELEMS, 64)
            retake_gil(ts)

    def co_matrix(self, corpus, vocab_size, window_size=1):
        cdef cnp.ndarray c, co
        cdef Py_ssize_t V = vocab_size, n, w = window_size
        c = np.ascontiguousarray(corpus, dtype=np.int64)
        if c.ndim != 1:
            return super().co_matrix(corpus, vocab_size, window_size)
        co = np.zeros((V, V), dtype=np.int32)
        n = cnp.PyArray_DIMS(c)[0]
        if n and (c.min() < 0 or c.max() >= V):
            raise IndexError("a word id of corpus is outside [0, %d)" % V)
        if w > n:
            w = n
        ts = release_gil_if(n * w >= NOGIL_MIN)
        fastnn_co_matrix(<const int64_t*>cnp.PyArray_DATA(c), n,
                         <int32_t*>cnp.PyArray_DATA(co), V, w)
        retake_gil(ts)
        return co

    def ppmi(self, C, verbose=False, eps=1e-8):
        cdef cnp.ndarray c, S, Sd, M, buf
        cdef Py_ssize_t rows, cols, r0, r1, per, done = 0
        cdef int64_t N
        cdef double e, Nd
        cdef bint i32, exact
        if not (type(C) is cnp.ndarray and cnp.PyArray_NDIM(<cnp.ndarray>C) == 2
                and (<cnp.ndarray>C).dtype in (np.dtype(np.int32), np.dtype(np.int64))
                and type(eps) is float):
            return super().ppmi(C, verbose, eps)
        c = np.ascontiguousarray(C)
        i32 = cnp.PyArray_TYPE(c) == cnp.NPY_INT
        rows = cnp.PyArray_DIMS(c)[0]
        cols = cnp.PyArray_DIMS(c)[1]
        M = np.zeros((rows, cols), dtype=np.float32)
        if rows == 0 or cols == 0:
            return M
        if rows != cols:
            # S[i] for i >= cols reads past S in the book too (an IndexError there).
            return super().ppmi(C, verbose, eps)
        # N and S as the book's np.sum gives them (int64, wrapping).
        S = np.empty(cols, dtype=np.int64)
        with nogil:
            if i32:
                N = fastnn_colsums_i32(<const int32_t*>cnp.PyArray_DATA(c), rows, cols,
                                       <int64_t*>cnp.PyArray_DATA(S))
            else:
                N = fastnn_colsums_i64(<const int64_t*>cnp.PyArray_DATA(c), rows, cols,
                                       <int64_t*>cnp.PyArray_DATA(S))
        e = eps
        # Every product below 2^53: the double path gives the int64 path's doubles.
        exact = (i32 and N >= 0
                 and max(-int(c.min()), int(c.max())) * int(N) < 2 ** 53
                 and max(-int(S.min()), int(S.max())) ** 2 < 2 ** 53)
        Nd = <double>N
        Sd = S.astype(np.float64)
        per = PPMI_BLOCK // cols if cols < PPMI_BLOCK else 1
        buf = np.empty(per * cols, dtype=np.float64)
        from fastnn.backends.numpy_ops import _ppmi_progress
        total = rows * cols
        r0 = 0
        with np.errstate(divide="ignore", invalid="ignore"):
            while r0 < rows:
                r1 = r0 + per if r0 + per < rows else rows
                part = buf[:(r1 - r0) * cols]
                with nogil:
                    if exact:
                        fastnn_ppmi_arg_exact(<const int32_t*>cnp.PyArray_DATA(c), cols,
                                              <const double*>cnp.PyArray_DATA(Sd), Nd, e, r0,
                                              r1, <double*>cnp.PyArray_DATA(buf))
                    elif i32:
                        fastnn_ppmi_arg_i32(<const int32_t*>cnp.PyArray_DATA(c), cols,
                                            <const int64_t*>cnp.PyArray_DATA(S), N, e, r0, r1,
                                            <double*>cnp.PyArray_DATA(buf))
                    else:
                        fastnn_ppmi_arg_i64(<const int64_t*>cnp.PyArray_DATA(c), cols,
                                            <const int64_t*>cnp.PyArray_DATA(S), N, e, r0, r1,
                                            <double*>cnp.PyArray_DATA(buf))
                np.log2(part, out=part)
                with nogil:
                    fastnn_ppmi_store(<const double*>cnp.PyArray_DATA(buf),
                                      <float*>cnp.PyArray_DATA(M) + r0 * cols, (r1 - r0) * cols)
                if verbose:
                    _ppmi_progress(total, done, r1 * cols)
                done = r1 * cols
                r0 = r1
        return M
