/* Element loops of the activations, compiled for baseline x86-64 and for
 * AVX2 (GCC target_clones, picked at load time), as in optim_simd.h.
 *
 * Written so that GCC can if-convert them: every load is unconditional
 * (a load under a branch may not be speculated) and selects are ternaries
 * on values.  Cython's translation of the same loops kept branches, which
 * on random signs cost a misprediction every other element (measured:
 * ReLU backward 1e6 float64 4 ms scalar vs well under 1 ms here).
 *
 * The baseline (SSE2) build cannot vectorize the float64 ReLU forward (the
 * 64-bit compare has to be narrowed to a byte mask); it stays a branchless
 * scalar loop there.  AVX2 vectorizes every loop here.  No FMA: results
 * round as NumPy's do.
 *
 * No exp here: libm's scalar exp made sigmoid slower than NumPy's own
 * (measured 10k float32: 47 us vs NumPy's whole 4-pass sigmoid 25 us);
 * the wrappers call NumPy's SIMD exp in place and fuse the rest.
 */
#ifndef FASTNN_ACTIVATIONS_SIMD_H
#define FASTNN_ACTIVATIONS_SIMD_H

#include "fastnn_common.h"


#define FASTNN_ACT_LOOPS(T, SUF)                                               \
/* mask = x <= 0;  out = mask ? 0 : x   (NaN: not masked, passes through) */        \
FASTNN_CLONES static void fastnn_relu_fwd_##SUF(const T *x, T *out,            \
                                                    uint8_t *mask, ptrdiff_t n)    \
{                                                                                   \
    for (ptrdiff_t i = 0; i < n; i++) {                                             \
        T xi = x[i];                                                                \
        int m = xi <= (T)0;                                                         \
        mask[i] = (uint8_t)m;                                                       \
        out[i] = m ? (T)0 : xi;                                                     \
    }                                                                               \
}                                                                                   \
FASTNN_CLONES static void fastnn_relu_bwd_##SUF(const T *dout,                 \
                                                    const uint8_t *mask, T *out,   \
                                                    ptrdiff_t n)                   \
{                                                                                   \
    for (ptrdiff_t i = 0; i < n; i++) {                                             \
        T di = dout[i];                                                             \
        out[i] = mask[i] ? (T)0 : di;                                               \
    }                                                                               \
}                                                                                   \
/* out = 1 / (1 + e), e = exp(-x) computed by NumPy (its SIMD exp, so the  */   \
/* result is the reference's to the bit); out may be e itself            */   \
FASTNN_CLONES static void fastnn_sigmoid_from_exp_##SUF(const T *e, T *out,    \
                                                            ptrdiff_t n)           \
{                                                                                   \
    for (ptrdiff_t i = 0; i < n; i++)                                               \
        out[i] = (T)1 / ((T)1 + e[i]);                                              \
}                                                                                   \
/* dout * (1 - y) * y, left to right as the reference */                            \
FASTNN_CLONES static void fastnn_sigmoid_bwd_##SUF(const T *dout, const T *y,  \
                                                       T *out, ptrdiff_t n)        \
{                                                                                   \
    for (ptrdiff_t i = 0; i < n; i++) {                                             \
        T yi = y[i];                                                                \
        out[i] = dout[i] * ((T)1 - yi) * yi;                                        \
    }                                                                               \
}

FASTNN_ACT_LOOPS(double, d)
FASTNN_ACT_LOOPS(float, f)

/* The dtype-generic names (fastnn_common.h): name(f32, args...) */
#define fastnn_relu_fwd(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_relu_fwd, __VA_ARGS__)
#define fastnn_relu_bwd(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_relu_bwd, __VA_ARGS__)
#define fastnn_sigmoid_from_exp(f32, ...) \
    FASTNN_BY_DTYPE(f32, fastnn_sigmoid_from_exp, __VA_ARGS__)
#define fastnn_sigmoid_bwd(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_sigmoid_bwd, __VA_ARGS__)

#endif /* FASTNN_ACTIVATIONS_SIMD_H */
