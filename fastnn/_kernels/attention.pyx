# cython: language_level=3
"""Attention's kernels (the sequel's chapter 8), over a whole decoder
sequence at once, with the book's numbers bit for bit.

The book's ``TimeAttention`` makes one ``Attention`` a decoder step; each
step reads the encoder states ``hs`` (N, T, H) to form ``hs * h`` and
``hs * a``, whole (N, T, H) temporaries, and sums them.  Here each step's
sums are formed as the products are made, in NumPy's order:

* ``np.sum(hs * h, axis=2)`` and ``np.sum(dc * hs, axis=2)``: the
  pairwise sum of each contiguous row of products (pairwise.h);
* ``np.sum(hs * a, axis=1)`` and ``np.sum(ds * hs, axis=1)``: a sum over
  the middle axis, which NumPy adds row after row from +0 (checked in
  tests/test_nlp_attention.py; with H = 1 NumPy sums that axis pairwise,
  so such inputs go to NumpyOps);
* ``dhs_enc``: the book adds each step's ``dhs0 + dhs1`` to it in step
  order, starting from the integer 0; so does the backward kernel.

The softmax between scores and weights is the ops' own (``softmax_forward``
/ ``softmax_backward`` over all steps' rows at once: row by row, the same
numbers), so NumPy's exp is the exp.
"""
import numpy as np
cimport numpy as cnp

from fastnn._kernels.parallel cimport parallel_range

cnp.import_array()


cdef extern from "pairwise.h" nogil:
    double fastnn_pairwise_dot_d(const double* a, const double* b, Py_ssize_t n)
    float fastnn_pairwise_dot_f(const float* a, const float* b, Py_ssize_t n)


ctypedef fused real:
    float
    double


cdef inline real _dot(const real* a, const real* b, Py_ssize_t n) noexcept nogil:
    if real is float:
        return fastnn_pairwise_dot_f(a, b, n)
    else:
        return fastnn_pairwise_dot_d(a, b, n)


cdef void _scores(const real* hs, const real* hd, Py_ssize_t N, Py_ssize_t T,
                  Py_ssize_t Td, Py_ssize_t H, real* s, Py_ssize_t n0,
                  Py_ssize_t n1) noexcept nogil:
    """s[k, n, t] = np.sum(hs[n, t] * hd[n, k]) for every decoder step k
    (rows n0 <= n < n1)."""
    cdef Py_ssize_t k, n, t
    for n in range(n0, n1):
        for k in range(Td):
            for t in range(T):
                s[(k * N + n) * T + t] = _dot(hs + (n * T + t) * H, hd + (n * Td + k) * H, H)


cdef void _weight_sums(const real* hs, const real* a, Py_ssize_t N, Py_ssize_t T,
                       Py_ssize_t Td, Py_ssize_t H, real* out, Py_ssize_t n0,
                       Py_ssize_t n1) noexcept nogil:
    """out[n, k] = Σ_t hs[n, t]·a[k, n, t], t in order from +0 (np.sum(axis=1))."""
    cdef Py_ssize_t k, n, t, j
    cdef real w
    cdef real* o
    for n in range(n0, n1):
        for k in range(Td):
            o = out + (n * Td + k) * H
            for j in range(H):
                o[j] = 0
            for t in range(T):
                w = a[(k * N + n) * T + t]
                for j in range(H):
                    o[j] = o[j] + hs[(n * T + t) * H + j] * w


cdef void _da(const real* hs, const real* dout, Py_ssize_t N, Py_ssize_t T,
              Py_ssize_t Td, Py_ssize_t H, real* da, Py_ssize_t n0, Py_ssize_t n1) noexcept nogil:
    """da[k, n, t] = np.sum(dc * hs[n, t]) with dc = dout[n, k] (WeightSum's)."""
    cdef Py_ssize_t k, n, t
    for n in range(n0, n1):
        for k in range(Td):
            for t in range(T):
                da[(k * N + n) * T + t] = _dot(dout + (n * Td + k) * H, hs + (n * T + t) * H, H)


