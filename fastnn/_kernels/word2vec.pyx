# cython: language_level=3
"""word2vec's kernels (the sequel's chapter 4): the negative sampler
(``UnigramSampler``), drawing the book's exact stream, and ``EmbeddingDot``'s
gather-dot forward and scatter-add backward, each in one pass.

EmbeddingDot.  The book's forward is ``np.sum(W[idx] * h, axis=1)``: a
product array, then NumPy's pairwise sum of each row, reproduced over the
products as they are formed (pairwise.h's ``fastnn_pairwise_dot``, each
product rounded to the arrays' dtype first).  Its backward is
``dW[...] = 0; np.add.at(dW, idx, dout[:, None] * h)`` and
``dh = dout[:, None] * W[idx]``: one pass here.  The book's ``dout`` is
float64 even for float32 weights (SigmoidWithLoss's ``y - t`` meets int32
labels), so ``np.add.at`` adds in float64 and rounds each sum to float32:
that case is computed the same way (``wide``).

The sampler.

The book, per row i of the batch::

    p = word_p.copy(); p[target[i]] = 0; p /= p.sum()
    out[i] = np.random.choice(V, size=S, replace=False, p=p)

and NumPy's legacy ``choice`` without replacement, with ``p``, is: while
fewer than S distinct indices are found, draw the missing count of doubles
``x`` (``np.random.rand``), zero ``p`` at the indices found so far, take
``cdf = cumsum(p) / cumsum(p)[-1]`` and ``cdf.searchsorted(x, 'right')``,
and keep the new indices in draw order, first occurrences only
(``np.unique(..., return_index=True)`` then sorted by position).

This module does the same arithmetic in the same order, so the samples
and the generator's state afterwards are NumPy's bit for bit:

* ``p.sum()`` is NumPy's pairwise summation (8 accumulators over blocks of
  at most 128, halves split at multiples of 8), reproduced in pairwise.h; tests/test_nlp_sampler.py checks it against ``np.sum``
  over many lengths (NumPy could change it: the check runs at first use too,
  and a mismatch sends every call to NumPy's own code);
* ``p /= s`` and ``cdf /= cdf[-1]`` are correctly rounded divisions, here
  as there; the cumulative sum is sequential in both (here eight rows'
  chains side by side, each its own sequence of additions:
  tests/test_nlp_sampler_rows.py compares the chains with ``np.cumsum``
  bit for bit, since the draws rarely reveal a last-bit difference);
* ``searchsorted(x, 'right')`` is the first index whose cdf exceeds x,
  which is unique, whatever search finds it; the cdf is never stored
  divided: ``c[i] / c[-1]`` is computed at each probe, the same double;
* the doubles are the global ``np.random``'s ``next_double``, drawn through
  NumPy's ``bitgen_t`` under the generator's lock.

Cost (word2vec_sampler.h): word_p's pairwise tree once per call, then per
row one leaf of at most 128 entries and the sums above it for ``p.sum()``;
the first round's divide-and-accumulate pass for eight rows at once (two
vectors of four: a vector division and addition an entry, the division's
throughput, about 0.3 ns an entry and row here, where one row alone took
1.5 ns, bound by the division and the addition's latency).  A unigram table
has few distinct values (words of equal count have equal entries; 190 of
10,000 in the benchmark's corpus): when at most a quarter of the entries
are distinct, each row divides each distinct value once and the pass reads
the quotients by class (a load and an addition an entry), the table of
classes kept for the last word_p and checked byte for byte at each call.
A later round (a repeated index) redoes one row's pass from the smallest
index it zeroes, one addition after the other.  The sampler's call for a
batch of 100 at V = 10,000: 0.52 ms dividing, 0.33 ms from the table.  The
book adds ~30 us of Python and ``choice``'s checks per row.
"""
from libc.stdint cimport int32_t, int64_t
from libc.string cimport memcmp, memcpy, memset
from libc.stdlib cimport calloc, malloc, free
from numpy.random cimport bitgen_t
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_IsValid

import numpy as np
cimport numpy as cnp

cnp.import_array()


cdef extern from "pairwise.h" nogil:
    double fastnn_pairwise_sum_d(const double* a, Py_ssize_t n)
    double fastnn_pairwise_dot_d(const double* a, const double* b, Py_ssize_t n)
    float fastnn_pairwise_dot_f(const float* a, const float* b, Py_ssize_t n)


cdef extern from "word2vec_sampler.h" nogil:
    enum: FASTNN_SAMPLER_ROWS
    void fastnn_prefetch_row(const void* p, size_t nbytes, int write)
    ctypedef struct fastnn_pw_node:
        double sum
        Py_ssize_t right
    Py_ssize_t fastnn_pw_nodes_max(Py_ssize_t n)
    Py_ssize_t fastnn_pw_build(const double* a, Py_ssize_t n, fastnn_pw_node* nodes,
                               Py_ssize_t k)
    double fastnn_pw_sum_without(const double* a, Py_ssize_t n, Py_ssize_t t,
                                 const fastnn_pw_node* nodes)
    void fastnn_unigram_prefix_rows(const double* w, Py_ssize_t V, const Py_ssize_t* t,
                                    const double* s, double* c, const int32_t* cls,
                                    const double* vals, Py_ssize_t U, double* q)
    void fastnn_unigram_prefix_lane(const double* w, Py_ssize_t V, const unsigned char* zero,
                                    double s, Py_ssize_t j0, double* c, int r,
                                    const int32_t* cls, const double* q)
    Py_ssize_t fastnn_unigram_search(const double* c, Py_ssize_t V, int r, double last,
                                     double x)


