# cython: language_level=3
"""word2vec's negative sampler (the sequel's ``UnigramSampler``, chapter 4),
drawing the book's exact stream.

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
  at most 128, halves split at multiples of 8), reproduced by
  ``_pairwise_sum``; tests/test_nlp_sampler.py checks it against ``np.sum``
  over many lengths (NumPy could change it: the check runs at first use too,
  and a mismatch sends every call to NumPy's own code);
* ``p /= s`` and ``cdf /= cdf[-1]`` are correctly rounded divisions, here
  as there; the cumulative sum is sequential in both;
* ``searchsorted(x, 'right')`` is the first index whose cdf exceeds x,
  which is unique, whatever search finds it; the cdf is never stored
  divided: ``c[i] / c[-1]`` is computed at each probe, the same double;
* the doubles are the global ``np.random``'s ``next_double``, drawn through
  NumPy's ``bitgen_t`` under the generator's lock.

Cost: one pass for the sum, one fused divide-and-accumulate pass (latency
bound: about 4 cycles an element), per row and per round with duplicates;
the book adds ~30 us of Python and ``choice``'s checks per row.
"""
from libc.stdint cimport int32_t, int64_t
from libc.string cimport memcpy
from libc.stdlib cimport malloc, free
from numpy.random cimport bitgen_t
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_IsValid

import numpy as np
cimport numpy as cnp

cnp.import_array()


cdef double _pairwise_sum(const double* a, Py_ssize_t n) noexcept nogil:
    """NumPy's pairwise sum of a[:n] (its add.reduce on a contiguous float64 row)."""
    cdef double r0, r1, r2, r3, r4, r5, r6, r7, res
    cdef Py_ssize_t i, n2
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[i]
        return res
    if n <= 128:
        r0 = a[0]; r1 = a[1]; r2 = a[2]; r3 = a[3]
        r4 = a[4]; r5 = a[5]; r6 = a[6]; r7 = a[7]
        i = 8
        while i < n - (n % 8):
            r0 += a[i]; r1 += a[i + 1]; r2 += a[i + 2]; r3 += a[i + 3]
            r4 += a[i + 4]; r5 += a[i + 5]; r6 += a[i + 6]; r7 += a[i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += a[i]
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise_sum(a, n2) + _pairwise_sum(a + n2, n - n2)


cdef void _prefix(const double* p, Py_ssize_t n, double s, double* c) noexcept nogil:
    """c = cumsum(p / s), sequentially (the division fused in)."""
    cdef double acc = 0.0
    cdef Py_ssize_t j
    for j in range(n):
        acc = acc + p[j] / s
        c[j] = acc
    # (acc + 0.0 for a zeroed entry is acc: the zeros need no branch)


cdef Py_ssize_t _search_right(const double* c, Py_ssize_t n, double last, double x) noexcept nogil:
    """The first index i with c[i] / last > x (n when none)."""
    cdef Py_ssize_t lo = 0, hi = n, mid
    while lo < hi:
        mid = lo + (hi - lo) // 2
        if c[mid] / last <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef int _sample_row(const double* word_p, Py_ssize_t V, Py_ssize_t t, Py_ssize_t S,
                     bitgen_t* rng, double* p, double* c, double* x, int64_t* found,
                     int32_t* out) noexcept nogil:
    """One row; 0, or (nothing drawn) -1 when p has fewer than S nonzero
    entries, -2 when the target was the only word of nonzero probability."""
    cdef double s, last
    cdef Py_ssize_t i, j, k, m, n_uniq = 0, nonzero = 0
    cdef int64_t idx
    cdef bint dup
    memcpy(p, word_p, V * sizeof(double))
    p[t] = 0.0
    s = _pairwise_sum(p, V)
    if not s > 0.0:                 # p / 0: NumPy's "probabilities contain NaN"
        return -2
    for j in range(V):              # NumPy's count_nonzero(p > 0) < size, stopped at S
        if p[j] / s > 0.0:
            nonzero += 1
            if nonzero >= S:
                break
    if nonzero < S:
        return -1
    while n_uniq < S:
        m = S - n_uniq
        for k in range(m):
            x[k] = rng.next_double(rng.state)
        for k in range(n_uniq):
            p[found[k]] = 0.0
        _prefix(p, V, s, c)
        last = c[V - 1]
        for k in range(m):
            found[S + k] = _search_right(c, V, last, x[k])
        # dedupe this round's draws (found[S:S+m]) into found[n_uniq:]
        j = n_uniq
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
        n_uniq = j
    for k in range(S):
        out[k] = <int32_t>found[k]
    return 0


def _bitgen_of(bit_generator):
    capsule = bit_generator.capsule
    if not PyCapsule_IsValid(capsule, "BitGenerator"):
        raise TypeError("%s does not expose a NumPy bitgen_t capsule"
                        % type(bit_generator).__name__)
    return capsule


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
    cdef double* p
    cdef double* c
    cdef double* x
    cdef int64_t* found
    cdef Py_ssize_t i, bad = -1
    cdef int code = 0
    if B == 0:
        return 0
    p = <double*>malloc(V * sizeof(double))
    c = <double*>malloc(V * sizeof(double))
    x = <double*>malloc((S + 1) * sizeof(double))
    found = <int64_t*>malloc((2 * S + 1) * sizeof(int64_t))
    if p == NULL or c == NULL or x == NULL or found == NULL:
        free(p); free(c); free(x); free(found)
        raise MemoryError()
    try:
        with bit_generator.lock, nogil:
            for i in range(B):
                code = _sample_row(w, V, tg[i], S, rng, p, c, x, found, o + i * S)
                if code < 0:
                    bad = i
                    break
    finally:
        free(p); free(c); free(x); free(found)
    if code == -2:
        raise ValueError("probabilities contain NaN (row %d of target: its target is the "
                         "only word of nonzero probability, so p / p.sum() is 0 / 0)" % bad)
    if bad >= 0:
        raise ValueError("Fewer non-zero entries in p than size (row %d of target: "
                         "fewer than sample_size=%d words of nonzero probability "
                         "besides the target)" % (bad, S))
    return 0


def pairwise_sum(cnp.ndarray a):
    """NumPy's pairwise sum of a C-contiguous float64 vector (for tests)."""
    if a.dtype != np.float64 or a.ndim != 1 or not a.flags.c_contiguous:
        raise TypeError("a must be a C-contiguous float64 vector")
    return _pairwise_sum(<const double*>cnp.PyArray_DATA(a), cnp.PyArray_DIM(a, 0))


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


class SamplerOps:
    """CompiledOps's override of ``unigram_sample`` (see the module doc)."""

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
