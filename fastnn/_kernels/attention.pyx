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
                  Py_ssize_t Td, Py_ssize_t H, real* s) noexcept nogil:
    """s[k, n, t] = np.sum(hs[n, t] * hd[n, k]) for every decoder step k."""
    cdef Py_ssize_t k, n, t
    for k in range(Td):
        for n in range(N):
            for t in range(T):
                s[(k * N + n) * T + t] = _dot(hs + (n * T + t) * H, hd + (n * Td + k) * H, H)


cdef void _weight_sums(const real* hs, const real* a, Py_ssize_t N, Py_ssize_t T,
                       Py_ssize_t Td, Py_ssize_t H, real* out) noexcept nogil:
    """out[n, k] = Σ_t hs[n, t]·a[k, n, t], t in order from +0 (np.sum(axis=1))."""
    cdef Py_ssize_t k, n, t, j
    cdef real w
    cdef real* o
    for n in range(N):
        for k in range(Td):
            o = out + (n * Td + k) * H
            for j in range(H):
                o[j] = 0
            for t in range(T):
                w = a[(k * N + n) * T + t]
                for j in range(H):
                    o[j] = o[j] + hs[(n * T + t) * H + j] * w


cdef void _da(const real* hs, const real* dout, Py_ssize_t N, Py_ssize_t T,
              Py_ssize_t Td, Py_ssize_t H, real* da) noexcept nogil:
    """da[k, n, t] = np.sum(dc * hs[n, t]) with dc = dout[n, k] (WeightSum's)."""
    cdef Py_ssize_t k, n, t
    for k in range(Td):
        for n in range(N):
            for t in range(T):
                da[(k * N + n) * T + t] = _dot(dout + (n * Td + k) * H, hs + (n * T + t) * H, H)


cdef void _accumulate(const real* hs, const real* hd, const real* a, const real* ds,
                      const real* dout, Py_ssize_t N, Py_ssize_t T, Py_ssize_t Td,
                      Py_ssize_t H, real* dhs, real* dhd) noexcept nogil:
    """Step by step: dhs += (dc·a) + (ds·h) (the book's dhs0 + dhs1), and
    dhd[n, k] = Σ_t ds·hs[n, t] from +0 (AttentionWeight's dh)."""
    cdef Py_ssize_t k, n, t, j
    cdef real w, d, p0, p1
    cdef const real* dc
    cdef const real* h
    cdef real* g
    cdef real* dh
    for j in range(N * T * H):
        dhs[j] = 0
    for k in range(Td):
        for n in range(N):
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


def _ok(*arrays):
    first = arrays[0]
    for a in arrays:
        if (type(a) is not np.ndarray or a.dtype != first.dtype
                or a.dtype not in (np.float32, np.float64) or not a.dtype.isnative):
            return False
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
        cdef cnp.ndarray chs = hs, chd = hd, cs = s, cout = out, ca
        if hs.dtype == np.float32:
            with nogil:
                _scores(<const float*>cnp.PyArray_DATA(chs), <const float*>cnp.PyArray_DATA(chd),
                        N, T, Td, H, <float*>cnp.PyArray_DATA(cs))
        else:
            with nogil:
                _scores(<const double*>cnp.PyArray_DATA(chs), <const double*>cnp.PyArray_DATA(chd),
                        N, T, Td, H, <double*>cnp.PyArray_DATA(cs))
        a = np.ascontiguousarray(self.softmax_forward(s.reshape(Td * N, T))).reshape(Td, N, T)
        ca = a
        if hs.dtype == np.float32:
            with nogil:
                _weight_sums(<const float*>cnp.PyArray_DATA(chs), <const float*>cnp.PyArray_DATA(ca),
                             N, T, Td, H, <float*>cnp.PyArray_DATA(cout))
        else:
            with nogil:
                _weight_sums(<const double*>cnp.PyArray_DATA(chs), <const double*>cnp.PyArray_DATA(ca),
                             N, T, Td, H, <double*>cnp.PyArray_DATA(cout))
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
        cdef cnp.ndarray chs = hs, chd = hd, ca = a, cdo = dout, cda = da, cdhs = dhs
        cdef cnp.ndarray cdhd = dhd, cds
        if hs.dtype == np.float32:
            with nogil:
                _da(<const float*>cnp.PyArray_DATA(chs), <const float*>cnp.PyArray_DATA(cdo),
                    N, T, Td, H, <float*>cnp.PyArray_DATA(cda))
        else:
            with nogil:
                _da(<const double*>cnp.PyArray_DATA(chs), <const double*>cnp.PyArray_DATA(cdo),
                    N, T, Td, H, <double*>cnp.PyArray_DATA(cda))
        ds = np.ascontiguousarray(
            self.softmax_backward(da.reshape(Td * N, T), a.reshape(Td * N, T))).reshape(Td, N, T)
        cds = ds
        if hs.dtype == np.float32:
            with nogil:
                _accumulate(<const float*>cnp.PyArray_DATA(chs), <const float*>cnp.PyArray_DATA(chd),
                            <const float*>cnp.PyArray_DATA(ca), <const float*>cnp.PyArray_DATA(cds),
                            <const float*>cnp.PyArray_DATA(cdo), N, T, Td, H,
                            <float*>cnp.PyArray_DATA(cdhs), <float*>cnp.PyArray_DATA(cdhd))
        else:
            with nogil:
                _accumulate(<const double*>cnp.PyArray_DATA(chs), <const double*>cnp.PyArray_DATA(chd),
                            <const double*>cnp.PyArray_DATA(ca), <const double*>cnp.PyArray_DATA(cds),
                            <const double*>cnp.PyArray_DATA(cdo), N, T, Td, H,
                            <double*>cnp.PyArray_DATA(cdhs), <double*>cnp.PyArray_DATA(cdhd))
        return dhs, dhd
