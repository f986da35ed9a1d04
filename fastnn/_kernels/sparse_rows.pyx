# cython: language_level=3
"""The sparse word2vec mode's kernels (``CBOW(..., sparse=True)``,
``SkipGram(..., sparse=True)``, ``fastnn.nlp.optimizer.LazyAdam``): not the
book's algorithm, an opt-in one.

The book's CBOW gives each of its 2·window context layers and each of its
sample_size + 1 EmbeddingDot layers a dense (V, H) gradient, zeroed and
scattered every step, adds them up in ``remove_duplicate`` and steps Adam
over every row.  Here a gradient is the pair (distinct row ids, their rows):

* ``rows_mean`` / ``rows_mean_backward``: the context embedding, h[b] the
  mean of W's rows ids[b, :] (summed left to right, then scaled, as the
  book's loop); its gradient rows the sums of dh[b]/C over each id's
  occurrences;
* ``rows_dot`` / ``rows_dot_backward``: the output embedding, score[b, k] =
  W[ids[b, k]] . h[b] (the pairwise sum of the book's ``np.sum(..., axis=1)``);
  its gradient rows the sums of d[b, k]·h[b] per id, and dh;
* ``dedupe``: the distinct ids in order of first occurrence and each id's
  position among them, from a hash table of 2n slots (O(n), nothing of
  size V), no ``np.unique`` sort and no ``np.add.at``;
* ``lazy_adam_step``: Adam on the listed rows only (see
  fastnn.nlp.optimizer.LazyAdam for how it differs from Adam).

Every entry point checks its arguments (types, dtypes, layout, shapes, ids
in [0, V), distinct ids for the Adam step) and raises TypeError or
ValueError before a kernel runs; the kernels run on the calling thread
(these arrays are small: ~1000 rows a step), without the GIL when large;
the Adam step's rows are split over fastnn's thread pool (distinct rows:
no two threads write one).
"""
from libc.stdint cimport int64_t
from numpy.random cimport bitgen_t
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_IsValid

import numpy as np
cimport numpy as cnp
from fastnn._kernels._args cimport NOGIL_MIN, release_gil_if, retake_gil
from fastnn._kernels.parallel cimport GRAIN_ELEMS, parallel_range

cnp.import_array()


cdef extern from "sparse_rows_simd.h" nogil:
    void fastnn_rows_mean(bint f32, const void* W, Py_ssize_t H, const int64_t* ids,
                          Py_ssize_t B, Py_ssize_t C, double scale, void* h)
    void fastnn_rows_dot(bint f32, const void* W, Py_ssize_t H, const int64_t* ids,
                         Py_ssize_t B, Py_ssize_t K, const void* h, void* out)
    void fastnn_rows_dot_backward(bint f32, const void* W, Py_ssize_t H, const int64_t* ids,
                                  const int64_t* inv, Py_ssize_t B, Py_ssize_t K,
                                  const void* h, const void* d, void* rows, Py_ssize_t u,
                                  void* dh)
    void fastnn_rows_mean_backward(bint f32, const void* dh, Py_ssize_t H, const int64_t* inv,
                                   Py_ssize_t B, Py_ssize_t C, double scale, void* rows,
                                   Py_ssize_t u)
    Py_ssize_t fastnn_first_bad_id(const int64_t* ids, Py_ssize_t n, int64_t V)
    Py_ssize_t fastnn_dedupe(const int64_t* ids, Py_ssize_t n, int64_t* uniq, int64_t* inv)
    ctypedef double (*fastnn_uniform_fn)(void* state)
    Py_ssize_t fastnn_alias_sample(const double* prob, const int64_t* alias, Py_ssize_t V,
                                   const int64_t* target, Py_ssize_t B, Py_ssize_t S,
                                   fastnn_uniform_fn uniform, void* state, int64_t max_draws,
                                   int64_t* out)
    void fastnn_lazy_adam_f(float* p, float* m, float* v, Py_ssize_t H, const int64_t* ids,
                            const float* g, Py_ssize_t lo, Py_ssize_t hi, double lr_t,
                            float b1c, float b2c, float eps)
    void fastnn_lazy_adam_d(double* p, double* m, double* v, Py_ssize_t H, const int64_t* ids,
                            const double* g, Py_ssize_t lo, Py_ssize_t hi, double lr_t,
                            double b1c, double b2c, double eps)