cdef int _row_check(const double* w, Py_ssize_t V, Py_ssize_t t, Py_ssize_t S,
                    double s) noexcept nogil:
    """NumPy's checks of p = w / s with p[t] = 0, before it draws: 0, or -2
    when s is 0 (p / 0: "probabilities contain NaN"), -3 when s overflowed
    to inf (p all 0: "probabilities do not sum to 1", raised before the
    next check even when S is 0), -1 when p has fewer than S nonzero
    entries (count_nonzero(p > 0) < size, stopped at S)."""
    cdef Py_ssize_t j, nonzero = 0
    if not s > 0.0:
        return -2
    if s > 1.7976931348623157e308:
        return -3
    for j in range(V):
        if j != t and w[j] / s > 0.0:        # p[t] / s is 0.0 / s: never > 0
            nonzero += 1
            if nonzero >= S:
                break
    return -1 if nonzero < S else 0


cdef void _draw_row(const double* w, Py_ssize_t V, Py_ssize_t t, Py_ssize_t S, double s,
                    bitgen_t* rng, double* c, int r, double* x, int64_t* found,
                    unsigned char* zero, int32_t* out, const int32_t* cls,
                    const double* q) noexcept nogil:
    """One row's rounds, its first round's chain already in lane r of c
    (cls and q: the first round's quotient table, or NULL)."""
    cdef double last
    cdef Py_ssize_t i, j, k, m, n_uniq = 0, j0 = 0
    cdef int64_t idx
    cdef bint dup, later = False
    while n_uniq < S:
        m = S - n_uniq
        for k in range(m):
            x[k] = rng.next_double(rng.state)
        if later:                   # p[found] = 0, the chain again from the first change
            zero[t] = 1
            for k in range(n_uniq):
                zero[found[k]] = 1
            fastnn_unigram_prefix_lane(w, V, zero, s, j0, c, r, cls, q)
        last = c[(V - 1) * FASTNN_SAMPLER_ROWS + r]
        for k in range(m):
            found[S + k] = fastnn_unigram_search(c, V, r, last, x[k])
        # dedupe this round's draws (found[S:S+m]) into found[n_uniq:]
        j = n_uniq
        j0 = V
        for k in range(m):
            idx = found[S + k]
            dup = False
            for i in range(n_uniq, j):
                if found[i] == idx:
                    dup = True
                    break
            if not dup:
                found[j] = idx
                j += 1
                if idx < j0:
                    j0 = idx
        n_uniq = j
        later = True
    if later:
        zero[t] = 0
        for k in range(S):
            zero[found[k]] = 0
    for k in range(S):
        out[k] = <int32_t>found[k]


ctypedef fused real:
    float
    double


cdef inline real _pairwise_dot(const real* a, const real* b, Py_ssize_t n) noexcept nogil:
    """np.sum(a * b) over n entries (pairwise.h)."""
    if real is float:
        return fastnn_pairwise_dot_f(a, b, n)
    else:
        return fastnn_pairwise_dot_d(a, b, n)


cdef void _edot_forward(const real* W, Py_ssize_t H, const cnp.npy_intp* idx, Py_ssize_t B,
                        const real* h, real* tW, real* out) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(B):
        memcpy(tW + i * H, W + idx[i] * H, H * sizeof(real))
        out[i] = _pairwise_dot(tW + i * H, h + i * H, H)


cdef enum:
    # Rows prefetched this many ids ahead in the row loops below (their
    # matrices are megabytes, the rows in no order the hardware follows).
    PREFETCH_AHEAD = 4


cdef void _zero_rows(real* dW, Py_ssize_t V, Py_ssize_t H, const int64_t* stale,
                     Py_ssize_t n) noexcept nogil:
    """dW = 0 (its rows stale[:n] when stale is not NULL: zero elsewhere)."""
    cdef Py_ssize_t i
    if stale == NULL:
        memset(dW, 0, V * H * sizeof(real))
    else:
        for i in range(n):
            if i + PREFETCH_AHEAD < n:
                fastnn_prefetch_row(dW + stale[i + PREFETCH_AHEAD] * H, H * sizeof(real), 1)
            memset(dW + stale[i] * H, 0, H * sizeof(real))


cdef void _edot_backward(real* dW, Py_ssize_t V, Py_ssize_t H, const cnp.npy_intp* idx,
                         Py_ssize_t B, const real* h, const real* tW, const void* dout,
                         bint wide, void* dh, const int64_t* stale, Py_ssize_t n_stale,
                         int dh_mode) noexcept nogil:
    """dW zeroed (only its rows stale[:n_stale] when stale is not NULL: dW
    is zero elsewhere), then the scatter-add and dh.  dh_mode (float64 dout,
    ``wide``, only): 0 dh = dout·tW; 1 dh = 0.0 + dout·tW and 2 dh += dout·tW
    (NegativeSamplingLoss's ``dh = 0; dh += ...`` over its layers)."""
    cdef Py_ssize_t i, j
    cdef real* row
    cdef real d
    cdef double dd
    cdef double* dhr
    _zero_rows(dW, V, H, stale, n_stale)
    if wide:        # float64 dout: sums in float64, rounded to real (np.add.at's casts)
        for i in range(B):
            if i + PREFETCH_AHEAD < B:
                fastnn_prefetch_row(dW + idx[i + PREFETCH_AHEAD] * H, H * sizeof(real), 1)
            dd = (<const double*>dout)[i]
            row = dW + idx[i] * H
            dhr = <double*>dh + i * H
            for j in range(H):
                row[j] = <real>(<double>row[j] + dd * <double>h[i * H + j])
            if dh_mode == 0:
                for j in range(H):
                    dhr[j] = dd * <double>tW[i * H + j]
            elif dh_mode == 1:
                for j in range(H):
                    dhr[j] = 0.0 + dd * <double>tW[i * H + j]
            else:
                for j in range(H):
                    dhr[j] = dhr[j] + dd * <double>tW[i * H + j]
    else:
        for i in range(B):
            d = (<const real*>dout)[i]
            row = dW + idx[i] * H
            for j in range(H):
                row[j] += d * h[i * H + j]
                (<real*>dh)[i * H + j] = d * tW[i * H + j]


