# cython: language_level=3
"""Fused in-place optimizer updates: one pass over each parameter array.

Three levels:

* the element loops, in ``optim_simd.h`` (C, so that GCC can clone them for
  AVX2 and pick the clone at load time), one name per rule for both dtypes;
  the float32 loops get the Python-float hyperparameters rounded to float
  exactly as NumPy 2 rounds a Python scalar operand;
* ``_run_range``: one rule on a slice of one array (the rules' scalars);
* the drivers ``_update_all``, which updates every array of a ``params``
  dict in one call and one GIL release (per-array Python overhead dominates
  the book's small networks), and ``_run_one`` for one array (declared in
  ``optim.pxd``).

``optim_ops.pyx`` holds their callers: ``OptimOps``, the mixin of
:class:`fastnn.backends.CompiledOps` that the optimizer classes use, and the
checked ``fastnn.ops`` functions (``sgd_update`` ... ``adam_update``).
"""
from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.ref cimport PyObject

import numpy as np
cimport numpy as cnp
from fastnn._kernels._shared cimport (NOGIL_MIN, _disjoint, elem_at, is_f32, may_overlap,
                                      pool_threads, release_gil_if, retake_gil, run_parallel,
                                      threads_arg)


cnp.import_array()


cdef extern from "optim_simd.h" nogil:
    # In place on n elements; f32 picks the float or double loop (the one
    # float32/float64 dispatch, FASTNN_BY_DTYPE in fastnn_common.h), which
    # rounds the double scalars to float as NumPy 2 rounds a Python float.
    void fastnn_sgd(bint f32, void* p, const void* g, Py_ssize_t n, double lr)
    void fastnn_momentum(bint f32, void* p, const void* g, void* v, Py_ssize_t n,
                         double mu, double lr)
    void fastnn_nesterov(bint f32, void* p, const void* g, void* v, Py_ssize_t n,
                         double mu2, double c, double mu, double lr)
    void fastnn_adagrad(bint f32, void* p, const void* g, void* h, Py_ssize_t n,
                        double lr, double eps)
    void fastnn_rmsprop(bint f32, void* p, const void* g, void* h, Py_ssize_t n,
                        double rho, double c, double lr, double eps)
    void fastnn_adam(bint f32, void* p, const void* g, void* m, void* v, Py_ssize_t n,
                     double c1, double c2, double lr_t, double eps)


# -- one update over many arrays ----------------------------------------------
# The rules' KIND_* numbers are declared in optim.pxd.

_N_STATE = (0, 1, 1, 1, 1, 2)

cdef enum:
    # Arrays collected before one GIL release; more are handled in batches.
    ENTRY_BUF = 64
    # Threads only pay on large arrays (see bench/README.md, "Threads");
    # chunks keep every piece contiguous and vector-aligned.
    PAR_MIN = 32768
    CHUNK = 16384

PARALLEL_MIN_SIZE = PAR_MIN

ctypedef struct Entry:
    void* p
    void* g
    void* s1
    void* s2
    Py_ssize_t n
    bint f32


cdef void _run_range(int kind, Entry* e, Py_ssize_t start, Py_ssize_t stop,
                     double a, double b, double c, double d) noexcept nogil:
    """Elements [start, stop) of one entry.  Compound scalars ((1+mu)*lr,
    1-beta1, ...) are formed in double, as the reference's Python expressions
    form them, and only then rounded (by the call, for float32)."""
    cdef Py_ssize_t n = stop - start
    cdef void* p = elem_at(e.p, start, e.f32)
    cdef void* g = elem_at(e.g, start, e.f32)
    cdef void* s1 = elem_at(e.s1, start, e.f32)   # NULL for the states a rule does not have
    cdef void* s2 = elem_at(e.s2, start, e.f32)
    if kind == KIND_SGD:
        fastnn_sgd(e.f32, p, g, n, a)
    elif kind == KIND_MOMENTUM:
        fastnn_momentum(e.f32, p, g, s1, n, b, a)
    elif kind == KIND_NESTEROV:
        fastnn_nesterov(e.f32, p, g, s1, n, b * b, (1.0 + b) * a, b, a)
    elif kind == KIND_ADAGRAD:
        fastnn_adagrad(e.f32, p, g, s1, n, a, b)
    elif kind == KIND_RMSPROP:
        fastnn_rmsprop(e.f32, p, g, s1, n, b, 1.0 - b, a, c)
    else:
        fastnn_adam(e.f32, p, g, s1, s2, n, 1.0 - b, 1.0 - c, a, d)


