/* The batchnorm loops (C, so that GCC can clone them for AVX2; see fastnn_common.h). */
#ifndef FASTNN_BATCHNORM_SIMD_H
#define FASTNN_BATCHNORM_SIMD_H

#include "fastnn_common.h"

#define FASTNN_BN_LOOPS(T, SUF)                                                   \
/* Welford: mean and M2 = sum (x - mean)^2 of each of w columns, in double. */   \
FASTNN_CLONES FASTNN_NOJAM static void fastnn_bn_stats_##SUF(                 \
    const T *restrict x, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t w,                  \
    double *restrict mean, double *restrict m2)                                   \
{                                                                                 \
    for (ptrdiff_t j = 0; j < w; j++) { mean[j] = 0.0; m2[j] = 0.0; }             \
    for (ptrdiff_t i = 0; i < n; i++) {                                           \
        const double r = 1.0 / (double)(i + 1);                                   \
        const T *restrict row = x + i * ld;                                       \
        for (ptrdiff_t j = 0; j < w; j++) {                                       \
            double v = (double)row[j];                                            \
            double dl = v - mean[j];                                              \
            double mj = mean[j] + dl * r;                                         \
            mean[j] = mj;                                                         \
            m2[j] = m2[j] + dl * (v - mj);                                        \
        }                                                                         \
    }                                                                             \
}                                                                                 \
/* xc = x - mu; xn = xc * inv; out = g * xn + b */                                \
FASTNN_CLONES FASTNN_NOJAM static void fastnn_bn_normalize_##SUF(                 \
    const T *restrict x, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t w, ptrdiff_t ldo,   \
    const T *restrict mu, const T *restrict inv, const T *restrict g,             \
    const T *restrict b, T *restrict xc, T *restrict xn, T *restrict out)         \
{                                                                                 \
    for (ptrdiff_t i = 0; i < n; i++) {                                           \
        const T *restrict row = x + i * ld;                                       \
        T *restrict rc = xc + i * ldo;                                            \
        T *restrict rn = xn + i * ldo;                                            \
        T *restrict ro = out + i * ldo;                                           \
        for (ptrdiff_t j = 0; j < w; j++) {                                       \
            T c = row[j] - mu[j];                                                 \
            T z = c * inv[j];                                                     \
            rc[j] = c;                                                            \
            rn[j] = z;                                                            \
            ro[j] = g[j] * z + b[j];                                              \
        }                                                                         \
    }                                                                             \
}                                                                                 \
/* out = (x - rm) * scale + b */                                                  \
FASTNN_CLONES FASTNN_NOJAM static void fastnn_bn_infer_##SUF(                 \
    const T *restrict x, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t w, ptrdiff_t ldo,   \
    const T *restrict rm, const T *restrict scale, const T *restrict b,           \
    T *restrict out)                                                              \
{                                                                                 \
    for (ptrdiff_t i = 0; i < n; i++) {                                           \
        const T *restrict row = x + i * ld;                                       \
        T *restrict ro = out + i * ldo;                                           \
        for (ptrdiff_t j = 0; j < w; j++)                                         \
            ro[j] = (row[j] - rm[j]) * scale[j] + b[j];                           \
    }                                                                             \
}                                                                                 \
/* sd = sum dout, sdx = sum dout * xn per column, in double */                    \
FASTNN_CLONES FASTNN_NOJAM static void fastnn_bn_grad_sums_##SUF(                 \
    const T *restrict dout, const T *restrict xn, ptrdiff_t n, ptrdiff_t ld,      \
    ptrdiff_t w, double *restrict sd, double *restrict sdx)                       \
{                                                                                 \
    for (ptrdiff_t j = 0; j < w; j++) { sd[j] = 0.0; sdx[j] = 0.0; }              \
    for (ptrdiff_t i = 0; i < n; i++) {                                           \
        const T *restrict rd = dout + i * ld;                                     \
        const T *restrict rn = xn + i * ld;                                       \
        for (ptrdiff_t j = 0; j < w; j++) {                                       \
            double g = (double)rd[j];                                             \
            sd[j] = sd[j] + g;                                                    \
            sdx[j] = sdx[j] + g * (double)rn[j];                                  \
        }                                                                         \
    }                                                                             \
}                                                                                 \
/* dx = a * ((dout - cb) - xn * cg) */                                            \
FASTNN_CLONES FASTNN_NOJAM static void fastnn_bn_dx_##SUF(                 \
    const T *restrict dout, const T *restrict xn, ptrdiff_t n, ptrdiff_t ld,      \
    ptrdiff_t w, const T *restrict a, const T *restrict cb,                       \
    const T *restrict cg, T *restrict dx)                                         \
{                                                                                 \
    for (ptrdiff_t i = 0; i < n; i++) {                                           \
        const T *restrict rd = dout + i * ld;                                     \
        const T *restrict rn = xn + i * ld;                                       \
        T *restrict rx = dx + i * ld;                                             \
        for (ptrdiff_t j = 0; j < w; j++)                                         \
            rx[j] = a[j] * ((rd[j] - cb[j]) - rn[j] * cg[j]);                     \
    }                                                                             \
}

FASTNN_BN_LOOPS(double, d)
FASTNN_BN_LOOPS(float, f)

#endif /* FASTNN_BATCHNORM_SIMD_H */
