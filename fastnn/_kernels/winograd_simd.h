/* Winograd's minimal filtering F(2x2, 3x3) for 3x3, stride-1 convolutions
 * (conv.pyx, float32): the transforms, in C loops GCC vectorizes across the
 * tiles of a row, compiled twice (FASTNN_CLONES).
 *
 * An output tile of 2x2 comes from a 4x4 input patch d (tiles step by 2)
 * and a 3x3 filter g as  Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A  (Lavin & Gray,
 * "Fast Algorithms for Convolutional Neural Networks", CVPR 2016), with
 *
 *     Bᵀ = | 1  0 -1  0 |     G = | 1    0    0  |     Aᵀ = | 1  1  1  0 |
 *          | 0  1  1  0 |         | 1/2  1/2  1/2|          | 0  1 -1 -1 |
 *          | 0 -1  1  0 |         | 1/2 -1/2  1/2|
 *          | 0  1  0 -1 |         | 0    0    1  |
 *
 * Over C input channels the elementwise product becomes 16 independent
 * GEMMs, one per entry ξ of the 4x4 transform:  M[ξ] (FN x T) = U[ξ]
 * (FN x C) · V[ξ] (C x T),  T tiles.  That is 16·C·FN multiply-adds per
 * tile against im2col's 36·C·FN: 2.25x fewer, and the GEMMs are wide.
 * The transforms only add and halve, so on finite inputs the result differs
 * from the direct sum by rounding (about 1e-7 of the largest term in
 * float32).  Not on the others: an inf in a patch meets inf - inf in Bᵀ d B
 * and gives NaN where the direct sum gives inf (within the same receptive
 * field, as a NaN does), and the transforms' sums of up to four terms can
 * overflow to inf on inputs within a factor of 4 of the type's maximum.
 *
 * Layouts (row-major): xp, one sample zero-padded to (C, HP, WP) with
 * HP = 2·TH + 2, WP = 2·TW + 2, so every patch is inside; V[ξ][c][t] and
 * M[ξ][f][t] with t = (n·TH + th)·TW + tw over the samples of a chunk;
 * U[ξ][f][c].
 */
#ifndef FASTNN_WINOGRAD_SIMD_H
#define FASTNN_WINOGRAD_SIMD_H

#include "fastnn_common.h"

/* B along one row t of Bᵀ d: planes p0 .. p0 + 3 of v at tile tw. */
#define FASTNN_WINO_B_ROW(v, p0, S, tw, t)                                      \
    do {                                                                        \
        (v)[((p0) + 0) * (S) + (tw)] = (t)[0] - (t)[2];                         \
        (v)[((p0) + 1) * (S) + (tw)] = (t)[1] + (t)[2];                         \
        (v)[((p0) + 2) * (S) + (tw)] = (t)[2] - (t)[1];                         \
        (v)[((p0) + 3) * (S) + (tw)] = (t)[1] - (t)[3];                         \
    } while (0)

/* A along the sums u0..u3 of n tiles into one output row r (2 entries a
   tile; of the last tile only the first when full < n, an odd OW). */
#define FASTNN_WINO_A_ROW(r, u0, u1, u2, u3, full, n, bf)                       \
    do {                                                                        \
        for (ptrdiff_t tw = 0; tw < (full); tw++) {                             \
            (r)[2 * tw] = (u0)[tw] + (u1)[tw] + (u2)[tw] + (bf);                \
            (r)[2 * tw + 1] = (u1)[tw] - (u2)[tw] - (u3)[tw] + (bf);            \
        }                                                                       \
        if ((full) < (n))                                                       \
            (r)[2 * (full)] = (u0)[full] + (u1)[full] + (u2)[full] + (bf);      \
    } while (0)

/* The loops, once per element type (fastnn_common.h: loop templates). */
#define T double
#define FASTNN_SUFFIX d
#include "winograd_loops.h"
#undef T
#undef FASTNN_SUFFIX
#define T float
#define FASTNN_SUFFIX f
#include "winograd_loops.h"
#undef T
#undef FASTNN_SUFFIX

/* The dtype-generic names (fastnn_common.h): name(f32, args...) */
#define fastnn_wino_filter(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_wino_filter, __VA_ARGS__)
#define fastnn_wino_filter_grad(f32, ...) \
    FASTNN_BY_DTYPE(f32, fastnn_wino_filter_grad, __VA_ARGS__)
#define fastnn_wino_pad(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_wino_pad, __VA_ARGS__)
#define fastnn_wino_input(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_wino_input, __VA_ARGS__)
#define fastnn_wino_output(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_wino_output, __VA_ARGS__)
#define fastnn_wino_dout(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_wino_dout, __VA_ARGS__)

#endif