cdef void _accumulate(const real* hs, const real* hd, const real* a, const real* ds,
                      const real* dout, Py_ssize_t N, Py_ssize_t T, Py_ssize_t Td,
                      Py_ssize_t H, real* dhs, real* dhd, Py_ssize_t n0,
                      Py_ssize_t n1) noexcept nogil:
    """Step by step: dhs += (dc·a) + (ds·h) (the book's dhs0 + dhs1), and
    dhd[n, k] = Σ_t ds·hs[n, t] from +0 (AttentionWeight's dh).  Rows
    n0 <= n < n1, each row's steps k in the book's order."""
    cdef Py_ssize_t k, n, t, j
    cdef real w, d, p0, p1
    cdef const real* dc
    cdef const real* h
    cdef real* g
    cdef real* dh
    for j in range(n0 * T * H, n1 * T * H):
        dhs[j] = 0
    for n in range(n0, n1):
        for k in range(Td):
            dc = dout + (n * Td + k) * H
            h = hd + (n * Td + k) * H
            dh = dhd + (n * Td + k) * H
            for j in range(H):
                dh[j] = 0
            for t in range(T):
                w = a[(k * N + n) * T + t]
                d = ds[(k * N + n) * T + t]
                g = dhs + (n * T + t) * H
                for j in range(H):
                    p0 = dc[j] * w
                    p1 = d * h[j]
                    p0 = p0 + p1
                    g[j] = g[j] + p0
                    p1 = d * hs[(n * T + t) * H + j]
                    dh[j] = dh[j] + p1


cdef enum:
    SCORES, WEIGHT_SUMS, DA, ACCUMULATE


cdef struct Job:
    int what
    bint f32
    const void* hs
    const void* hd
    const void* a
    const void* ds
    const void* dout
    void* out
    void* out2
    Py_ssize_t N, T, Td, H


cdef void _rows(void* ctx, Py_ssize_t n0, Py_ssize_t n1) noexcept nogil:
    cdef Job* j = <Job*>ctx
    if j.f32:
        _rows_t(j, n0, n1, <float>0)
    else:
        _rows_t(j, n0, n1, <double>0)


cdef inline void _rows_t(Job* j, Py_ssize_t n0, Py_ssize_t n1, real kind) noexcept nogil:
    if j.what == SCORES:
        _scores(<const real*>j.hs, <const real*>j.hd, j.N, j.T, j.Td, j.H, <real*>j.out, n0, n1)
    elif j.what == WEIGHT_SUMS:
        _weight_sums(<const real*>j.hs, <const real*>j.a, j.N, j.T, j.Td, j.H, <real*>j.out,
                     n0, n1)
    elif j.what == DA:
        _da(<const real*>j.hs, <const real*>j.dout, j.N, j.T, j.Td, j.H, <real*>j.out, n0, n1)
    else:
        _accumulate(<const real*>j.hs, <const real*>j.hd, <const real*>j.a,
                    <const real*>j.ds, <const real*>j.dout, j.N, j.T, j.Td, j.H,
                    <real*>j.out, <real*>j.out2, n0, n1)


cdef enum:
    # multiply-adds a piece (a row makes T·Td·H of them in each pass)
    ROW_GRAIN = 1 << 16


