/* NumPy's pairwise summation (numpy/_core/src/umath/loops_utils.h.src),
 * reproduced so that a fused kernel gives np.sum's bits: below 8 entries a
 * plain loop; up to 128, eight accumulators (entry i into accumulator
 * i mod 8), combined ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)), then the tail
 * one by one; above 128, the two halves (split at a multiple of 8) summed
 * so and added.  This is what np.sum does along a contiguous axis: each row
 * of a C-contiguous array summed over its last axis (tests check it
 * against np.sum at first use and over many lengths).
 *
 * Variants: of the entries themselves, and of the products a[i]*b[i]
 * (each rounded to T before it is added, as NumPy's product array is).
 * Written once in pairwise_loops.h (fastnn_common.h: loop templates). */
#ifndef FASTNN_PAIRWISE_H
#define FASTNN_PAIRWISE_H

#include "fastnn_common.h"

#define T double
#define FASTNN_SUFFIX d
#include "pairwise_loops.h"
#undef T
#undef FASTNN_SUFFIX
#define T float
#define FASTNN_SUFFIX f
#include "pairwise_loops.h"
#undef T
#undef FASTNN_SUFFIX

#endif /* FASTNN_PAIRWISE_H */