def _bitgen_of(bit_generator):
    capsule = bit_generator.capsule
    if not PyCapsule_IsValid(capsule, "BitGenerator"):
        raise TypeError("%s does not expose a NumPy bitgen_t capsule"
                        % type(bit_generator).__name__)
    return capsule


_CLASSES = [None]      # (word_p's copy, cls int32, vals float64) of the last word_p


def _value_classes(cnp.ndarray w):
    """``(cls, vals)`` with w[j] == vals[cls[j]] bit for bit (vals the distinct
    entries), or None when more than a quarter of the entries are distinct
    (the quotients are then formed entry by entry).  Kept for the last
    word_p, checked byte for byte at each call."""
    cdef Py_ssize_t V = cnp.PyArray_DIM(w, 0)
    cached = _CLASSES[0]
    if cached is not None:
        cw = <cnp.ndarray>cached[0]
        if (cnp.PyArray_DIM(cw, 0) == V
                and memcmp(cnp.PyArray_DATA(cw), cnp.PyArray_DATA(w), V * sizeof(double)) == 0):
            return cached[1]
    bits, inv = np.unique(w.view(np.int64), return_inverse=True)
    found = None
    if 4 * bits.shape[0] <= V:
        found = (np.ascontiguousarray(inv.reshape(-1), dtype=np.int32),
                 np.ascontiguousarray(bits.view(np.float64)))
    _CLASSES[0] = (w.copy(), found)
    return found


cpdef int sample_into(cnp.ndarray word_p, cnp.ndarray target, cnp.ndarray out,
                      bit_generator) except -1:
    """Fill ``out`` (B, S) int32 with the book's negative samples.  Trusted:
    word_p C-contiguous float64 (V,), finite and >= 0; target C-contiguous
    intp (B,) with values in [0, V); out C-contiguous int32 (B, S), S <= V.
    Raises ValueError (as NumPy's choice) when a row's p has fewer than S
    nonzero entries; the rows before it are drawn, as in the book's loop."""
    cdef Py_ssize_t V = cnp.PyArray_DIM(word_p, 0)
    cdef Py_ssize_t B = cnp.PyArray_DIM(out, 0), S = cnp.PyArray_DIM(out, 1)
    cdef const double* w = <const double*>cnp.PyArray_DATA(word_p)
    cdef const cnp.npy_intp* tg = <const cnp.npy_intp*>cnp.PyArray_DATA(target)
    cdef int32_t* o = <int32_t*>cnp.PyArray_DATA(out)
    cdef bitgen_t* rng = <bitgen_t*>PyCapsule_GetPointer(_bitgen_of(bit_generator),
                                                        "BitGenerator")
    cdef fastnn_pw_node* nodes
    cdef double* c
    cdef double* x
    cdef int64_t* found
    cdef unsigned char* zero
    cdef Py_ssize_t ts[FASTNN_SAMPLER_ROWS]
    cdef double ss[FASTNN_SAMPLER_ROWS]
    cdef Py_ssize_t i, g, r, ok, bad = -1, U = 0
    cdef int code = 0
    cdef const int32_t* cls = NULL
    cdef const double* vals = NULL
    cdef double* q = NULL
    cdef cnp.ndarray ccls, cvals
    if B == 0:
        return 0
    classes = _value_classes(word_p)
    if classes is not None:
        ccls, cvals = classes
        cls = <const int32_t*>cnp.PyArray_DATA(ccls)
        vals = <const double*>cnp.PyArray_DATA(cvals)
        U = cnp.PyArray_DIM(cvals, 0)
    nodes = <fastnn_pw_node*>malloc(fastnn_pw_nodes_max(V) * sizeof(fastnn_pw_node))
    c = <double*>malloc(V * FASTNN_SAMPLER_ROWS * sizeof(double))
    x = <double*>malloc((S + 1) * sizeof(double))
    found = <int64_t*>malloc((2 * S + 1) * sizeof(int64_t))
    zero = <unsigned char*>calloc(V, 1)
    q = <double*>malloc((U * FASTNN_SAMPLER_ROWS + 1) * sizeof(double))
    if nodes == NULL or c == NULL or x == NULL or found == NULL or zero == NULL or q == NULL:
        free(nodes); free(c); free(x); free(found); free(zero); free(q)
        raise MemoryError()
    try:
        with bit_generator.lock, nogil:
            fastnn_pw_build(w, V, nodes, 0)
            i = 0
            while i < B:
                # up to ROWS rows: their sums and checks (in order, up to the
                # first that fails), their first rounds' chains together, then
                # their draws one row after the other, as the book draws them
                g = min(<Py_ssize_t>FASTNN_SAMPLER_ROWS, B - i)
                ok = 0
                for r in range(g):
                    ts[r] = tg[i + r]
                    ss[r] = fastnn_pw_sum_without(w, V, ts[r], nodes)
                    code = _row_check(w, V, ts[r], S, ss[r])
                    if code < 0:
                        break
                    ok += 1
                for r in range(ok, FASTNN_SAMPLER_ROWS):
                    ts[r] = -1
                    ss[r] = 1.0
                if ok > 0 and S > 0:
                    fastnn_unigram_prefix_rows(w, V, ts, ss, c, cls, vals, U, q)
                for r in range(ok):
                    _draw_row(w, V, ts[r], S, ss[r], rng, c, <int>r, x, found, zero,
                              o + (i + r) * S, cls, q)
                if code < 0:
                    bad = i + ok
                    break
                i += g
    finally:
        free(nodes); free(c); free(x); free(found); free(zero); free(q)
    if code == -2:
        raise ValueError("probabilities contain NaN (row %d of target: its target is the "
                         "only word of nonzero probability, so p / p.sum() is 0 / 0)" % bad)
    if code == -3:
        raise ValueError("probabilities do not sum to 1 (row %d of target: p.sum() "
                         "overflows to inf, so p / p.sum() is all 0)" % bad)
    if bad >= 0:
        raise ValueError("Fewer non-zero entries in p than size (row %d of target: "
                         "fewer than sample_size=%d words of nonzero probability "
                         "besides the target)" % (bad, S))
    return 0


