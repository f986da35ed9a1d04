/* The batchnorm loops (C, so that GCC can clone them for AVX2; see
 * fastnn_common.h) and the column-block functions built on them. */
#ifndef FASTNN_BATCHNORM_SIMD_H
#define FASTNN_BATCHNORM_SIMD_H

#include "fastnn_common.h"
#include <stdlib.h>

/* One batch-norm call: the input x (n, d) with row stride ld (elements), the
 * per-column arrays (d,) and the outputs, C-contiguous (row stride d).  The
 * pointers are float or double, as f32 says; running_mean/var are NULL when
 * training leaves them alone. */
typedef struct {
    int f32;
    ptrdiff_t n, d, ld;
    const void *x, *gamma, *beta;      /* forward; backward: gamma */
    void *running_mean, *running_var;  /* updated by train, read by infer */
    double momentum, eps;
    void *out, *xc, *xn, *std;         /* train writes all four, infer out;
                                          backward reads xn and std */
    const void *dout;                  /* backward */
    void *dx, *dgamma, *dbeta;
} fastnn_bn_call;

/* A call over row blocks (the loops' fastnn_bn_rows_*): the blocks' statistics
 * (2d doubles a block) and three columns of T for what the passes share. */
#define FASTNN_BN_RB 64
typedef struct {
    const fastnn_bn_call *c;
    ptrdiff_t nb;                      /* blocks: ceil(n / FASTNN_BN_RB) */
    double *stats;
    void *cols;
} fastnn_bn_rows_job;

/* The loops, once per element type (fastnn_common.h: loop templates). */
#define T double
#define FASTNN_SUFFIX d
#include "batchnorm_loops.h"
#undef T
#undef FASTNN_SUFFIX
#define T float
#define FASTNN_SUFFIX f
#include "batchnorm_loops.h"
#undef T
#undef FASTNN_SUFFIX

/* What a block of a call computes. */
enum { FASTNN_BN_TRAIN, FASTNN_BN_INFER, FASTNN_BN_BACKWARD };

/* Columns [j0, j1) of call c, through the one float32/float64 dispatch
 * (fastnn_common.h).  Returns 0, or -1 when the block's scratch memory (two
 * double and up to three T columns per column) is not to be had. */
static inline int fastnn_bn_block(int what, const fastnn_bn_call *c, ptrdiff_t j0,
                                  ptrdiff_t j1)
{
    const ptrdiff_t w = j1 - j0;
    double *scratch;
    if (w <= 0)
        return 0;
    scratch = (double *)malloc(5 * (size_t)w * sizeof(double));
    if (scratch == NULL)
        return -1;
    if (what == FASTNN_BN_TRAIN)
        FASTNN_BY_DTYPE(c->f32, fastnn_bn_train_block, c, j0, w, scratch);
    else if (what == FASTNN_BN_INFER)
        FASTNN_BY_DTYPE(c->f32, fastnn_bn_infer_block, c, j0, w, scratch);
    else
        FASTNN_BY_DTYPE(c->f32, fastnn_bn_backward_block, c, j0, w, scratch);
    free(scratch);
    return 0;
}

/* Row blocks: the passes of a call, block by block, and the step between
 * them on one thread.  Phase 0 is the first pass (none for inference), phase
 * 1 the second. */
static inline int fastnn_bn_rows_alloc(fastnn_bn_rows_job *k, int what, const fastnn_bn_call *c)
{
    /* inference needs no statistics, only its d scales; +1: never malloc(0) */
    k->c = c;
    k->nb = (c->n + FASTNN_BN_RB - 1) / FASTNN_BN_RB;
    size_t stats = what == FASTNN_BN_INFER ? 0 : 2 * (size_t)k->nb * (size_t)c->d;
    k->stats = (double *)malloc((stats + 3 * (size_t)c->d + 1) * sizeof(double));
    k->cols = k->stats + stats;
    return k->stats == NULL ? -1 : 0;
}

static inline void fastnn_bn_rows_free(fastnn_bn_rows_job *k)
{
    free(k->stats);
    k->stats = NULL;
}

static inline void fastnn_bn_rows_piece(int what, int phase, const fastnn_bn_rows_job *k,
                                        ptrdiff_t b)
{
    const fastnn_bn_call *c = k->c;
    ptrdiff_t r0 = b * FASTNN_BN_RB;
    ptrdiff_t r1 = r0 + FASTNN_BN_RB < c->n ? r0 + FASTNN_BN_RB : c->n;
    if (what == FASTNN_BN_TRAIN) {
        if (phase == 0)
            FASTNN_BY_DTYPE(c->f32, fastnn_bn_rows_stats, k, r0, r1, k->stats + 2 * c->d * b);
        else
            FASTNN_BY_DTYPE(c->f32, fastnn_bn_rows_normalize, k, r0, r1);
    } else if (what == FASTNN_BN_INFER) {
        FASTNN_BY_DTYPE(c->f32, fastnn_bn_rows_infer, k, r0, r1);
    } else {
        if (phase == 0)
            FASTNN_BY_DTYPE(c->f32, fastnn_bn_rows_grad_sums, k, r0, r1,
                            k->stats + 2 * c->d * b);
        else
            FASTNN_BY_DTYPE(c->f32, fastnn_bn_rows_dx, k, r0, r1);
    }
}

static inline void fastnn_bn_rows_between(int what, const fastnn_bn_rows_job *k)
{
    if (what == FASTNN_BN_TRAIN)
        FASTNN_BY_DTYPE(k->c->f32, fastnn_bn_rows_combine, k);
    else if (what == FASTNN_BN_INFER)
        FASTNN_BY_DTYPE(k->c->f32, fastnn_bn_rows_scale, k);
    else
        FASTNN_BY_DTYPE(k->c->f32, fastnn_bn_rows_grad_combine, k);
}

#endif /* FASTNN_BATCHNORM_SIMD_H */