# The casts of a double argument to an _f kernel's float parameter happen in
# the call (FASTNN_BY_DTYPE): scale = 1/C rounded to float32, as NumPy 2
# rounds the book's Python float 1 / len(in_layers) against a float32 array.


cdef int _float_kind(object a, str name, bint writeable) except -1:
    """NPY_FLOAT or NPY_DOUBLE of a native, aligned, C-contiguous float array."""
    if type(a) is not np.ndarray:
        raise TypeError("%s must be a numpy.ndarray, got %s" % (name, type(a).__name__))
    cdef cnp.ndarray arr = <cnp.ndarray>a
    cdef int t = cnp.PyArray_TYPE(arr)
    if (t != cnp.NPY_FLOAT and t != cnp.NPY_DOUBLE) or cnp.PyArray_ISBYTESWAPPED(arr):
        raise TypeError("%s must be float32 or float64 (native byte order), got %s"
                        % (name, arr.dtype))
    if not cnp.PyArray_ISCARRAY_RO(arr):
        raise ValueError("%s must be C-contiguous and aligned" % name)
    if writeable and not cnp.PyArray_ISWRITEABLE(arr):
        raise ValueError("%s must be writeable" % name)
    return t


cdef bint _overlap(tuple arrays):
    """Whether two of these C-contiguous arrays share a byte (their
    [data, data + nbytes) ranges meet: exact for contiguous arrays)."""
    cdef Py_ssize_t i, j, n = len(arrays)
    cdef char* lo[4]
    cdef char* hi[4]
    cdef cnp.ndarray a
    for i in range(n):
        a = <cnp.ndarray>arrays[i]
        lo[i] = <char*>cnp.PyArray_DATA(a)
        hi[i] = lo[i] + cnp.PyArray_NBYTES(a)
    for i in range(n):
        for j in range(i + 1, n):
            if lo[i] < hi[j] and lo[j] < hi[i]:
                return True
    return False


def takes(a):
    """Whether the lazy Adam kernel takes ``a`` as a parameter (a native,
    aligned, C-contiguous, writeable float32/float64 ndarray)."""
    if type(a) is not np.ndarray:
        return False
    cdef cnp.ndarray arr = <cnp.ndarray>a
    cdef int t = cnp.PyArray_TYPE(arr)
    return ((t == cnp.NPY_FLOAT or t == cnp.NPY_DOUBLE) and not cnp.PyArray_ISBYTESWAPPED(arr)
            and cnp.PyArray_ISCARRAY(arr))


def as_ids(ids, str name, Py_ssize_t V, int ndim):
    """``ids`` as a C-contiguous int64 array of rank ``ndim`` (a copy when it
    is another integer type or layout); TypeError for a non-integer dtype,
    ValueError for another rank or an id outside [0, V)."""
    a = np.asarray(ids)
    if a.dtype.kind not in "iu":
        raise TypeError("%s must hold integer row ids, got dtype %s" % (name, a.dtype))
    if a.ndim != ndim:
        raise ValueError("%s must be %d-D, got shape %s" % (name, ndim, a.shape))
    if a.dtype.kind == "u" and a.size and a.max() > np.iinfo(np.int64).max:
        raise ValueError("%s holds the row id %d, outside [0, %d)" % (name, a.max(), V))
    cdef cnp.ndarray c = np.ascontiguousarray(a, dtype=np.int64)
    cdef Py_ssize_t bad = fastnn_first_bad_id(<const int64_t*>cnp.PyArray_DATA(c),
                                              cnp.PyArray_SIZE(c), V)
    if bad >= 0:
        raise ValueError("%s holds the row id %d, outside [0, %d) (the rows of the "
                         "embedding matrix)" % (name, c.reshape(-1)[bad], V))
    return c


def rows_mean(W, ids):
    """h (B, H) with h[b] = (W[ids[b, 0]] + ... + W[ids[b, C-1]]) * (1/C)
    (in W's dtype, left to right), for ids (B, C), C >= 1."""
    cdef int t = _float_kind(W, "W", False)
    if cnp.PyArray_NDIM(<cnp.ndarray>W) != 2:
        raise ValueError("W must be 2-D (V, H), got shape %s" % (W.shape,))
    cdef Py_ssize_t V = W.shape[0], H = W.shape[1]
    cdef cnp.ndarray ci = as_ids(ids, "ids", V, 2)
    cdef Py_ssize_t B = ci.shape[0], C = ci.shape[1]
    if C < 1:
        raise ValueError("ids must have at least one column (B, C), got shape %s"
                         % ((B, C),))
    cdef cnp.ndarray h = np.empty((B, H), dtype=W.dtype)
    cdef cnp.ndarray cW = W
    cdef double scale = 1.0 / C
    ts = release_gil_if(B * C * H >= NOGIL_MIN)
    fastnn_rows_mean(t == cnp.NPY_FLOAT, cnp.PyArray_DATA(cW), H,
                     <const int64_t*>cnp.PyArray_DATA(ci), B, C, scale, cnp.PyArray_DATA(h))
    retake_gil(ts)
    return h


