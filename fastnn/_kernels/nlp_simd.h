/* Kernels of the sequel's util and layers (nlp.pyx): the embedding's
 * scatter-add, clip_grads' sum of squares and scaling, the co-occurrence
 * count and PPMI's element pass.  Each float loop exists as name_f (float)
 * and name_d (double), reached through its dtype-generic name
 * (FASTNN_BY_DTYPE, fastnn_common.h). */
#ifndef FASTNN_NLP_SIMD_H
#define FASTNN_NLP_SIMD_H

#include "fastnn_common.h"

#define FASTNN_NLP_LOOPS(T, SUF)                                                         \
/* Rows [lo, hi) of dW (V x D) set to 0, then dW[idx[i]] += dout[i] for every i in   \
 * order whose id falls in [lo, hi): each element adds in np.add.at's order.  Ids are \
 * in [-V, V) (checked), negative ones counted from the end as NumPy does. */         \
FASTNN_CLONES static void fastnn_embed_scatter_##SUF(T *dW, ptrdiff_t V, ptrdiff_t D,  \
        const int64_t *idx, const T *dout, ptrdiff_t n, ptrdiff_t lo, ptrdiff_t hi)   \
{                                                                                     \
    memset(dW + lo * D, 0, (size_t)(hi - lo) * (size_t)D * sizeof(T));                \
    for (ptrdiff_t i = 0; i < n; i++) {                                               \
        int64_t r = idx[i];                                                           \
        if (r < 0)                                                                    \
            r += V;                                                                   \
        if (r < lo || r >= hi)                                                        \
            continue;                                                                 \
        T *row = dW + r * D;                                                          \
        const T *src = dout + i * D;                                                  \
        for (ptrdiff_t d = 0; d < D; d++)                                             \
            row[d] += src[d];                                                         \
    }                                                                                 \
}                                                                                     \
                                                                                      \
/* NumPy's pairwise sum (numpy/_core/src/umath/loops_utils.h.src) of the squares   \
 * g[i]*g[i], each rounded to T: eight accumulators over blocks of at most 128,     \
 * halves split on multiples of 8 above, the same tree, so the same bits. */        \
static T fastnn_pairwise_sq_##SUF(const T *g, ptrdiff_t n)                            \
{                                                                                     \
    if (n < 8) {                                                                      \
        T res = -0.0;                                                                 \
        for (ptrdiff_t i = 0; i < n; i++)                                             \
            res += g[i] * g[i];                                                       \
        return res;                                                                   \
    }                                                                                 \
    if (n <= 128) {                                                                   \
        T r[8];                                                                       \
        ptrdiff_t i;                                                                  \
        for (int j = 0; j < 8; j++)                                                   \
            r[j] = g[j] * g[j];                                                       \
        for (i = 8; i < n - (n % 8); i += 8)                                          \
            for (int j = 0; j < 8; j++)                                               \
                r[j] += g[i + j] * g[i + j];                                          \
        T res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));    \
        for (; i < n; i++)                                                            \
            res += g[i] * g[i];                                                       \
        return res;                                                                   \
    }                                                                                 \
    ptrdiff_t n2 = n / 2;                                                             \
    n2 -= n2 % 8;                                                                     \
    return fastnn_pairwise_sq_##SUF(g, n2) + fastnn_pairwise_sq_##SUF(g + n2, n - n2); \
}                                                                                     \
                                                                                      \
FASTNN_CLONES static void fastnn_scale_##SUF(T *g, ptrdiff_t n, double rate)          \
{                                                                                     \
    const T s = (T)rate;                                                              \
    for (ptrdiff_t i = 0; i < n; i++)                                                 \
        g[i] *= s;                                                                    \
}

FASTNN_NLP_LOOPS(float, f)
FASTNN_NLP_LOOPS(double, d)

#define fastnn_embed_scatter(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_embed_scatter, __VA_ARGS__)
#define fastnn_scale(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_scale, __VA_ARGS__)

/* The pairwise tree's leaves at a given depth: the ranges a parallel sum
 * computes apart and combines in the tree's own order. */
static int fastnn_pairwise_leaves(ptrdiff_t n, int depth, ptrdiff_t *starts, ptrdiff_t *lens,
                                  int count, ptrdiff_t start)
{
    if (depth == 0 || n <= 128) {
        starts[count] = start;
        lens[count] = n;
        return count + 1;
    }
    ptrdiff_t n2 = n / 2;
    n2 -= n2 % 8;
    count = fastnn_pairwise_leaves(n2, depth - 1, starts, lens, count, start);
    return fastnn_pairwise_leaves(n - n2, depth - 1, starts, lens, count, start + n2);
}

/* Combine leaf sums (float f32 or double, stored as double exactly) in the
 * tree's order; *next walks the leaves left to right. */
static double fastnn_pairwise_combine(int f32, ptrdiff_t n, int depth, const double *sums,
                                      int *next)
{
    if (depth == 0 || n <= 128)
        return sums[(*next)++];
    ptrdiff_t n2 = n / 2;
    n2 -= n2 % 8;
    double a = fastnn_pairwise_combine(f32, n2, depth - 1, sums, next);
    double b = fastnn_pairwise_combine(f32, n - n2, depth - 1, sums, next);
    return f32 ? (double)((float)a + (float)b) : a + b;
}