def pairwise_sum(cnp.ndarray a):
    """NumPy's pairwise sum of a C-contiguous float64 vector (for tests)."""
    if a.dtype != np.float64 or a.ndim != 1 or not a.flags.c_contiguous:
        raise TypeError("a must be a C-contiguous float64 vector")
    return fastnn_pairwise_sum_d(<const double*>cnp.PyArray_DATA(a), cnp.PyArray_DIM(a, 0))


def pairwise_sum_without(cnp.ndarray a, Py_ssize_t t):
    """NumPy's pairwise sum of a C-contiguous float64 vector with a[t] read as
    0, from the tree of a's own sums (the sampler's p.sum(); for tests)."""
    if a.dtype != np.float64 or a.ndim != 1 or not a.flags.c_contiguous:
        raise TypeError("a must be a C-contiguous float64 vector")
    cdef Py_ssize_t n = cnp.PyArray_DIM(a, 0)
    if not 0 <= t < n:
        raise ValueError("t must be in [0, %d), got %d" % (n, t))
    cdef fastnn_pw_node* nodes = <fastnn_pw_node*>malloc(fastnn_pw_nodes_max(n)
                                                          * sizeof(fastnn_pw_node))
    if nodes == NULL:
        raise MemoryError()
    cdef const double* w = <const double*>cnp.PyArray_DATA(a)
    fastnn_pw_build(w, n, nodes, 0)
    cdef double s = fastnn_pw_sum_without(w, n, t, nodes)
    free(nodes)
    return s


def _chains(cnp.ndarray w, targets, later=(), table=False):
    """For tests: the sampler's cumulative sums, as the draws read them.
    ``targets``: up to 8 rows' targets (first rounds computed together);
    ``later``: for row 0, the index sets found by successive rounds, each
    recomputed in place as a later round does; ``table``: the quotients
    from the table of w's distinct values (ValueError when w has too many).
    Returns (rows, V) float64."""
    if w.dtype != np.float64 or w.ndim != 1 or not w.flags.c_contiguous:
        raise TypeError("w must be a C-contiguous float64 vector")
    cdef Py_ssize_t V = cnp.PyArray_DIM(w, 0), R = len(targets), r, k, j0
    if not 1 <= R <= FASTNN_SAMPLER_ROWS or V == 0:
        raise ValueError("1 to %d targets over a non-empty w" % FASTNN_SAMPLER_ROWS)
    cdef const double* wp = <const double*>cnp.PyArray_DATA(w)
    cdef Py_ssize_t ts[FASTNN_SAMPLER_ROWS]
    cdef double ss[FASTNN_SAMPLER_ROWS]
    nodes = np.empty(fastnn_pw_nodes_max(V) * sizeof(fastnn_pw_node), dtype=np.uint8)
    c = np.empty(V * FASTNN_SAMPLER_ROWS)
    zero = np.zeros(V, dtype=np.uint8)
    cdef fastnn_pw_node* nd = <fastnn_pw_node*>cnp.PyArray_DATA(nodes)
    cdef double* cp = <double*>cnp.PyArray_DATA(c)
    cdef unsigned char* zp = <unsigned char*>cnp.PyArray_DATA(zero)
    cdef const int32_t* cls = NULL
    cdef const double* vals = NULL
    cdef double* q = NULL
    cdef Py_ssize_t U = 0
    cdef cnp.ndarray ccls, cvals
    qbuf = None
    if table:
        classes = _value_classes(w)
        if classes is None:
            raise ValueError("w has more than len(w) / 4 distinct values")
        ccls, cvals = classes
        cls = <const int32_t*>cnp.PyArray_DATA(ccls)
        vals = <const double*>cnp.PyArray_DATA(cvals)
        U = cnp.PyArray_DIM(cvals, 0)
        qbuf = np.empty(U * FASTNN_SAMPLER_ROWS)
        q = <double*>cnp.PyArray_DATA(qbuf)
    fastnn_pw_build(wp, V, nd, 0)
    for r in range(FASTNN_SAMPLER_ROWS):
        ts[r] = int(targets[r]) if r < R else -1
        if not -1 <= ts[r] < V:
            raise ValueError("targets must be in [0, %d)" % V)
        ss[r] = fastnn_pw_sum_without(wp, V, ts[r], nd) if ts[r] >= 0 else 1.0
    fastnn_unigram_prefix_rows(wp, V, ts, ss, cp, cls, vals, U, q)
    zp[ts[0]] = 1
    for found in later:
        j0 = V
        for k in found:
            if not 0 <= k < V:
                raise ValueError("found indices must be in [0, %d)" % V)
            zp[k] = 1
            j0 = min(j0, <Py_ssize_t>k)
        fastnn_unigram_prefix_lane(wp, V, zp, ss[0], j0, cp, 0, cls, q)
    return c.reshape(V, FASTNN_SAMPLER_ROWS).T[:R].copy()


