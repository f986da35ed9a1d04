/* The batchnorm loops (C, so that GCC can clone them for AVX2; see
 * fastnn_common.h) and the column-block functions built on them. */
#ifndef FASTNN_BATCHNORM_SIMD_H
#define FASTNN_BATCHNORM_SIMD_H

#include "fastnn_common.h"
#include <stdlib.h>

/* One batch-norm call: the input x (n, d) with row stride ld (elements), the
 * per-column arrays (d,) and the outputs, C-contiguous (row stride d).  The
 * pointers are float or double, as f32 says; running_mean/var are NULL when
 * training leaves them alone. */
typedef struct {
    int f32;
    ptrdiff_t n, d, ld;
    const void *x, *gamma, *beta;      /* forward; backward: gamma */
    void *running_mean, *running_var;  /* updated by train, read by infer */
    double momentum, eps;
    void *out, *xc, *xn, *std;         /* train writes all four, infer out;
                                          backward reads xn and std */
    const void *dout;                  /* backward */
    void *dx, *dgamma, *dbeta;
} fastnn_bn_call;

/* A pass over the (n, w) rows, columns innermost (contiguous, vectorized),
 * running the statements given last for every (i, j). */
#define FASTNN_BN_PASS(SUF, NAME, PARAMS, ...)                                    \
FASTNN_CLONES FASTNN_NOJAM static void fastnn_bn_##NAME##_##SUF PARAMS            \
{                                                                                 \
    for (ptrdiff_t i = 0; i < n; i++)                                             \
        for (ptrdiff_t j = 0; j < w; j++) { __VA_ARGS__ }                         \
}

#define FASTNN_BN_LOOPS(T, SUF)                                                   \
/* Welford: mean and M2 = sum (x - mean)^2 of each of w columns, in double. */   \
FASTNN_CLONES FASTNN_NOJAM static void fastnn_bn_stats_##SUF(                     \
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
/* sd = sum dout, sdx = sum dout * xn per column, in double */                    \
FASTNN_CLONES FASTNN_NOJAM static void fastnn_bn_grad_sums_##SUF(                 \
    const T *restrict dout, const T *restrict xn, ptrdiff_t n, ptrdiff_t ld,      \
    ptrdiff_t w, double *restrict sd, double *restrict sdx)                       \
{                                                                                 \
    memset(sd, 0, (size_t)w * sizeof(double));                                    \
    memset(sdx, 0, (size_t)w * sizeof(double));                                   \
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
/* xc = x - mu; xn = xc * inv; out = g * xn + b */                                \
FASTNN_BN_PASS(SUF, normalize,                                                    \
    (const T *restrict x, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t w, ptrdiff_t ldo,  \
     const T *restrict mu, const T *restrict inv, const T *restrict g,            \
     const T *restrict b, T *restrict xc, T *restrict xn, T *restrict out),       \
    T c = x[i * ld + j] - mu[j];                                                  \
    T z = c * inv[j];                                                             \
    xc[i * ldo + j] = c;                                                          \
    xn[i * ldo + j] = z;                                                          \
    out[i * ldo + j] = g[j] * z + b[j];)                                          \
/* out = (x - rm) * scale + b */                                                  \
FASTNN_BN_PASS(SUF, infer,                                                        \
    (const T *restrict x, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t w, ptrdiff_t ldo,  \
     const T *restrict rm, const T *restrict scale, const T *restrict b,          \
     T *restrict out),                                                            \
    out[i * ldo + j] = (x[i * ld + j] - rm[j]) * scale[j] + b[j];)                \
/* dx = a * ((dout - cb) - xn * cg) */                                            \
FASTNN_BN_PASS(SUF, dx,                                                           \
    (const T *restrict dout, const T *restrict xn, ptrdiff_t n, ptrdiff_t ld,     \
     ptrdiff_t w, const T *restrict a, const T *restrict cb,                      \
     const T *restrict cg, T *restrict dx),                                       \
    dx[i * ld + j] = a[j] * ((dout[i * ld + j] - cb[j]) - xn[i * ld + j] * cg[j]);) \
                                                                                  \
/* The w columns from j0 of a call (the per-column arrays are indexed by the    \
   absolute column), with scratch room for 5*w doubles. */                       \
                                                                                  \
/* Training: Welford's mean and M2, then std = sqrt(M2/n + eps), the running     \
   statistics (if any) momentum*running + (1-momentum)*batch, and the            \
   normalizing pass. */                                                           \
static void fastnn_bn_train_block_##SUF(const fastnn_bn_call *c, ptrdiff_t j0,    \
                                        ptrdiff_t w, double *scratch)             \
{                                                                                 \
    const ptrdiff_t n = c->n, d = c->d, ld = c->ld;                               \
    const T *x = (const T *)c->x;                                                 \
    T *std = (T *)c->std, *rm = (T *)c->running_mean, *rv = (T *)c->running_var;  \
    double *mean = scratch, *m2 = mean + w;                                       \
    T *mu = (T *)(m2 + w), *inv = mu + w;                                         \
    fastnn_bn_stats_##SUF(x + j0, n, ld, w, mean, m2);                            \
    for (ptrdiff_t j = 0; j < w; j++) {                                           \
        if (mean[j] != mean[j]) {                                                 \
            /* Welford's update turns a column holding +-inf into NaN (inf -   \
               inf); the plain sum gives NumPy's mean: +-inf, or NaN for a     \
               real NaN or for +inf and -inf together. */                        \
            double s = 0.0;                                                       \
            for (ptrdiff_t i = 0; i < n; i++)                                     \
                s = s + (double)x[i * ld + j0 + j];                               \
            mean[j] = s / (double)n;                                              \
        }                                                                         \
        double var = m2[j] / (double)n;                                           \
        double s = sqrt(var + c->eps);                                            \
        std[j0 + j] = (T)s;                                                       \
        mu[j] = (T)mean[j];                                                       \
        inv[j] = (T)(1.0 / s);                                                    \
        if (rm != NULL) {                                                         \
            rm[j0 + j] = (T)(c->momentum * rm[j0 + j]                             \
                             + (1.0 - c->momentum) * mean[j]);                    \
            rv[j0 + j] = (T)(c->momentum * rv[j0 + j]                             \
                             + (1.0 - c->momentum) * var);                        \
        }                                                                         \
    }                                                                             \
    fastnn_bn_normalize_##SUF(x + j0, n, ld, w, d, mu, inv,                       \
                              (const T *)c->gamma + j0, (const T *)c->beta + j0,  \
                              (T *)c->xc + j0, (T *)c->xn + j0, (T *)c->out + j0); \
}                                                                                 \
/* Inference: out = (x - running_mean) * gamma/sqrt(running_var + eps) + beta */ \
static void fastnn_bn_infer_block_##SUF(const fastnn_bn_call *c, ptrdiff_t j0,    \
                                        ptrdiff_t w, double *scratch)             \
{                                                                                 \
    const T *gamma = (const T *)c->gamma, *rv = (const T *)c->running_var;        \
    T *scale = (T *)scratch;                                                      \
    for (ptrdiff_t j = 0; j < w; j++)                                             \
        scale[j] = (T)((double)gamma[j0 + j] / sqrt((double)rv[j0 + j] + c->eps)); \
    fastnn_bn_infer_##SUF((const T *)c->x + j0, c->n, c->ld, w, c->d,             \
                          (const T *)c->running_mean + j0, scale,                 \
                          (const T *)c->beta + j0, (T *)c->out + j0);             \
}                                                                                 \
/* Backward (dout and xn C-contiguous): dbeta = sum dout, dgamma = sum xn*dout,  \
   dx = (gamma/std) * (dout - dbeta/n - xn*dgamma/n). */                          \