def rows_dot(W, ids, h):
    """score (B, K) with score[b, k] = W[ids[b, k]] . h[b] (np.sum's pairwise
    tree over the products), for ids (B, K) and h (B, H) of W's dtype."""
    cdef int t = _float_kind(W, "W", False)
    if _float_kind(h, "h", False) != t:
        raise TypeError("h must have W's dtype %s, got %s" % (W.dtype, h.dtype))
    if W.ndim != 2:
        raise ValueError("W must be 2-D (V, H), got shape %s" % (W.shape,))
    cdef Py_ssize_t V = W.shape[0], H = W.shape[1]
    cdef cnp.ndarray ci = as_ids(ids, "ids", V, 2)
    cdef Py_ssize_t B = ci.shape[0], K = ci.shape[1]
    if h.shape != (B, H):
        raise ValueError("h must have shape %s (ids' rows, W's columns), got %s"
                         % ((B, H), h.shape))
    cdef cnp.ndarray out = np.empty((B, K), dtype=W.dtype)
    cdef cnp.ndarray cW = W, ch = h
    ts = release_gil_if(B * K * H >= NOGIL_MIN)
    fastnn_rows_dot(t == cnp.NPY_FLOAT, cnp.PyArray_DATA(cW), H,
                    <const int64_t*>cnp.PyArray_DATA(ci), B, K, cnp.PyArray_DATA(ch),
                    cnp.PyArray_DATA(out))
    retake_gil(ts)
    return out


cdef tuple _dedupe(cnp.ndarray ci):
    """(uniq, inv) of a C-contiguous int64 array already checked."""
    cdef Py_ssize_t n = cnp.PyArray_SIZE(ci)
    cdef cnp.ndarray uniq = np.empty(n, dtype=np.int64)
    cdef cnp.ndarray inv = np.empty(n, dtype=np.int64)
    cdef Py_ssize_t u
    ts = release_gil_if(n >= NOGIL_MIN)
    u = fastnn_dedupe(<const int64_t*>cnp.PyArray_DATA(ci), n,
                      <int64_t*>cnp.PyArray_DATA(uniq), <int64_t*>cnp.PyArray_DATA(inv))
    retake_gil(ts)
    if u < 0:
        raise MemoryError()
    return uniq[:u], inv


def dedupe(ids, Py_ssize_t V):
    """``(uniq, inv)``: the distinct ids of ``ids`` (any shape, ids in
    [0, V)) in order of first occurrence, and for each entry of ``ids``
    (flattened) its position in ``uniq``: ``uniq[inv] == ids.ravel()``."""
    a = np.asarray(ids)
    return _dedupe(as_ids(a.reshape(-1) if a.ndim != 1 else a, "ids", V, 1))


def rows_dot_backward(W, ids, h, d):
    """The backward pass of :func:`rows_dot` for d = dL/dscore (B, K):
    ``(uniq, rows, dh)``, ``rows[i]`` the sum of d[b, k]·h[b] over the
    entries with ids[b, k] == uniq[i], dh[b] = sum over k of d[b, k]·W[ids[b, k]]."""
    cdef int t = _float_kind(W, "W", False)
    if _float_kind(h, "h", False) != t or _float_kind(d, "d", False) != t:
        raise TypeError("h and d must have W's dtype %s, got %s and %s"
                        % (W.dtype, h.dtype, d.dtype))
    if W.ndim != 2:
        raise ValueError("W must be 2-D (V, H), got shape %s" % (W.shape,))
    cdef Py_ssize_t V = W.shape[0], H = W.shape[1]
    cdef cnp.ndarray ci = as_ids(ids, "ids", V, 2)
    cdef Py_ssize_t B = ci.shape[0], K = ci.shape[1]
    if h.shape != (B, H) or d.shape != (B, K):
        raise ValueError("h must have shape %s and d %s, got %s and %s"
                         % ((B, H), (B, K), h.shape, d.shape))
    uniq, inv = _dedupe(ci)
    cdef Py_ssize_t u = uniq.shape[0]
    cdef cnp.ndarray rows = np.empty((u, H), dtype=W.dtype)
    cdef cnp.ndarray dh = np.empty((B, H), dtype=W.dtype)
    cdef cnp.ndarray cW = W, ch = h, cd = d, cinv = inv
    ts = release_gil_if(B * K * H >= NOGIL_MIN)
    fastnn_rows_dot_backward(t == cnp.NPY_FLOAT, cnp.PyArray_DATA(cW), H,
                             <const int64_t*>cnp.PyArray_DATA(ci),
                             <const int64_t*>cnp.PyArray_DATA(cinv), B, K,
                             cnp.PyArray_DATA(ch), cnp.PyArray_DATA(cd),
                             cnp.PyArray_DATA(rows), u, cnp.PyArray_DATA(dh))
    retake_gil(ts)
    return uniq, rows, dh