_PAIRWISE_OK = None


def _pairwise_matches_numpy():
    """Whether _pairwise_sum gives np.sum's doubles on this NumPy (checked once,
    over lengths around every branch of the recursion)."""
    global _PAIRWISE_OK
    if _PAIRWISE_OK is None:
        rng = np.random.default_rng(12345)
        ok = True
        for n in (1, 7, 8, 9, 127, 128, 129, 136, 255, 1000, 8191, 8193, 10007):
            a = rng.random(n) ** 3
            if pairwise_sum(a) != np.sum(a):
                ok = False
                break
        _PAIRWISE_OK = ok
    return _PAIRWISE_OK


def _global_bit_generator():
    get = getattr(np.random, "get_bit_generator", None)
    return get() if get is not None else np.random.mtrand._rand._bit_generator


def _native_float(a):
    return (isinstance(a, np.ndarray) and type(a) is np.ndarray
            and a.dtype in (np.float32, np.float64) and a.dtype.isnative)


def _ids(idx, V):
    """idx as a C-contiguous intp vector, or None when it is not a 1-D integer
    array; ValueError for ids outside [0, V)."""
    if not isinstance(idx, np.ndarray) or idx.ndim != 1 or idx.dtype.kind not in "iu":
        return None
    if idx.size and (idx.min() < 0 or idx.max() >= V):
        raise ValueError("idx holds the token id %d, outside [0, %d) (the rows of W)"
                         % (idx.min() if idx.min() < 0 else idx.max(), V))
    return np.ascontiguousarray(idx, dtype=np.intp)


class Word2VecOps:
    """CompiledOps's overrides of the word2vec ops."""

    def embedding_dot_forward(self, W, idx, h):
        ok = (_native_float(W) and _native_float(h) and W.ndim == 2 and h.ndim == 2
              and h.dtype == W.dtype and W.flags.c_contiguous and h.flags.c_contiguous)
        ids = _ids(idx, W.shape[0]) if ok else None
        if ids is None or h.shape != (ids.shape[0], W.shape[1]):
            return super().embedding_dot_forward(W, idx, h)
        cdef Py_ssize_t B = ids.shape[0], H = W.shape[1]
        tW = np.empty((B, H), dtype=W.dtype)
        out = np.empty(B, dtype=W.dtype)
        cdef cnp.ndarray cW = W, ch = h, ct = tW, co = out, ci = ids
        if W.dtype == np.float32:
            with nogil:
                _edot_forward(<const float*>cnp.PyArray_DATA(cW), H,
                              <const cnp.npy_intp*>cnp.PyArray_DATA(ci), B,
                              <const float*>cnp.PyArray_DATA(ch), <float*>cnp.PyArray_DATA(ct),
                              <float*>cnp.PyArray_DATA(co))
        else:
            with nogil:
                _edot_forward(<const double*>cnp.PyArray_DATA(cW), H,
                              <const cnp.npy_intp*>cnp.PyArray_DATA(ci), B,
                              <const double*>cnp.PyArray_DATA(ch), <double*>cnp.PyArray_DATA(ct),
                              <double*>cnp.PyArray_DATA(co))
        return out, tW

    def embedding_dot_backward(self, dW, idx, h, target_W, dout, stale=None):
        ok = (_native_float(dW) and _native_float(h) and _native_float(target_W)
              and _native_float(dout) and dW.ndim == 2 and h.dtype == dW.dtype
              and target_W.dtype == dW.dtype and dW.flags.c_contiguous
              and dW.flags.writeable and h.flags.c_contiguous and target_W.flags.c_contiguous
              and (dout.dtype == dW.dtype or dout.dtype == np.float64))
        try:
            ids = _ids(idx, dW.shape[0]) if ok else None
        except ValueError:      # ids outside [0, V): NumPy's statements (the book zeroes
            ids = None          # dW, then np.add.at raises, or takes negative ids)
        if (ids is None or h.shape != (ids.shape[0], dW.shape[1]) or target_W.shape != h.shape
                or dout.size != ids.shape[0] or np.may_share_memory(dW, h)
                or np.may_share_memory(dW, target_W) or np.may_share_memory(dW, dout)):
            return super().embedding_dot_backward(dW, idx, h, target_W, dout, stale)
        cdef Py_ssize_t B = ids.shape[0], H = dW.shape[1], V = dW.shape[0]
        cdef cnp.ndarray cs
        cdef const int64_t* sp = NULL
        cdef Py_ssize_t ns = 0
        if stale is not None:
            cs = np.ascontiguousarray(stale, dtype=np.int64).reshape(-1)
            ns = cs.shape[0]
            if ns and (cs.min() < 0 or cs.max() >= V):
                raise ValueError("stale rows must be in [0, %d)" % V)
            sp = <const int64_t*>cnp.PyArray_DATA(cs)
        cdef bint wide = dout.dtype != dW.dtype
        d = np.ascontiguousarray(dout).reshape(-1)
        dh = np.empty((B, H), dtype=dout.dtype)
        cdef cnp.ndarray cW = dW, ch = h, ct = target_W, cd = d, cdh = dh, ci = ids
        if dW.dtype == np.float32:
            with nogil:
                _edot_backward(<float*>cnp.PyArray_DATA(cW), V, H,
                               <const cnp.npy_intp*>cnp.PyArray_DATA(ci), B,
                               <const float*>cnp.PyArray_DATA(ch), <const float*>cnp.PyArray_DATA(ct),
                               cnp.PyArray_DATA(cd), wide, cnp.PyArray_DATA(cdh), sp, ns, 0)
        else:
            with nogil:
                _edot_backward(<double*>cnp.PyArray_DATA(cW), V, H,
                               <const cnp.npy_intp*>cnp.PyArray_DATA(ci), B,
                               <const double*>cnp.PyArray_DATA(ch), <const double*>cnp.PyArray_DATA(ct),
                               cnp.PyArray_DATA(cd), False, cnp.PyArray_DATA(cdh), sp, ns, 0)
        return dh

    def unigram_sample(self, word_p, target, sample_size):
        V = word_p.shape[0] if isinstance(word_p, np.ndarray) and word_p.ndim == 1 else -1
        if (V <= 0 or word_p.dtype != np.float64 or not word_p.dtype.isnative
                or not isinstance(target, np.ndarray) or target.ndim != 1
                or target.dtype.kind not in "iu" or not _pairwise_matches_numpy()):
            return super().unigram_sample(word_p, target, sample_size)
        S = int(sample_size)
        if S < 0 or S > V:
            raise ValueError("sample_size must be in [0, vocab_size=%d], got %r"
                             % (V, sample_size))
        if target.size and (target.min() < 0 or target.max() >= V):
            raise ValueError("target ids must be in [0, vocab_size=%d), got min %d, max %d"
                             % (V, target.min(), target.max()))
        w = np.ascontiguousarray(word_p)
        if not np.isfinite(w).all() or (w < 0).any():
            raise ValueError("word_p must be finite and >= 0")
        out = np.zeros((target.shape[0], S), dtype=np.int32)
        sample_into(w, np.ascontiguousarray(target, dtype=np.intp), out,
                    _global_bit_generator())
        return out