static void fastnn_bn_backward_block_##SUF(const fastnn_bn_call *c, ptrdiff_t j0, \
                                           ptrdiff_t w, double *scratch)          \
{                                                                                 \
    const ptrdiff_t n = c->n, d = c->d;                                           \
    const T *gamma = (const T *)c->gamma, *std = (const T *)c->std;               \
    const T *dout = (const T *)c->dout, *xn = (const T *)c->xn;                   \
    T *dgamma = (T *)c->dgamma, *dbeta = (T *)c->dbeta;                           \
    double *sd = scratch, *sdx = sd + w;                                          \
    T *a = (T *)(sdx + w), *cb = a + w, *cg = cb + w;                             \
    fastnn_bn_grad_sums_##SUF(dout + j0, xn + j0, n, d, w, sd, sdx);              \
    for (ptrdiff_t j = 0; j < w; j++) {                                           \
        dbeta[j0 + j] = (T)sd[j];                                                 \
        dgamma[j0 + j] = (T)sdx[j];                                               \
        a[j] = (T)((double)gamma[j0 + j] / (double)std[j0 + j]);                  \
        cb[j] = (T)(sd[j] / (double)n);                                           \
        cg[j] = (T)(sdx[j] / (double)n);                                          \
    }                                                                             \
    fastnn_bn_dx_##SUF(dout + j0, xn + j0, n, d, w, a, cb, cg, (T *)c->dx + j0);  \
}

FASTNN_BN_LOOPS(double, d)
FASTNN_BN_LOOPS(float, f)

/* What a block of a call computes. */
enum { FASTNN_BN_TRAIN, FASTNN_BN_INFER, FASTNN_BN_BACKWARD };

/* Columns [j0, j1) of call c, through the one float32/float64 dispatch
 * (fastnn_common.h).  Returns 0, or -1 when the block's scratch memory (two
 * double and up to three T columns per column) is not to be had. */
static inline int fastnn_bn_block(int what, const fastnn_bn_call *c, ptrdiff_t j0,
                                  ptrdiff_t j1)
{
    const ptrdiff_t w = j1 - j0;
    double *scratch;
    if (w <= 0)
        return 0;
    scratch = (double *)malloc(5 * (size_t)w * sizeof(double));
    if (scratch == NULL)
        return -1;
    if (what == FASTNN_BN_TRAIN)
        FASTNN_BY_DTYPE(c->f32, fastnn_bn_train_block, c, j0, w, scratch);
    else if (what == FASTNN_BN_INFER)
        FASTNN_BY_DTYPE(c->f32, fastnn_bn_infer_block, c, j0, w, scratch);
    else
        FASTNN_BY_DTYPE(c->f32, fastnn_bn_backward_block, c, j0, w, scratch);
    free(scratch);
    return 0;
}

#endif /* FASTNN_BATCHNORM_SIMD_H */
