/* Element loops of the optimizer updates, compiled twice: baseline x86-64
 * (SSE2) and AVX2, picked at load time by GCC's target_clones (an ifunc).
 *
 * Why C and not Cython: Cython cannot put a function attribute on a cdef
 * function.  Measured on an AMD EPYC (AVX2+FMA): the AVX2 clone runs Adam
 * 2.0x faster than the SSE2 loop for 1.3e5 and 1e6 float64 parameters
 * (the loop is bound by vsqrtpd/vdivpd, which AVX2 doubles).
 *
 * No FMA clone: "avx2" alone does not enable FMA, so GCC cannot contract
 * a*b+c and every operation rounds as NumPy's does (float64 results are
 * bit-identical to the reference).  An avx2+fma build gained 1-3%, inside
 * the noise, and gave up that identity.
 *
 * Each loop follows the reference formula's operation order in the array's
 * own precision T; the scalars arrive already rounded to T (NumPy 2 casts a
 * Python float operand to the array's dtype).  No restrict: a gradient may
 * be the parameter array itself, and GCC's runtime overlap check keeps that
 * case correct.
 */
#ifndef FASTNN_OPTIM_SIMD_H
#define FASTNN_OPTIM_SIMD_H

#include "fastnn_common.h"


/* One update rule: fastnn_<NAME>_<SUF><PARAMS>, a loop over i < n of the
 * statements given last (the loop and the clone gate written once). */
#define FASTNN_UPDATE(SUF, NAME, PARAMS, ...)                                      \
FASTNN_CLONES static void fastnn_##NAME##_##SUF PARAMS                            \
{                                                                                  \
    for (ptrdiff_t i = 0; i < n; i++) { __VA_ARGS__ }                              \
}

#define FASTNN_OPTIM_LOOPS(T, SUF, SQRT)                                           \
/* p -= lr*g */                                                                    \
FASTNN_UPDATE(SUF, sgd, (T *p, const T *g, ptrdiff_t n, T lr),                     \
    p[i] = p[i] - lr * g[i];)                                                      \
/* v = mu*v - lr*g;  p += v */                                                     \
FASTNN_UPDATE(SUF, momentum, (T *p, const T *g, T *v, ptrdiff_t n, T mu, T lr),    \
    T vi = mu * v[i] - lr * g[i];                                                  \
    v[i] = vi;                                                                     \
    p[i] = p[i] + vi;)                                                             \
/* p += mu2*v;  p -= c*g;  v *= mu;  v -= lr*g   (mu2 = mu*mu, c = (1+mu)*lr) */   \
FASTNN_UPDATE(SUF, nesterov,                                                       \
              (T *p, const T *g, T *v, ptrdiff_t n, T mu2, T c, T mu, T lr),       \
    T gi = g[i], vi = v[i];                                                        \
    T pi = p[i] + mu2 * vi;                                                        \
    p[i] = pi - c * gi;                                                            \
    v[i] = vi * mu - lr * gi;)                                                     \
/* h += g*g;  p -= lr*g / (sqrt(h) + eps) */                                       \
FASTNN_UPDATE(SUF, adagrad, (T *p, const T *g, T *h, ptrdiff_t n, T lr, T eps),    \
    T gi = g[i];                                                                   \
    T hi = h[i] + gi * gi;                                                         \
    h[i] = hi;                                                                     \
    p[i] = p[i] - lr * gi / (SQRT(hi) + eps);)                                     \
/* h *= rho;  h += (1-rho)*g*g;  p -= lr*g / (sqrt(h) + eps)   (c = 1-rho) */      \
FASTNN_UPDATE(SUF, rmsprop,                                                        \
              (T *p, const T *g, T *h, ptrdiff_t n, T rho, T c, T lr, T eps),      \
    T gi = g[i];                                                                   \
    T hi = h[i] * rho + c * gi * gi;                                               \
    h[i] = hi;                                                                     \
    p[i] = p[i] - lr * gi / (SQRT(hi) + eps);)                                     \
/* m += c1*(g-m);  v += c2*(g*g - v);  p -= lr_t*m / (sqrt(v) + eps) */            \
FASTNN_UPDATE(SUF, adam,                                                           \
              (T *p, const T *g, T *m, T *v, ptrdiff_t n, T c1, T c2, T lr_t,      \
               T eps),                                                             \
    T gi = g[i];                                                                   \
    T mi = m[i] + c1 * (gi - m[i]);                                                \
    T vi = v[i] + c2 * (gi * gi - v[i]);                                           \
    m[i] = mi;                                                                     \
    v[i] = vi;                                                                     \
    p[i] = p[i] - lr_t * mi / (SQRT(vi) + eps);)

FASTNN_OPTIM_LOOPS(double, d, sqrt)
FASTNN_OPTIM_LOOPS(float, f, sqrtf)

/* The dtype-generic names (fastnn_common.h): name(f32, args...) */
#define fastnn_sgd(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_sgd, __VA_ARGS__)
#define fastnn_momentum(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_momentum, __VA_ARGS__)
#define fastnn_nesterov(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_nesterov, __VA_ARGS__)
#define fastnn_adagrad(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_adagrad, __VA_ARGS__)
#define fastnn_rmsprop(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_rmsprop, __VA_ARGS__)
#define fastnn_adam(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_adam, __VA_ARGS__)

#endif /* FASTNN_OPTIM_SIMD_H */
