# cython: language_level=3
"""Winograd's minimal filtering F(2x2, 3x3) for 3x3 stride-1 convolutions:
the forward pass, the input gradient (the same algorithm on dout with the
filters transposed and rotated) and the weight gradient (the algorithm run
backwards), over the transforms of ``winograd_simd.h`` and 16 GEMMs per
chunk of samples (SciPy's BLAS, through ``affine.gemm_rm``).

``ConvOps`` (``conv.pyx``) runs float32 convolutions with at least 8 input
channels here; float64 keeps im2col's direct sums.  Kernels of trusted
shapes on C-contiguous fused-type memoryviews, ``nogil``, scratch from the
caller (sized by :func:`wino_sizes`, checked).
"""
from cython cimport floating
from libc.string cimport memset

from fastnn._kernels.affine cimport gemm_rm


cdef extern from "sum_simd.h" nogil:
    double fastnn_sum8_d(const double* a, Py_ssize_t n)
    float fastnn_sum8_f(const float* a, Py_ssize_t n)

cdef extern from "winograd_simd.h" nogil:
    void fastnn_wino_filter_d(const double* w, Py_ssize_t FN, Py_ssize_t C, int flip, double* U)
    void fastnn_wino_filter_f(const float* w, Py_ssize_t FN, Py_ssize_t C, int flip, float* U)
    void fastnn_wino_pad_d(const double* x, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                           Py_ssize_t pad, Py_ssize_t HP, Py_ssize_t WP, double* xp)
    void fastnn_wino_pad_f(const float* x, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                           Py_ssize_t pad, Py_ssize_t HP, Py_ssize_t WP, float* xp)
    void fastnn_wino_input_d(const double* xp, Py_ssize_t C, Py_ssize_t HP, Py_ssize_t WP,
                             Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t S, Py_ssize_t ldv,
                             double* V)
    void fastnn_wino_input_f(const float* xp, Py_ssize_t C, Py_ssize_t HP, Py_ssize_t WP,
                             Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t S, Py_ssize_t ldv,
                             float* V)
    void fastnn_wino_output_d(const double* M, Py_ssize_t FN, Py_ssize_t TH, Py_ssize_t TW,
                              Py_ssize_t S, Py_ssize_t ldm, const double* bias,
                              Py_ssize_t OH, Py_ssize_t OW, double* out)
    void fastnn_wino_output_f(const float* M, Py_ssize_t FN, Py_ssize_t TH, Py_ssize_t TW,
                              Py_ssize_t S, Py_ssize_t ldm, const float* bias,
                              Py_ssize_t OH, Py_ssize_t OW, float* out)
    void fastnn_wino_dout_d(const double* dout, Py_ssize_t FN, Py_ssize_t OH, Py_ssize_t OW,
                            Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t S, Py_ssize_t ldq,
                            double* Q)
    void fastnn_wino_dout_f(const float* dout, Py_ssize_t FN, Py_ssize_t OH, Py_ssize_t OW,
                            Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t S, Py_ssize_t ldq,
                            float* Q)
    void fastnn_wino_filter_grad_d(const double* dU, Py_ssize_t FN, Py_ssize_t C, double* dw)
    void fastnn_wino_filter_grad_f(const float* dU, Py_ssize_t FN, Py_ssize_t C, float* dw)

# Bytes of V and M (the transformed input and the GEMMs' output) per chunk
# of samples: a chunk stays in the cache between its three passes.
DEF WINO_CHUNK_BYTES = 1 << 20


cdef inline Py_ssize_t _plane(Py_ssize_t n) noexcept nogil:
    # Distance between two of the 16 planes of V or M: n rounded up to 16
    # entries, plus 16, so that the 16 streams a transform reads or writes
    # do not all fall in one cache set (a power-of-two distance -- DeepConvNet
    # has two -- made the transforms 4x slower).
    return (n + 15) // 16 * 16 + 16


# -- Winograd F(2x2, 3x3) (winograd_simd.h) ------------------------------------------

