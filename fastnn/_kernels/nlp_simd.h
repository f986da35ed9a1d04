/* Kernels of the sequel's util and layers (nlp.pyx): the embedding's
 * scatter-add, clip_grads' sum of squares and scaling, the co-occurrence
 * count and PPMI's element pass.  Each float loop exists as name_f (float)
 * and name_d (double), reached through its dtype-generic name
 * (FASTNN_BY_DTYPE, fastnn_common.h). */
#ifndef FASTNN_NLP_SIMD_H
#define FASTNN_NLP_SIMD_H

#include "fastnn_common.h"
#include "pairwise.h"
#include <math.h>

/* The float loops, once per element type (fastnn_common.h: loop templates),
 * over pairwise.h's reproduction of NumPy's pairwise sum. */
#define T float
#define FASTNN_SUFFIX f
#include "nlp_loops.h"
#undef T
#undef FASTNN_SUFFIX
#define T double
#define FASTNN_SUFFIX d
#include "nlp_loops.h"
#undef T
#undef FASTNN_SUFFIX


/* The embedding's scatter-add: float and double, and float dW from double dout
 * (fastnn_embed_scatter_wide). */
#define T float
#define ST float
#define FASTNN_SUFFIX f
#include "nlp_scatter_loops.h"
#undef FASTNN_SUFFIX
#undef ST
#define ST double
#define FASTNN_SUFFIX wide
#include "nlp_scatter_loops.h"
#undef FASTNN_SUFFIX
#undef ST
#undef T
#define T double
#define ST double
#define FASTNN_SUFFIX d
#include "nlp_scatter_loops.h"
#undef FASTNN_SUFFIX
#undef ST
#undef T
#define fastnn_embed_scatter(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_embed_scatter, __VA_ARGS__)

/* remove_duplicate's fused sum of gradients (nlp_dupsum_loops.h), into a
 * float or a double sum; blocks of 16384 entries (64 or 128 KiB: in L2).  Measured
 * (10 inputs of 1M floats, cold, one thread): the inputs one by one over
 * 2048-entry blocks were slower than NumPy's ten passes; four in one loop over
 * 16384-entry blocks, about 25% faster. */
#define FASTNN_DUPSUM_BLOCK 16384
#define T float
#define FASTNN_SUFFIX f
#include "nlp_dupsum_loops.h"
#undef FASTNN_SUFFIX
#undef T
#define T double
#define FASTNN_SUFFIX d
#include "nlp_dupsum_loops.h"
#undef FASTNN_SUFFIX
#undef T
#define fastnn_dup_sum(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_dup_sum, __VA_ARGS__)
#define fastnn_dup_sum_rows(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_dup_sum_rows, __VA_ARGS__)

/* The sequel's Adam on float32 arrays, n entries from [lo, hi): its lr_t is a
 * NumPy float64 (np.sqrt of a Python float), so NumPy computes the update
 * lr_t·m / (√v + eps) in float64 and subtracts it from p in float64,
 * rounding the result to float32; m and v stay float32 (the Python floats
 * 1 - β are rounded to float32, as NumPy 2 rounds a weak scalar). */
FASTNN_CLONES static void fastnn_adam_f32_wide_lr(float *p, const float *g, float *m, float *v,
        ptrdiff_t lo, ptrdiff_t hi, double lr_t, float b1c, float b2c, float eps)
{
    for (ptrdiff_t i = lo; i < hi; i++) {
        float gi = g[i];
        float mi = m[i] + b1c * (gi - m[i]);
        float vi = v[i] + b2c * (gi * gi - v[i]);
        m[i] = mi;
        v[i] = vi;
        float den = sqrtf(vi) + eps;
        double step = ((double)lr_t * (double)mi) / (double)den;
        p[i] = (float)((double)p[i] - step);
    }
}

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
#define CT int32_t
#define FASTNN_SUFFIX i32
#include "nlp_int_loops.h"
#undef CT
#undef FASTNN_SUFFIX
#define CT int64_t
#define FASTNN_SUFFIX i64
#include "nlp_int_loops.h"
#undef CT
#undef FASTNN_SUFFIX

/* S[j] = sum_i C[i][j] in int64, wrapping as NumPy's int64 sums do (modular
 * addition: any order gives NumPy's value); returns the total sum. */


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
