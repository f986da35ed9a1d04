/* A template (fastnn_common.h: loop templates): included by sum_simd.h once
 * per element type, with T and FASTNN_SUF(name) bound; no include guard. */

/* Sum of n entries in 8 interleaved partial sums (lane u adds entries
   u, u+8, ...; then the lanes pairwise): the additions are independent, so
   the loop vectorizes instead of waiting on one accumulator's latency
   (a sum in another order than NumPy's, within its rounding). */
FASTNN_CLONES static T FASTNN_SUF(fastnn_sum8)(const T *restrict a, ptrdiff_t n)
{
    T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int u = 0; u < 8; u++)
            acc[u] += a[j + u];
    for (; j < n; j++)
        acc[0] += a[j];
    return ((acc[0] + acc[4]) + (acc[2] + acc[6]))
         + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

/* A convolution's bias gradient, filters [f0, f1): db[f] = Σ_n Σ_p
   dout[n][f][p] over dout (N, FN, P), each row by fastnn_sum8, the rows
   added in n order (the same sum whichever filters a call is given). */
static void FASTNN_SUF(fastnn_bias_grad)(const T *restrict dout, ptrdiff_t N, ptrdiff_t FN,
                                   ptrdiff_t P, ptrdiff_t f0, ptrdiff_t f1,
                                   T *restrict db)
{
    for (ptrdiff_t f = f0; f < f1; f++) {
        T s = 0;
        for (ptrdiff_t n = 0; n < N && P > 0; n++)
            s += FASTNN_SUF(fastnn_sum8)(dout + (n * FN + f) * P, P);
        db[f] = s;
    }
}

/* dst[j] += parts[0][j] + parts[1][j] + ... (G planes n apart), added to
   dst one plane at a time in plane order: the partial weight gradients of
   a parallel backward pass, summed in an order that does not depend on
   which thread made which plane. */
FASTNN_CLONES static void FASTNN_SUF(fastnn_add_planes)(T *restrict dst,
                                                  const T *restrict parts,
                                                  ptrdiff_t G, ptrdiff_t n)
{
    for (ptrdiff_t g = 0; g < G; g++)
        for (ptrdiff_t j = 0; j < n; j++)
            dst[j] += parts[g * n + j];
}

/* The same for a matrix: dst (rows x cols, row stride ldd) += parts[0] +
   parts[1] + ... (G contiguous rows x cols matrices), added in part order:
   the partial products of a GEMM split over its inner dimension. */
FASTNN_CLONES static void FASTNN_SUF(fastnn_add_parts)(T *restrict dst, ptrdiff_t ldd,
                                                 const T *restrict parts,
                                                 ptrdiff_t G, ptrdiff_t rows,
                                                 ptrdiff_t cols)
{
    for (ptrdiff_t g = 0; g < G; g++)
        for (ptrdiff_t r = 0; r < rows; r++)
            for (ptrdiff_t j = 0; j < cols; j++)
                dst[r * ldd + j] += parts[(g * rows + r) * cols + j];
}
