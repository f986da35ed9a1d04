/* Kernels of the sparse word2vec mode (sparse_rows.pyx): gradients as
 * (distinct row ids, their rows), built by hashing the ids instead of
 * scattering into a dense (V, H) array, and the lazy (row-gather) Adam
 * step over those rows.  The float loops exist as name_f and name_d
 * (FASTNN_BY_DTYPE, fastnn_common.h). */
#ifndef FASTNN_SPARSE_ROWS_SIMD_H
#define FASTNN_SPARSE_ROWS_SIMD_H

#include "fastnn_common.h"
/* The Adam loops of the sequel's Adam (float32, nlp_simd.h) and of float64
 * arrays (optim_simd.h); those families' other loops go unused here. */
#if defined(__GNUC__)
#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include "nlp_simd.h"
#include "optim_simd.h"
#if defined(__GNUC__)
#  pragma GCC diagnostic pop
#endif
#include "pairwise.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define T float
#define FASTNN_SUFFIX f
#include "sparse_rows_loops.h"
#undef T
#undef FASTNN_SUFFIX
#define T double
#define FASTNN_SUFFIX d
#include "sparse_rows_loops.h"
#undef T
#undef FASTNN_SUFFIX

#define fastnn_rows_mean(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_rows_mean, __VA_ARGS__)
#define fastnn_rows_dot(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_rows_dot, __VA_ARGS__)
#define fastnn_rows_dot_backward(f32, ...) \
    FASTNN_BY_DTYPE(f32, fastnn_rows_dot_backward, __VA_ARGS__)
#define fastnn_rows_mean_backward(f32, ...) \
    FASTNN_BY_DTYPE(f32, fastnn_rows_mean_backward, __VA_ARGS__)

/* The position of the first id outside [0, V), or -1 when all are inside. */
static ptrdiff_t fastnn_first_bad_id(const int64_t *ids, ptrdiff_t n, int64_t V)
{
    for (ptrdiff_t i = 0; i < n; i++)
        if ((uint64_t)ids[i] >= (uint64_t)V)
            return i;
    return -1;
}

/* The distinct values of ids[0:n], in order of first occurrence, into uniq;
 * inv[i] = the position of ids[i] in uniq.  Returns their count u, or -1
 * when the hash table cannot be allocated.  An open-addressing table of at
 * least 2n slots (Fibonacci hashing, linear probing): O(n) whatever V is,
 * and no state kept between calls. */
static ptrdiff_t fastnn_dedupe(const int64_t *ids, ptrdiff_t n, int64_t *uniq, int64_t *inv)
{
    int bits = 4;
    while (((ptrdiff_t)1 << bits) < 2 * n)
        bits++;
    const size_t cap = (size_t)1 << bits, mask = cap - 1;
    int64_t *slot = (int64_t *)malloc(cap * sizeof(int64_t));
    if (slot == NULL)
        return -1;
    memset(slot, 0xff, cap * sizeof(int64_t));          /* every slot -1: empty */
    ptrdiff_t u = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        const int64_t id = ids[i];
        size_t s = (size_t)(((uint64_t)id * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - bits));
        for (;;) {
            const int64_t at = slot[s];
            if (at < 0) {                                /* new id */
                slot[s] = u;
                uniq[u] = id;
                inv[i] = u++;
                break;
            }
            if (uniq[at] == id) {
                inv[i] = at;
                break;
            }
            s = (s + 1) & mask;
        }
    }
    free(slot);
    return u;
}

/* The lazy Adam step on the rows ids[lo:hi] of p, m, v (each V x H), with g
 * (u x H) their gradient rows: each row r = ids[k] takes the dense Adam
 * loop of its dtype over its H entries, the very loops of the sequel's
 * Adam (float32: nlp_simd.h's fastnn_adam_f32_wide_lr, m and v in float,
 * the step in double from the float64 lr_t; float64: optim_simd.h's
 * fastnn_adam_d, NumpyOps's formula), so a step that touches every row is
 * Adam's, bit for bit.  The ids must be distinct. */
static void fastnn_lazy_adam_f(float *p, float *m, float *v, ptrdiff_t H,
        const int64_t *ids, const float *g, ptrdiff_t lo, ptrdiff_t hi, double lr_t,
        float b1c, float b2c, float eps)
{
    for (ptrdiff_t k = lo; k < hi; k++) {
        const ptrdiff_t off = (ptrdiff_t)ids[k] * H;
        fastnn_adam_f32_wide_lr(p + off, g + k * H, m + off, v + off, 0, H, lr_t, b1c, b2c,
                                eps);
    }
}

static void fastnn_lazy_adam_d(double *p, double *m, double *v, ptrdiff_t H,
        const int64_t *ids, const double *g, ptrdiff_t lo, ptrdiff_t hi, double lr_t,
        double b1c, double b2c, double eps)
{
    for (ptrdiff_t k = lo; k < hi; k++) {
        const ptrdiff_t off = (ptrdiff_t)ids[k] * H;
        fastnn_adam_d(p + off, g + k * H, m + off, v + off, H, b1c, b2c, lr_t, eps);
    }
}

/* Negative samples for the sparse mode with sampler_mode='fast': for each of
 * the B targets, S distinct ids other than the target, by successive
 * sampling without replacement from the alias table (prob, alias) of the
 * unigram distribution (draw i uniformly in [0, V), keep it with
 * probability prob[i], else take alias[i]; a repeat or the target is drawn
 * again): the distribution of the book's sampler and of NumpyOps's
 * unigram_sample_fast, not their streams.  uniform() returns a double in
 * [0, 1) from the caller's generator.  Returns -1, or the first row that
 * found no S ids in max_draws draws. */
typedef double (*fastnn_uniform_fn)(void *state);

static ptrdiff_t fastnn_alias_sample(const double *prob, const int64_t *alias, ptrdiff_t V,
        const int64_t *target, ptrdiff_t B, ptrdiff_t S, fastnn_uniform_fn uniform,
        void *state, int64_t max_draws, int64_t *out)
{
    for (ptrdiff_t b = 0; b < B; b++) {
        int64_t *row = out + b * S;
        const int64_t t = target[b];
        ptrdiff_t n = 0;
        int64_t draws = 0;
        while (n < S) {
            if (draws++ >= max_draws)
                return b;
            int64_t i = (int64_t)(uniform(state) * (double)V);
            if (i >= V)
                i = V - 1;
            const int64_t w = uniform(state) < prob[i] ? i : alias[i];
            if (w == t)
                continue;
            ptrdiff_t k = 0;
            while (k < n && row[k] != w)
                k++;
            if (k == n)
                row[n++] = w;
        }
    }
    return -1;
}

#endif /* FASTNN_SPARSE_ROWS_SIMD_H */