# -- the book's CBOW, its layers' loops fused (fastnn.nlp.cbow's fused path) --------


cdef void _mean_dots(const real* Win, Py_ssize_t H, const int64_t* ctx, Py_ssize_t C,
                     Py_ssize_t B, real scale, const real* Wout, const int64_t* ids,
                     Py_ssize_t K, real* h, real* tW, real* score) noexcept nogil:
    """h[b] = (0 + Win[ctx[0, b]] + ... + Win[ctx[C-1, b]]) * scale, added
    element by element in that order (the book's ``h = 0; h += ...;
    h *= 1 / C``); then each k as EmbeddingDot's forward of ids[k]."""
    cdef Py_ssize_t b, c, j, k
    cdef real* hb
    cdef const real* row
    for b in range(B):
        if b + PREFETCH_AHEAD < B:
            for c in range(C):
                fastnn_prefetch_row(Win + ctx[c * B + b + PREFETCH_AHEAD] * H, H * sizeof(real), 0)
        hb = h + b * H
        row = Win + ctx[b] * H
        for j in range(H):
            hb[j] = <real>0 + row[j]
        for c in range(1, C):
            row = Win + ctx[c * B + b] * H
            for j in range(H):
                hb[j] = hb[j] + row[j]
        for j in range(H):
            hb[j] = hb[j] * scale
    for k in range(K):
        _edot_forward(Wout, H, <const cnp.npy_intp*>(ids + k * B), B, h, tW + k * B * H,
                      score + k * B)


cdef void _dots_backward(real** dWs, const Py_ssize_t* V, const int64_t** stale,
                         const Py_ssize_t* nstale, Py_ssize_t K, const int64_t* ids,
                         Py_ssize_t B, Py_ssize_t H, const real* h, const real* tW,
                         const double* d, double* dh) noexcept nogil:
    """For each k: EmbeddingDot's backward with float64 dout d[k] (the
    scatter-add in float64, each sum rounded to real, as np.add.at), and
    dh = 0 + d[0]·tW[0] + d[1]·tW[1] + ... in float64 (NegativeSamplingLoss's
    ``dh = 0; dh += ...``)."""
    cdef Py_ssize_t k
    for k in range(K):
        _edot_backward(dWs[k], V[k], H, <const cnp.npy_intp*>(ids + k * B), B, h,
                       tW + k * B * H, d + k * B, True, dh, stale[k], nstale[k],
                       1 if k == 0 else 2)


cdef void _rows_backward(real** dWs, const Py_ssize_t* V, const int64_t** stale,
                         const Py_ssize_t* nstale, Py_ssize_t C, const int64_t* idx,
                         Py_ssize_t B, Py_ssize_t H, const double* dout) noexcept nogil:
    """For each i: Embedding's backward of idx[i] with float64 dout (each sum
    in float64, rounded to real, as np.add.at adds)."""
    cdef Py_ssize_t i, b, j
    cdef real* row
    cdef const double* src
    for i in range(C):
        _zero_rows(dWs[i], V[i], H, stale[i], nstale[i])
        for b in range(B):
            if b + PREFETCH_AHEAD < B:
                fastnn_prefetch_row(dWs[i] + idx[i * B + b + PREFETCH_AHEAD] * H,
                                    H * sizeof(real), 1)
            row = dWs[i] + idx[i * B + b] * H
            src = dout + b * H
            for j in range(H):
                row[j] = <real>(<double>row[j] + src[j])


def _c_ids(a, Py_ssize_t ndim):
    """A C-contiguous native int64 ndarray of rank ndim, else None."""
    if (type(a) is not np.ndarray or a.dtype != np.int64 or not a.dtype.isnative
            or a.ndim != ndim or not a.flags.c_contiguous):
        return None
    return a


cdef bint _in_range(cnp.ndarray a, Py_ssize_t V):
    """Whether every id of the C-contiguous int64 array a is in [0, V)."""
    cdef const int64_t* p = <const int64_t*>cnp.PyArray_DATA(a)
    cdef Py_ssize_t i, n = cnp.PyArray_SIZE(a)
    cdef bint ok = True
    with nogil:
        for i in range(n):
            if p[i] < 0 or p[i] >= V:
                ok = False
                break
    return ok