def rows_mean_backward(dh, ids, Py_ssize_t V):
    """The backward pass of :func:`rows_mean` for dh (B, H), ids (B, C) in
    [0, V): ``(uniq, rows)``, ``rows[i]`` the sum of dh[b]·(1/C) over the
    entries with ids[b, c] == uniq[i]."""
    cdef int t = _float_kind(dh, "dh", False)
    if dh.ndim != 2:
        raise ValueError("dh must be 2-D (B, H), got shape %s" % (dh.shape,))
    cdef cnp.ndarray ci = as_ids(ids, "ids", V, 2)
    cdef Py_ssize_t B = ci.shape[0], C = ci.shape[1], H = dh.shape[1]
    if C < 1 or dh.shape[0] != B:
        raise ValueError("ids must be (B, C) with C >= 1 and B = dh's rows (%d), got %s"
                         % (dh.shape[0], (B, C)))
    uniq, inv = _dedupe(ci)
    cdef Py_ssize_t u = uniq.shape[0]
    cdef cnp.ndarray rows = np.empty((u, H), dtype=dh.dtype)
    cdef cnp.ndarray cdh = dh, cinv = inv
    cdef double scale = 1.0 / C
    ts = release_gil_if(B * C * H >= NOGIL_MIN)
    fastnn_rows_mean_backward(t == cnp.NPY_FLOAT, cnp.PyArray_DATA(cdh), H,
                              <const int64_t*>cnp.PyArray_DATA(cinv), B, C, scale,
                              cnp.PyArray_DATA(rows), u)
    retake_gil(ts)
    return uniq, rows


cdef struct LazyAdam:
    bint f32
    void* p
    void* m
    void* v
    Py_ssize_t H
    const int64_t* ids
    const void* g
    double lr_t, b1c, b2c, eps


