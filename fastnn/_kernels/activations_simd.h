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

/* The loops, once per element type (fastnn_common.h: loop templates). */
#define T double
#define FASTNN_SUFFIX d
#include "activations_loops.h"
#undef T
#undef FASTNN_SUFFIX
#define T float
#define FASTNN_SUFFIX f
#include "activations_loops.h"
#undef T
#undef FASTNN_SUFFIX

/* The dtype-generic names (fastnn_common.h): name(f32, args...) */
#define fastnn_relu_fwd(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_relu_fwd, __VA_ARGS__)
#define fastnn_relu_bwd(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_relu_bwd, __VA_ARGS__)
#define fastnn_sigmoid_from_exp(f32, ...) \
    FASTNN_BY_DTYPE(f32, fastnn_sigmoid_from_exp, __VA_ARGS__)
#define fastnn_sigmoid_bwd(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_sigmoid_bwd, __VA_ARGS__)

#endif /* FASTNN_ACTIVATIONS_SIMD_H */