cdef bint _grad_arrays(list dWs, dtype, Py_ssize_t H, size_t* ptrs, Py_ssize_t* Vs):
    """Whether each of dWs is a writeable native C-contiguous (V, H) array of
    dtype, no two overlapping; fills their pointers and row counts."""
    cdef Py_ssize_t i, j, n = len(dWs), item = dtype.itemsize
    cdef char* lo
    cdef char* hi
    for i in range(n):
        a = dWs[i]
        if (not _native_float(a) or a.dtype != dtype or a.ndim != 2 or a.shape[1] != H
                or not a.flags.c_contiguous or not a.flags.writeable):
            return False
        ptrs[i] = <size_t>cnp.PyArray_DATA(<cnp.ndarray>a)
        Vs[i] = a.shape[0]
    for i in range(n):
        lo = <char*>ptrs[i]
        hi = lo + Vs[i] * H * item
        for j in range(i + 1, n):
            if lo < <char*>ptrs[j] + Vs[j] * H * item and <char*>ptrs[j] < hi:
                return False
    return True


cdef object _stale_rows(stales, Py_ssize_t n, Py_ssize_t V, size_t* ptrs, Py_ssize_t* lens):
    """The stale row lists (None or int64 ids in [0, V)) as pointers, kept
    alive by the returned list; None when one is not such an array."""
    keep = []
    cdef Py_ssize_t i
    for i in range(n):
        s = stales[i]
        if s is None:
            ptrs[i] = 0
            lens[i] = 0
            continue
        s = _c_ids(s, 1)
        if s is None:
            return None
        if not _in_range(s, V):
            raise ValueError("stale rows must be in [0, %d)" % V)
        keep.append(s)
        ptrs[i] = <size_t>cnp.PyArray_DATA(<cnp.ndarray>s)
        lens[i] = s.shape[0]
    return keep


cdef object _grad_table(list dWs, dtype, Py_ssize_t H, stales, cnp.ndarray ids, str name,
                        tuple others):
    """What the fused backward kernels take of their gradients: ``(ptrs, Vs,
    sp, sl, keep)``, the arrays' addresses and row counts and their stale
    rows' addresses and lengths (``keep`` holding those alive); None when
    the gradients are not arrays the kernels take (the caller hands the call
    to NumPy); ValueError for ids or stale rows outside the rows."""
    cdef Py_ssize_t n = len(dWs)
    ptrs = np.empty(n, dtype=np.uintp)
    Vs = np.empty(n, dtype=np.intp)
    sp = np.empty(n, dtype=np.uintp)
    sl = np.empty(n, dtype=np.intp)
    cdef size_t* pv = <size_t*>cnp.PyArray_DATA(<cnp.ndarray>ptrs)
    cdef Py_ssize_t* vv = <Py_ssize_t*>cnp.PyArray_DATA(<cnp.ndarray>Vs)
    cdef size_t* spv = <size_t*>cnp.PyArray_DATA(<cnp.ndarray>sp)
    cdef Py_ssize_t* slv = <Py_ssize_t*>cnp.PyArray_DATA(<cnp.ndarray>sl)
    if not _grad_arrays(dWs, dtype, H, pv, vv) or any(
            np.may_share_memory(g, x) for g in dWs for x in others):
        return None
    Vmin = Vs.min()
    if not _in_range(ids, Vmin):
        raise ValueError("%s must be in [0, %d)" % (name, Vmin))
    keep = _stale_rows(stales, n, Vmin, spv, slv)
    if keep is None:
        return None
    return ptrs, Vs, sp, sl, keep


def ids_in_range(a, Py_ssize_t V):
    """Whether ``a`` is a C-contiguous native int64 ndarray whose every id is
    in [0, V) (False for any other array: the caller then checks it itself)."""
    a = _c_ids(a, a.ndim) if type(a) is np.ndarray else None
    return a is not None and _in_range(a, V)