cdef void _lazy_adam_range(void* ctx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """Rows [lo, hi) of the step: the ids are distinct, so no two ranges
    write one row."""
    cdef const LazyAdam* a = <const LazyAdam*>ctx
    if a.f32:
        fastnn_lazy_adam_f(<float*>a.p, <float*>a.m, <float*>a.v, a.H, a.ids,
                           <const float*>a.g, lo, hi, a.lr_t, <float>a.b1c, <float>a.b2c,
                           <float>a.eps)
    else:
        fastnn_lazy_adam_d(<double*>a.p, <double*>a.m, <double*>a.v, a.H, a.ids,
                           <const double*>a.g, lo, hi, a.lr_t, a.b1c, a.b2c, a.eps)


def lazy_adam_step(p, m, v, ids, rows, lr_t, beta1, beta2, eps=1e-7, check_distinct=True):
    """Adam on the rows ``ids`` of p, m, v (V, H) only, ``rows`` (len(ids), H)
    their gradient; ids distinct (checked unless ``check_distinct`` is false:
    a RowGrad's read-only ids are distinct by construction), in [0, V).  float32 arrays step with the
    float64 ``lr_t`` as the sequel's Adam (m and v in float32, the step in
    float64); float64 arrays in float64.  In place; returns None."""
    cdef int t = _float_kind(p, "p", True)
    if (_float_kind(m, "m", True) != t or _float_kind(v, "v", True) != t
            or _float_kind(rows, "rows", False) != t):
        raise TypeError("p, m, v and rows must share one dtype, got %s, %s, %s and %s"
                        % (p.dtype, m.dtype, v.dtype, rows.dtype))
    if p.ndim != 2 or m.shape != p.shape or v.shape != p.shape:
        raise ValueError("p, m and v must be 2-D of one shape, got %s, %s and %s"
                         % (p.shape, m.shape, v.shape))
    cdef Py_ssize_t V = p.shape[0], H = p.shape[1]
    cdef cnp.ndarray ci = as_ids(ids, "ids", V, 1)
    cdef Py_ssize_t u = ci.shape[0]
    if rows.shape != (u, H):
        raise ValueError("rows must have shape %s (one row per id), got %s"
                         % ((u, H), rows.shape))
    if _overlap((p, m, v, rows)):
        raise ValueError("p, m, v and rows must not overlap")
    if check_distinct and _dedupe(ci)[0].shape[0] != u:
        raise ValueError("ids must be distinct (a gradient's rows summed per id)")
    cdef cnp.ndarray cp = p, cm = m, cv = v, cg = rows
    cdef LazyAdam a
    a.f32 = t == cnp.NPY_FLOAT
    a.p, a.m, a.v = cnp.PyArray_DATA(cp), cnp.PyArray_DATA(cm), cnp.PyArray_DATA(cv)
    a.g = cnp.PyArray_DATA(cg)
    a.H = H
    a.ids = <const int64_t*>cnp.PyArray_DATA(ci)
    a.lr_t, a.b1c, a.b2c = float(lr_t), 1 - float(beta1), 1 - float(beta2)
    a.eps = float(eps)
    cdef Py_ssize_t grain = GRAIN_ELEMS // H if H > 0 else u
    if grain < 1:
        grain = 1
    ts = release_gil_if(u * H >= NOGIL_MIN)
    parallel_range(_lazy_adam_range, &a, u, grain, 1)
    retake_gil(ts)
    return None


cdef double _uniform(void* state) noexcept nogil:
    cdef bitgen_t* rng = <bitgen_t*>state
    return rng.next_double(rng.state)


def alias_sample(prob, alias, target, Py_ssize_t sample_size, rng, max_draws=1 << 24):
    """(B, sample_size) int64: for each target, ``sample_size`` distinct ids
    other than it, drawn from the alias table ``(prob, alias)`` (float64 and
    integer, (V,) each, as NumpyOps.alias_table gives) with the
    ``numpy.random.Generator`` ``rng`` (under its lock), by successive
    sampling without replacement: the book's distribution, not its stream.
    ValueError when a row finds no sample_size ids in ``max_draws`` draws."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator, got %s" % type(rng).__name__)
    cdef cnp.ndarray cp = np.ascontiguousarray(prob, dtype=np.float64)
    cdef Py_ssize_t V = cp.shape[0] if cp.ndim == 1 else -1
    if V <= 0:
        raise ValueError("prob must be a non-empty vector, got shape %s" % (np.shape(prob),))
    cdef cnp.ndarray ca = as_ids(alias, "alias", V, 1)
    if ca.shape[0] != V:
        raise ValueError("alias must have prob's length %d, got %d" % (V, ca.shape[0]))
    cdef cnp.ndarray ct = as_ids(target, "target", V, 1)
    if sample_size < 0 or sample_size >= V:
        raise ValueError("sample_size must be in [0, V-1=%d], got %d" % (V - 1, sample_size))
    cdef Py_ssize_t B = ct.shape[0], bad
    cdef int64_t cap = max_draws
    cdef cnp.ndarray out = np.empty((B, sample_size), dtype=np.int64)
    bitgen = rng.bit_generator
    capsule = bitgen.capsule
    if not PyCapsule_IsValid(capsule, "BitGenerator"):
        raise TypeError("rng's bit generator exposes no bitgen_t capsule")
    cdef bitgen_t* bg = <bitgen_t*>PyCapsule_GetPointer(capsule, "BitGenerator")
    with bitgen.lock, nogil:
        bad = fastnn_alias_sample(<const double*>cnp.PyArray_DATA(cp),
                                  <const int64_t*>cnp.PyArray_DATA(ca), V,
                                  <const int64_t*>cnp.PyArray_DATA(ct), B, sample_size,
                                  _uniform, bg, cap, <int64_t*>cnp.PyArray_DATA(out))
    if bad >= 0:
        raise ValueError("row %d of target: no %d distinct ids other than the target in %d "
                         "draws (too few words of nonzero probability)"
                         % (bad, sample_size, max_draws))
    return out