cdef void _run(Job* j, int what) noexcept nogil:
    """One of the four passes over the batch rows, split over the pool (each
    row's numbers are made by one thread, in the same order: the same bits
    on any thread count)."""
    j.what = what
    parallel_range(_rows, j, j.N, max(1, ROW_GRAIN // max(1, j.T * j.Td * j.H)), 1)


cdef Job _job(cnp.ndarray hs, cnp.ndarray hd, Py_ssize_t N, Py_ssize_t T, Py_ssize_t Td,
              Py_ssize_t H):
    cdef Job j
    j.f32 = hs.dtype == np.float32
    j.hs, j.hd = cnp.PyArray_DATA(hs), cnp.PyArray_DATA(hd)
    j.a = j.ds = j.dout = NULL
    j.out = j.out2 = NULL
    j.N, j.T, j.Td, j.H = N, T, Td, H
    return j


def _ok(*arrays):
    first = arrays[0]
    for a in arrays:
        if (type(a) is not np.ndarray or a.dtype != first.dtype
                or a.dtype not in (np.float32, np.float64) or not a.dtype.isnative
                or not _c_ordered(a)):
            return False
    return True


def _c_ordered(a):
    """Whether ``a``'s axes of more than one element lie in C order in
    memory (their strides' sizes strictly falling).  The book's products
    (``hs * h``, ``hs * a``) take the memory order of their operands, and
    NumPy's sums run in that order: an ``hs`` in Fortran or a transposed
    order is summed otherwise than the kernels sum (NumpyOps takes it)."""
    cdef Py_ssize_t last = -1, s, i
    for i in range(a.ndim):
        if a.shape[i] > 1:
            s = abs(a.strides[i])
            if s == 0 or (last >= 0 and s >= last):
                return False
            last = s
    return True


class AttentionOps:
    """CompiledOps's overrides of the time-attention ops (see the module doc)."""

    def time_attention_forward(self, hs, hd):
        if (not _ok(hs, hd) or hs.ndim != 3 or hd.ndim != 3 or hs.shape[0] != hd.shape[0]
                or hs.shape[2] != hd.shape[2] or hs.shape[2] < 2):
            return super().time_attention_forward(hs, hd)
        cdef Py_ssize_t N = hs.shape[0], T = hs.shape[1], Td = hd.shape[1], H = hs.shape[2]
        hs = np.ascontiguousarray(hs)
        hd = np.ascontiguousarray(hd)
        s = np.empty((Td, N, T), dtype=hs.dtype)
        out = np.empty((N, Td, H), dtype=hs.dtype)
        cdef Job j = _job(hs, hd, N, T, Td, H)
        j.out = cnp.PyArray_DATA(<cnp.ndarray>s)
        with nogil:
            _run(&j, SCORES)
        a = np.ascontiguousarray(self.softmax_forward(s.reshape(Td * N, T))).reshape(Td, N, T)
        j.a, j.out = cnp.PyArray_DATA(<cnp.ndarray>a), cnp.PyArray_DATA(<cnp.ndarray>out)
        with nogil:
            _run(&j, WEIGHT_SUMS)
        return out, a

    def time_attention_backward(self, hs, hd, a, dout):
        if (not _ok(hs, hd, a, dout) or hs.ndim != 3 or hd.ndim != 3 or dout.shape != hd.shape
                or hs.shape[0] != hd.shape[0] or hs.shape[2] != hd.shape[2] or hs.shape[2] < 2
                or a.shape != (hd.shape[1], hs.shape[0], hs.shape[1])):
            return super().time_attention_backward(hs, hd, a, dout)
        cdef Py_ssize_t N = hs.shape[0], T = hs.shape[1], Td = hd.shape[1], H = hs.shape[2]
        hs = np.ascontiguousarray(hs)
        hd = np.ascontiguousarray(hd)
        a = np.ascontiguousarray(a)
        dout = np.ascontiguousarray(dout)
        da = np.empty((Td, N, T), dtype=hs.dtype)
        dhs = np.empty((N, T, H), dtype=hs.dtype)
        dhd = np.empty((N, Td, H), dtype=hs.dtype)
        cdef Job j = _job(hs, hd, N, T, Td, H)
        j.dout, j.out = cnp.PyArray_DATA(<cnp.ndarray>dout), cnp.PyArray_DATA(<cnp.ndarray>da)
        with nogil:
            _run(&j, DA)
        ds = np.ascontiguousarray(
            self.softmax_backward(da.reshape(Td * N, T), a.reshape(Td * N, T))).reshape(Td, N, T)
        j.a, j.ds = cnp.PyArray_DATA(<cnp.ndarray>a), cnp.PyArray_DATA(<cnp.ndarray>ds)
        j.out, j.out2 = cnp.PyArray_DATA(<cnp.ndarray>dhs), cnp.PyArray_DATA(<cnp.ndarray>dhd)
        with nogil:
            _run(&j, ACCUMULATE)
        return dhs, dhd