class Word2VecFusedOps:
    """CompiledOps's overrides of the book's CBOW loops (NumpyOps's
    embedding_mean_dots, embedding_dots_backward, embeddings_backward):
    one call each instead of a Python loop over the layers.  Inputs the
    kernels do not take go to NumpyOps (``super()``)."""

    def embedding_mean_dots(self, W_in, ctx, W_out, ids, scale):
        ok = (_native_float(W_in) and _native_float(W_out) and W_in.dtype == W_out.dtype
              and W_in.ndim == 2 and W_out.ndim == 2 and W_in.shape[1] == W_out.shape[1]
              and W_in.flags.c_contiguous and W_out.flags.c_contiguous
              and type(scale) is float)
        cc = _c_ids(ctx, 2) if ok else None
        ci = _c_ids(ids, 2) if cc is not None else None
        if (ci is None or cc.shape[0] < 1 or ci.shape[1] != cc.shape[1]
                or not _in_range(cc, W_in.shape[0]) or not _in_range(ci, W_out.shape[0])):
            return super().embedding_mean_dots(W_in, ctx, W_out, ids, scale)
        ctx, ids = cc, ci
        cdef Py_ssize_t C = ctx.shape[0], B = ctx.shape[1], K = ids.shape[0]
        cdef Py_ssize_t H = W_in.shape[1]
        h = np.empty((B, H), dtype=W_in.dtype)
        tW = np.empty((K, B, H), dtype=W_in.dtype)
        score = np.empty((K, B), dtype=W_in.dtype)
        cdef cnp.ndarray a = W_in, o = W_out, c = ctx, i = ids, ch = h, ct = tW, cs = score
        cdef double sc = scale
        if W_in.dtype == np.float32:
            with nogil:
                _mean_dots(<const float*>cnp.PyArray_DATA(a), H,
                           <const int64_t*>cnp.PyArray_DATA(c), C, B, <float>sc,
                           <const float*>cnp.PyArray_DATA(o), <const int64_t*>cnp.PyArray_DATA(i),
                           K, <float*>cnp.PyArray_DATA(ch), <float*>cnp.PyArray_DATA(ct),
                           <float*>cnp.PyArray_DATA(cs))
        else:
            with nogil:
                _mean_dots(<const double*>cnp.PyArray_DATA(a), H,
                           <const int64_t*>cnp.PyArray_DATA(c), C, B, sc,
                           <const double*>cnp.PyArray_DATA(o), <const int64_t*>cnp.PyArray_DATA(i),
                           K, <double*>cnp.PyArray_DATA(ch), <double*>cnp.PyArray_DATA(ct),
                           <double*>cnp.PyArray_DATA(cs))
        return h, tW, score

    def embedding_dots_backward(self, dWs, ids, h, tW, d, stales):
        cdef Py_ssize_t K = len(dWs) if type(dWs) is list else -1
        ok = (K >= 1 and _native_float(h) and h.ndim == 2 and h.flags.c_contiguous
              and _native_float(tW) and tW.dtype == h.dtype and tW.flags.c_contiguous
              and type(d) is np.ndarray and d.dtype == np.float64 and d.dtype.isnative
              and d.flags.c_contiguous and type(stales) is list and len(stales) == K)
        ci = _c_ids(ids, 2) if ok else None
        cdef Py_ssize_t B = h.shape[0] if ok else 0, H = h.shape[1] if ok else 0
        if (ci is None or ci.shape != (K, B) or tW.shape != (K, B, H) or d.shape != (K, B)):
            return super().embedding_dots_backward(dWs, ids, h, tW, d, stales)
        tab = _grad_table(dWs, h.dtype, H, stales, ci, "ids", (h, tW, d))
        if tab is None:
            return super().embedding_dots_backward(dWs, ids, h, tW, d, stales)
        cdef size_t* pv = <size_t*>cnp.PyArray_DATA(<cnp.ndarray>tab[0])
        cdef Py_ssize_t* vv = <Py_ssize_t*>cnp.PyArray_DATA(<cnp.ndarray>tab[1])
        cdef size_t* spv = <size_t*>cnp.PyArray_DATA(<cnp.ndarray>tab[2])
        cdef Py_ssize_t* slv = <Py_ssize_t*>cnp.PyArray_DATA(<cnp.ndarray>tab[3])
        dh = np.empty((B, H), dtype=np.float64)
        cdef cnp.ndarray cids = ci, ch = h, ct = tW, cd = d, cdh = dh
        if h.dtype == np.float32:
            with nogil:
                _dots_backward(<float**>pv, vv, <const int64_t**>spv, slv, K,
                               <const int64_t*>cnp.PyArray_DATA(cids), B, H,
                               <const float*>cnp.PyArray_DATA(ch),
                               <const float*>cnp.PyArray_DATA(ct),
                               <const double*>cnp.PyArray_DATA(cd),
                               <double*>cnp.PyArray_DATA(cdh))
        else:
            with nogil:
                _dots_backward(<double**>pv, vv, <const int64_t**>spv, slv, K,
                               <const int64_t*>cnp.PyArray_DATA(cids), B, H,
                               <const double*>cnp.PyArray_DATA(ch),
                               <const double*>cnp.PyArray_DATA(ct),
                               <const double*>cnp.PyArray_DATA(cd),
                               <double*>cnp.PyArray_DATA(cdh))
        return dh

    def embeddings_backward(self, dWs, idx, dout, stales):
        cdef Py_ssize_t C = len(dWs) if type(dWs) is list else -1
        ok = (C >= 1 and type(dout) is np.ndarray and dout.dtype == np.float64
              and dout.dtype.isnative and dout.ndim == 2 and dout.flags.c_contiguous
              and type(stales) is list and len(stales) == C)
        cidx = _c_ids(idx, 2) if ok else None
        cdef Py_ssize_t B = dout.shape[0] if ok else 0, H = dout.shape[1] if ok else 0
        if cidx is None or cidx.shape != (C, B) or not _native_float(dWs[0]):
            return super().embeddings_backward(dWs, idx, dout, stales)
        dtype = dWs[0].dtype
        tab = _grad_table(dWs, dtype, H, stales, cidx, "idx", (dout,))
        if tab is None:
            return super().embeddings_backward(dWs, idx, dout, stales)
        cdef size_t* pv = <size_t*>cnp.PyArray_DATA(<cnp.ndarray>tab[0])
        cdef Py_ssize_t* vv = <Py_ssize_t*>cnp.PyArray_DATA(<cnp.ndarray>tab[1])
        cdef size_t* spv = <size_t*>cnp.PyArray_DATA(<cnp.ndarray>tab[2])
        cdef Py_ssize_t* slv = <Py_ssize_t*>cnp.PyArray_DATA(<cnp.ndarray>tab[3])
        cdef cnp.ndarray cix = cidx, cdo = dout
        if dtype == np.float32:
            with nogil:
                _rows_backward(<float**>pv, vv, <const int64_t**>spv, slv, C,
                               <const int64_t*>cnp.PyArray_DATA(cix), B, H,
                               <const double*>cnp.PyArray_DATA(cdo))
        else:
            with nogil:
                _rows_backward(<double**>pv, vv, <const int64_t**>spv, slv, C,
                               <const int64_t*>cnp.PyArray_DATA(cix), B, H,
                               <const double*>cnp.PyArray_DATA(cdo))
        return None
