/* The sum of a row, vectorized: used for the convolutions' db (conv.pyx,
 * winograd.pyx); and the sum of partial gradients of a parallel pass. */
#ifndef FASTNN_SUM_SIMD_H
#define FASTNN_SUM_SIMD_H

#include "fastnn_common.h"

/* Sum of n entries in 8 interleaved partial sums (lane u adds entries
   u, u+8, ...; then the lanes pairwise): the additions are independent, so
   the loop vectorizes instead of waiting on one accumulator's latency
   (a sum in another order than NumPy's, within its rounding). */
#define FASTNN_SUM8(T, SUF)                                                     \
FASTNN_CLONES static T fastnn_sum8_##SUF(const T *restrict a, ptrdiff_t n)     \
{                                                                               \
    T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                        \
    ptrdiff_t j = 0;                                                            \
    for (; j + 8 <= n; j += 8)                                                  \
        for (int u = 0; u < 8; u++)                                             \
            acc[u] += a[j + u];                                                 \
    for (; j < n; j++)                                                          \
        acc[0] += a[j];                                                         \
    return ((acc[0] + acc[4]) + (acc[2] + acc[6]))                              \
         + ((acc[1] + acc[5]) + (acc[3] + acc[7]));                             \
}
FASTNN_SUM8(double, d)
FASTNN_SUM8(float, f)

/* A convolution's bias gradient, filters [f0, f1): db[f] = Σ_n Σ_p
   dout[n][f][p] over dout (N, FN, P), each row by fastnn_sum8, the rows
   added in n order (the same sum whichever filters a call is given). */
#define FASTNN_BIAS_GRAD(T, SUF)                                                \
static void fastnn_bias_grad_##SUF(const T *restrict dout, ptrdiff_t N, ptrdiff_t FN, \
                                   ptrdiff_t P, ptrdiff_t f0, ptrdiff_t f1,     \
                                   T *restrict db)                              \
{                                                                               \
    for (ptrdiff_t f = f0; f < f1; f++) {                                       \
        T s = 0;                                                                \
        for (ptrdiff_t n = 0; n < N && P > 0; n++)                              \
            s += fastnn_sum8_##SUF(dout + (n * FN + f) * P, P);                 \
        db[f] = s;                                                              \
    }                                                                           \
}
FASTNN_BIAS_GRAD(double, d)
FASTNN_BIAS_GRAD(float, f)

#define fastnn_bias_grad(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_bias_grad, __VA_ARGS__)

/* dst[j] += parts[0][j] + parts[1][j] + ... (G planes n apart), added to
   dst one plane at a time in plane order: the partial weight gradients of
   a parallel backward pass, summed in an order that does not depend on
   which thread made which plane. */
#define FASTNN_ADD_PLANES(T, SUF)                                               \
FASTNN_CLONES static void fastnn_add_planes_##SUF(T *restrict dst,             \
                                                  const T *restrict parts,      \
                                                  ptrdiff_t G, ptrdiff_t n)     \
{                                                                               \
    for (ptrdiff_t g = 0; g < G; g++)                                           \
        for (ptrdiff_t j = 0; j < n; j++)                                       \
            dst[j] += parts[g * n + j];                                         \
}
FASTNN_ADD_PLANES(double, d)
FASTNN_ADD_PLANES(float, f)

#define fastnn_add_planes(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_add_planes, __VA_ARGS__)

/* The same for a matrix: dst (rows x cols, row stride ldd) += parts[0] +
   parts[1] + ... (G contiguous rows x cols matrices), added in part order:
   the partial products of a GEMM split over its inner dimension. */
#define FASTNN_ADD_PARTS(T, SUF)                                                \
FASTNN_CLONES static void fastnn_add_parts_##SUF(T *restrict dst, ptrdiff_t ldd, \
                                                 const T *restrict parts,       \
                                                 ptrdiff_t G, ptrdiff_t rows,   \
                                                 ptrdiff_t cols)                \
{                                                                               \
    for (ptrdiff_t g = 0; g < G; g++)                                           \
        for (ptrdiff_t r = 0; r < rows; r++)                                    \
            for (ptrdiff_t j = 0; j < cols; j++)                                \
                dst[r * ldd + j] += parts[(g * rows + r) * cols + j];           \
}
FASTNN_ADD_PARTS(double, d)
FASTNN_ADD_PARTS(float, f)

#define fastnn_add_parts(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_add_parts, __VA_ARGS__)

#endif