cdef Py_ssize_t _wino_entries(Py_ssize_t C, Py_ssize_t FN, Py_ssize_t OH, Py_ssize_t OW,
                              Py_ssize_t nb) noexcept:
    # U, one padded sample, and V and M for chunks of nb samples
    cdef Py_ssize_t TH = (OH + 1) // 2, TW = (OW + 1) // 2
    return (16 * FN * C + C * (2 * TH + 2) * (2 * TW + 2)
            + 16 * (_plane(C * TH * TW * nb) + _plane(FN * TH * TW * nb)))


def wino_sizes(Py_ssize_t N, Py_ssize_t C, Py_ssize_t FN, Py_ssize_t OH, Py_ssize_t OW,
               Py_ssize_t itemsize):
    """(samples per chunk, scratch entries) of :func:`wino_conv`."""
    cdef Py_ssize_t per = 16 * (C + FN) * ((OH + 1) // 2) * ((OW + 1) // 2) * itemsize
    cdef Py_ssize_t nb = max(1, min(N, WINO_CHUNK_BYTES // max(per, 1)))
    return nb, _wino_entries(C, FN, OH, OW, nb)


def wino_conv(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] w, b,
              Py_ssize_t pad, bint flip, floating[:, :, :, ::1] out,
              floating[::1] scratch, Py_ssize_t nb):
    """out = x convolved with the 3x3 filters w (stride 1, zero padding pad)
    plus b (None: no bias), by Winograd's F(2x2, 3x3).

    Without flip, w is (FN, C, 3, 3) and x (N, C, H, W), as in the forward
    pass.  With flip the filters are w's transposed and rotated 180 degrees
    (w still (FN, C, 3, 3), x now (N, FN, H, W), out (N, C, ...)): the
    input gradient of a stride-1 convolution with padding 2 - pad.  scratch
    and nb come from :func:`wino_sizes`.  Trusted shapes, C-contiguous.
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t FN = out.shape[1], OH = out.shape[2], OW = out.shape[3]
    cdef Py_ssize_t TH = (OH + 1) // 2, TW = (OW + 1) // 2, per = TH * TW
    cdef Py_ssize_t HP = 2 * TH + 2, WP = 2 * TW + 2, n0, i, cnt, Tc, xi, SV, SM
    cdef const floating* bias = NULL
    cdef const floating[::1] bv
    cdef floating* U = &scratch[0]
    cdef floating* xp = U + 16 * FN * C
    cdef floating* V = xp + C * HP * WP
    cdef floating* M
    if b is not None:
        bv = b
        bias = &bv[0]
    if N * FN * OH * OW == 0:
        return
    if nb < 1 or scratch.shape[0] < _wino_entries(C, FN, OH, OW, nb):
        raise ValueError("scratch holds %d entries, too few for chunks of %d samples"
                         % (scratch.shape[0], nb))
    with nogil:
        if floating is float:
            fastnn_wino_filter_f(&w[0, 0, 0, 0], FN, C, flip, U)
        else:
            fastnn_wino_filter_d(&w[0, 0, 0, 0], FN, C, flip, U)
        n0 = 0
        while n0 < N:
            cnt = min(nb, N - n0)
            Tc = cnt * per
            SV = _plane(C * Tc)
            SM = _plane(FN * Tc)
            M = V + 16 * SV
            for i in range(cnt):
                if floating is float:
                    fastnn_wino_pad_f(&x[n0 + i, 0, 0, 0], C, H, W, pad, HP, WP, xp)
                    fastnn_wino_input_f(xp, C, HP, WP, TH, TW, SV, Tc, V + i * per)
                else:
                    fastnn_wino_pad_d(&x[n0 + i, 0, 0, 0], C, H, W, pad, HP, WP, xp)
                    fastnn_wino_input_d(xp, C, HP, WP, TH, TW, SV, Tc, V + i * per)
            for xi in range(16):
                gemm_rm(c'N', c'N', <int>FN, <int>Tc, <int>C, <floating>1, U + xi * FN * C,
                        <int>C, V + xi * SV, <int>Tc, <floating>0, M + xi * SM, <int>Tc)
            for i in range(cnt):
                if floating is float:
                    fastnn_wino_output_f(M + i * per, FN, TH, TW, SM, Tc, bias, OH, OW,
                                         &out[n0 + i, 0, 0, 0])
                else:
                    fastnn_wino_output_d(M + i * per, FN, TH, TW, SM, Tc, bias, OH, OW,
                                         &out[n0 + i, 0, 0, 0])
            n0 += cnt


def wino_weight_grad(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] dout,
                     Py_ssize_t pad, floating[:, :, :, ::1] dw, floating[::1] db,
                     floating[::1] scratch, Py_ssize_t nb):
    """dw (FN, C, 3, 3) and db (FN,) of a 3x3 stride-1 convolution of x
    (N, C, H, W) with padding pad, from dout (N, FN, OH, OW), by Winograd's
    F(2x2, 3x3) run backwards.  scratch and nb: :func:`wino_sizes` of the
    forward pass.  Trusted shapes, C-contiguous."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t FN = dout.shape[1], OH = dout.shape[2], OW = dout.shape[3]
    cdef Py_ssize_t TH = (OH + 1) // 2, TW = (OW + 1) // 2, per = TH * TW
    cdef Py_ssize_t HP = 2 * TH + 2, WP = 2 * TW + 2, n0, i, f, cnt, Tc, xi, SV, SQ
    cdef floating* dU = &scratch[0] if scratch.shape[0] else NULL
    cdef floating* xp = dU + 16 * FN * C
    cdef floating* V = xp + C * HP * WP
    cdef floating* Q
    cdef floating beta = 0
    if nb < 1 or scratch.shape[0] < _wino_entries(C, FN, OH, OW, nb):
        raise ValueError("scratch holds %d entries, too few for chunks of %d samples"
                         % (scratch.shape[0], nb))
    with nogil:
        for f in range(FN):
            db[f] = 0
            for i in range(N if OH * OW else 0):
                if floating is float:
                    db[f] += fastnn_sum8_f(&dout[i, f, 0, 0], OH * OW)
                else:
                    db[f] += fastnn_sum8_d(&dout[i, f, 0, 0], OH * OW)
        if FN * C:
            memset(&dw[0, 0, 0, 0], 0, FN * C * 9 * sizeof(floating))
    if N * per * FN * C == 0:
        return
    with nogil:
        n0 = 0
        while n0 < N:
            cnt = min(nb, N - n0)
            Tc = cnt * per
            SV = _plane(C * Tc)
            SQ = _plane(FN * Tc)
            Q = V + 16 * SV
            for i in range(cnt):
                if floating is float:
                    fastnn_wino_pad_f(&x[n0 + i, 0, 0, 0], C, H, W, pad, HP, WP, xp)
                    fastnn_wino_input_f(xp, C, HP, WP, TH, TW, SV, Tc, V + i * per)
                    fastnn_wino_dout_f(&dout[n0 + i, 0, 0, 0], FN, OH, OW, TH, TW, SQ, Tc,
                                       Q + i * per)
                else:
                    fastnn_wino_pad_d(&x[n0 + i, 0, 0, 0], C, H, W, pad, HP, WP, xp)
                    fastnn_wino_input_d(xp, C, HP, WP, TH, TW, SV, Tc, V + i * per)
                    fastnn_wino_dout_d(&dout[n0 + i, 0, 0, 0], FN, OH, OW, TH, TW, SQ, Tc,
                                       Q + i * per)
            for xi in range(16):
                gemm_rm(c'N', c'T', <int>FN, <int>C, <int>Tc, <floating>1, Q + xi * SQ,
                        <int>Tc, V + xi * SV, <int>Tc, beta, dU + xi * FN * C, <int>C)
            beta = 1
            n0 += cnt
        if floating is float:
            fastnn_wino_filter_grad_f(dU, FN, C, &dw[0, 0, 0, 0])
        else:
            fastnn_wino_filter_grad_d(dU, FN, C, &dw[0, 0, 0, 0])
