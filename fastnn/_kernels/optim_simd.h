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


/* The loops, once per element type (fastnn_common.h: loop templates). */
#define T double
#define FASTNN_SUFFIX d
#define SQRT sqrt
#include "optim_loops.h"
#undef T
#undef FASTNN_SUFFIX
#undef SQRT
#define T float
#define FASTNN_SUFFIX f
#define SQRT sqrtf
#include "optim_loops.h"
#undef T
#undef FASTNN_SUFFIX
#undef SQRT

/* The dtype-generic names (fastnn_common.h): name(f32, args...) */
#define fastnn_sgd(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_sgd, __VA_ARGS__)
#define fastnn_momentum(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_momentum, __VA_ARGS__)
#define fastnn_nesterov(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_nesterov, __VA_ARGS__)
#define fastnn_adagrad(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_adagrad, __VA_ARGS__)
#define fastnn_rmsprop(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_rmsprop, __VA_ARGS__)
#define fastnn_adam(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_adam, __VA_ARGS__)

#endif /* FASTNN_OPTIM_SIMD_H */