/* The co-occurrence counts: for each position p and distance d in 1..window,
 * co[w][corpus[p-d]] += 1 and co[w][corpus[p+d]] += 1 (w = corpus[p]), the
 * book's order (the counts are integers: any order gives the same). */
static void fastnn_co_matrix(const int64_t *corpus, ptrdiff_t n, int32_t *co, ptrdiff_t V,
                             ptrdiff_t window)
{
    for (ptrdiff_t p = 0; p < n; p++) {
        int32_t *row = co + corpus[p] * V;
        for (ptrdiff_t d = 1; d <= window; d++) {
            if (p - d >= 0)
                row[corpus[p - d]] += 1;
            if (p + d < n)
                row[corpus[p + d]] += 1;
        }
    }
}

/* PPMI's argument for rows [r0, r1) of an integer C (int32 or int64): out =
 * (double)(C[i][j]·N) / (double)(S[j]·S[i]) + eps, the products in int64 as
 * NumPy's scalars compute them, the quotient a double division as NumPy's
 * true_divide of two int64. */
#define FASTNN_PPMI_ARG(CT, SUF)                                                        \
FASTNN_CLONES static void fastnn_ppmi_arg_##SUF(const CT *C, ptrdiff_t ncols,           \
        const int64_t *S, int64_t N, double eps, ptrdiff_t r0, ptrdiff_t r1, double *out) \
{                                                                                       \
    for (ptrdiff_t i = r0; i < r1; i++) {                                               \
        const CT *row = C + i * ncols;                                                  \
        const int64_t si = S[i];                                                        \
        for (ptrdiff_t j = 0; j < ncols; j++) {                                         \
            int64_t num = (int64_t)((uint64_t)(int64_t)row[j] * (uint64_t)N);           \
            int64_t den = (int64_t)((uint64_t)S[j] * (uint64_t)si);                     \
            *out++ = (double)num / (double)den + eps;                                   \
        }                                                                               \
    }                                                                                   \
}
FASTNN_PPMI_ARG(int32_t, i32)
FASTNN_PPMI_ARG(int64_t, i64)

/* S[j] = sum_i C[i][j] in int64, wrapping as NumPy's int64 sums do (modular
 * addition: any order gives NumPy's value); returns the total sum. */
#define FASTNN_COLSUMS(CT, SUF)                                                          \
FASTNN_CLONES static int64_t fastnn_colsums_##SUF(const CT *C, ptrdiff_t rows,           \
                                                  ptrdiff_t cols, int64_t *S)            \
{                                                                                        \
    uint64_t total = 0;                                                                  \
    memset(S, 0, (size_t)cols * sizeof(int64_t));                                        \
    for (ptrdiff_t i = 0; i < rows; i++) {                                               \
        const CT *row = C + i * cols;                                                    \
        for (ptrdiff_t j = 0; j < cols; j++)                                             \
            S[j] = (int64_t)((uint64_t)S[j] + (uint64_t)(int64_t)row[j]);                \
    }                                                                                    \
    for (ptrdiff_t j = 0; j < cols; j++)                                                 \
        total += (uint64_t)S[j];                                                         \
    return (int64_t)total;                                                               \
}
FASTNN_COLSUMS(int32_t, i32)
FASTNN_COLSUMS(int64_t, i64)

/* The same for an int32 C whose products all stay below 2^53 (the driver
 * checks max(C)·N and max(S)²): each int64 product is then exact in double,
 * so products of the converted factors give the same doubles, in vector
 * registers (int64 multiplies and conversions have none before AVX-512). */
FASTNN_CLONES static void fastnn_ppmi_arg_exact(const int32_t *C, ptrdiff_t ncols,
        const double *S, double N, double eps, ptrdiff_t r0, ptrdiff_t r1, double *out)
{
    for (ptrdiff_t i = r0; i < r1; i++) {
        const int32_t *row = C + i * ncols;
        const double si = S[i];
        double *o = out + (i - r0) * ncols;
        for (ptrdiff_t j = 0; j < ncols; j++)
            o[j] = ((double)row[j] * N) / (S[j] * si) + eps;
    }
}

/* M = pmi where pmi > 0, else 0 (NaN gives 0, as the book's max(0, pmi)),
 * rounded to float. */
FASTNN_CLONES static void fastnn_ppmi_store(const double *pmi, float *M, ptrdiff_t n)
{
    /* pmi > 0 tested on its bits (a positive double, +inf included, is an
     * int64 in (0, 0x7FF0...0]; NaNs lie above), so the loop has no
     * floating-point compare that GCC would keep as a branch (trapping math):
     * it vectorizes. */
    for (ptrdiff_t i = 0; i < n; i++) {
        int64_t b;
        double q;
        memcpy(&b, pmi + i, sizeof b);
        b &= -(int64_t)((b > 0) & (b <= (int64_t)0x7FF0000000000000LL));
        memcpy(&q, &b, sizeof q);
        M[i] = (float)q;
    }
}

#endif /* FASTNN_NLP_SIMD_H */