cdef struct Split:
    # one entry's update, in CHUNK-element pieces over the thread pool
    int kind
    Entry* e
    double a, b, c, d


cdef void _chunk(void* ctx, Py_ssize_t j, int slot) noexcept nogil:
    cdef Split* s = <Split*>ctx
    _run_range(s.kind, s.e, j * CHUNK, min(s.e.n, (j + 1) * CHUNK), s.a, s.b, s.c, s.d)


cdef void _run_entries(int kind, Entry* es, int count, double a, double b, double c,
                       double d, int nthreads) noexcept nogil:
    cdef int k
    cdef Py_ssize_t n
    cdef Split s
    for k in range(count):
        n = es[k].n
        if nthreads > 1 and n >= PAR_MIN:
            s.kind, s.e, s.a, s.b, s.c, s.d = kind, &es[k], a, b, c, d
            run_parallel(_chunk, &s, (n + CHUNK - 1) // CHUNK, nthreads, n * 8 + kind)
        else:
            _run_range(kind, &es[k], 0, n, a, b, c, d)


cdef inline int _kernel_typenum(object a):
    """NPY_FLOAT/NPY_DOUBLE for an exact, native, aligned, writeable C-contiguous
    float array; -1 otherwise."""
    if not cnp.PyArray_CheckExact(a):
        return -1
    cdef cnp.ndarray arr = <cnp.ndarray>a
    cdef int t = cnp.PyArray_TYPE(arr)
    if (t != cnp.NPY_DOUBLE and t != cnp.NPY_FLOAT) or not cnp.PyArray_ISCARRAY(arr):
        return -1
    return t


cdef inline bint _same_kind(object a, int typenum, cnp.ndarray p):
    """``a`` is an exact ndarray of ``p``'s dtype (native order) and shape."""
    if not cnp.PyArray_CheckExact(a):
        return False
    cdef cnp.ndarray arr = <cnp.ndarray>a
    return (cnp.PyArray_TYPE(arr) == typenum and cnp.PyArray_ISNOTSWAPPED(arr)
            and cnp.PyArray_SAMESHAPE(arr, p))


cdef object _state_array(object store, object key, cnp.ndarray p, int typenum):
    """The state array for ``key`` if a kernel can update it (created as zeros
    when missing, as the reference creates it), else None."""
    cdef PyObject* found
    if type(store) is dict:
        found = PyDict_GetItem(store, key)
        if found == NULL:
            s = np.zeros_like(p)
            PyDict_SetItem(store, key, s)
            return s
        s = <object>found
    elif key in store:
        s = store[key]
    else:
        s = np.zeros_like(p)
        store[key] = s
        return s
    if (_kernel_typenum(s) == typenum and cnp.PyArray_SAMESHAPE(<cnp.ndarray>s, p)
            and _disjoint(<cnp.ndarray>s, p)):
        return s
    return None


cdef bint _grad_aliases(int kind, cnp.ndarray g, cnp.ndarray p, s1, s2):
    """The gradient shares memory with what the update writes, in a way where
    the reference's statement order matters: it then runs instead.  ``g is p``
    is fine for every rule but Nesterov (whose second statement reads the
    parameter its first one changed)."""
    if g is p:
        return kind == KIND_NESTEROV
    return (may_overlap(g, p) or (s1 is not None and may_overlap(g, <cnp.ndarray>s1))
            or (s2 is not None and may_overlap(g, <cnp.ndarray>s2)))


cdef _update_all(int kind, params, grads, keys, state1, state2, double a, double b,
                 double c, double d, bint allow_f32, bint allow_f64, list skipped):
    """Update ``params[key]`` in place with rule ``kind`` for every key of
    ``keys`` (of ``params`` when None) the kernels take, in one call.

    Hyperparameters by rule: SGD (lr), MOMENTUM/NESTEROV (lr, momentum),
    ADAGRAD (lr, eps), RMSPROP (lr, decay_rate, eps), ADAM (lr_t, beta1,
    beta2, eps).  ``state1``/``state2`` are the per-key state dicts (None
    when the rule has fewer); missing states are created as zeros.

    A key whose arrays a kernel cannot update (not a native C-contiguous
    writeable float array, a gradient of another dtype or shape or sharing
    memory with what the update writes, a state of another layout, dtype not
    allowed by ``allow_f32``/``allow_f64``) is appended to ``skipped``, for
    the caller to hand to NumpyOps: no call back into Python from this loop.
    A gradient of another layout is copied once.

    Arrays large enough to be split (PAR_MIN) go over the thread pool.
    """
    cdef Entry entries[ENTRY_BUF]
    cdef int count = 0
    cdef int num_threads = 0
    cdef Py_ssize_t total = 0
    cdef int typenum, nstate = _N_STATE[kind]
    cdef cnp.ndarray p, g, s1, s2
    cdef list keep = None
    try:
        for key in (params.keys() if keys is None else keys):
            obj_p = params[key]
            obj_g = grads[key]
            typenum = _kernel_typenum(obj_p)
            if typenum == cnp.NPY_FLOAT and not allow_f32:
                typenum = -1
            elif typenum == cnp.NPY_DOUBLE and not allow_f64:
                typenum = -1
            if typenum >= 0 and not _same_kind(obj_g, typenum, <cnp.ndarray>obj_p):
                typenum = -1
            s1 = s2 = None
            if typenum >= 0 and nstate >= 1:
                p = <cnp.ndarray>obj_p
                s1 = _state_array(state1, key, p, typenum)
                if s1 is None:
                    typenum = -1
                elif nstate == 2:
                    s2 = _state_array(state2, key, p, typenum)
                    if s2 is None or not _disjoint(s1, s2):
                        typenum = -1
            if typenum >= 0 and _grad_aliases(kind, <cnp.ndarray>obj_g, <cnp.ndarray>obj_p,
                                              s1, s2):
                typenum = -1
            if typenum < 0:
                skipped.append(key)
                continue
            p = <cnp.ndarray>obj_p
            g = <cnp.ndarray>obj_g
            if not cnp.PyArray_ISCARRAY_RO(g):
                g = g.copy()
                if keep is None:
                    keep = []
                keep.append(g)
            entries[count].p = cnp.PyArray_DATA(p)
            entries[count].g = cnp.PyArray_DATA(g)
            entries[count].s1 = cnp.PyArray_DATA(s1) if s1 is not None else NULL
            entries[count].s2 = cnp.PyArray_DATA(s2) if s2 is not None else NULL
            entries[count].n = cnp.PyArray_SIZE(p)
            entries[count].f32 = typenum == cnp.NPY_FLOAT
            if num_threads == 0 and entries[count].n >= PAR_MIN:
                num_threads = pool_threads()
            total += entries[count].n
            count += 1
            if count == ENTRY_BUF:
                ts = release_gil_if(total >= NOGIL_MIN)
                _run_entries(kind, entries, count, a, b, c, d, num_threads)
                retake_gil(ts)
                count = 0
                total = 0
    finally:
        # Also on an error (a missing gradient key): earlier keys are updated,
        # as the reference's loop would have updated them.
        if count:
            ts = release_gil_if(total >= NOGIL_MIN)
            _run_entries(kind, entries, count, a, b, c, d, num_threads)
            retake_gil(ts)


# -- one array (the checked fastnn.ops functions) -----------------------------

cdef _run_one(int kind, cnp.ndarray p, cnp.ndarray g, s1, s2, double a, double b,
              double c, double d, num_threads):
    cdef Entry e
    cdef int nthreads = threads_arg(num_threads)
    e.p = cnp.PyArray_DATA(p)
    e.g = cnp.PyArray_DATA(g)
    e.s1 = cnp.PyArray_DATA(<cnp.ndarray>s1) if s1 is not None else NULL
    e.s2 = cnp.PyArray_DATA(<cnp.ndarray>s2) if s2 is not None else NULL
    e.n = cnp.PyArray_SIZE(p)
    e.f32 = is_f32(p)
    ts = release_gil_if(e.n >= NOGIL_MIN)
    _run_entries(kind, &e, 1, a, b, c, d, nthreads)
    retake_gil(ts)
