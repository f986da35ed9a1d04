/* A template (fastnn_common.h: loop templates): included by batchnorm_simd.h once
 * per element type, with T and FASTNN_SUF(name) bound; no include guard. */

/* Welford: mean and M2 = sum (x - mean)^2 of each of w columns, in double. */
FASTNN_CLONES FASTNN_NOJAM static void FASTNN_SUF(fastnn_bn_stats)(
    const T *restrict x, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t w,
    double *restrict mean, double *restrict m2)
{
    for (ptrdiff_t j = 0; j < w; j++) { mean[j] = 0.0; m2[j] = 0.0; }
    for (ptrdiff_t i = 0; i < n; i++) {
        const double r = 1.0 / (double)(i + 1);
        const T *restrict row = x + i * ld;
        for (ptrdiff_t j = 0; j < w; j++) {
            double v = (double)row[j];
            double dl = v - mean[j];
            double mj = mean[j] + dl * r;
            mean[j] = mj;
            m2[j] = m2[j] + dl * (v - mj);
        }
    }
}
/* sd = sum dout, sdx = sum dout * xn per column, in double */
FASTNN_CLONES FASTNN_NOJAM static void FASTNN_SUF(fastnn_bn_grad_sums)(
    const T *restrict dout, const T *restrict xn, ptrdiff_t n, ptrdiff_t ld,
    ptrdiff_t w, double *restrict sd, double *restrict sdx)
{
    memset(sd, 0, (size_t)w * sizeof(double));
    memset(sdx, 0, (size_t)w * sizeof(double));
    for (ptrdiff_t i = 0; i < n; i++) {
        const T *restrict rd = dout + i * ld;
        const T *restrict rn = xn + i * ld;
        for (ptrdiff_t j = 0; j < w; j++) {
            double g = (double)rd[j];
            sd[j] = sd[j] + g;
            sdx[j] = sdx[j] + g * (double)rn[j];
        }
    }
}
/* xc = x - mu; xn = xc * inv; out = g * xn + b */
FASTNN_CLONES FASTNN_NOJAM static void FASTNN_SUF(fastnn_bn_normalize)(
    const T *restrict x, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t w, ptrdiff_t ldo,
    const T *restrict mu, const T *restrict inv, const T *restrict g,
    const T *restrict b, T *restrict xc, T *restrict xn, T *restrict out)
{
    for (ptrdiff_t i = 0; i < n; i++)
        for (ptrdiff_t j = 0; j < w; j++) {
            T c = x[i * ld + j] - mu[j];
            T z = c * inv[j];
            xc[i * ldo + j] = c;
            xn[i * ldo + j] = z;
            out[i * ldo + j] = g[j] * z + b[j];
        }
}
/* out = (x - rm) * scale + b */
FASTNN_CLONES FASTNN_NOJAM static void FASTNN_SUF(fastnn_bn_infer)(
    const T *restrict x, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t w, ptrdiff_t ldo,
    const T *restrict rm, const T *restrict scale, const T *restrict b,
    T *restrict out)
{
    for (ptrdiff_t i = 0; i < n; i++)
        for (ptrdiff_t j = 0; j < w; j++) {
            out[i * ldo + j] = (x[i * ld + j] - rm[j]) * scale[j] + b[j];
        }
}
/* dx = a * ((dout - cb) - xn * cg) */
FASTNN_CLONES FASTNN_NOJAM static void FASTNN_SUF(fastnn_bn_dx)(
    const T *restrict dout, const T *restrict xn, ptrdiff_t n, ptrdiff_t ld,
    ptrdiff_t w, const T *restrict a, const T *restrict cb,
    const T *restrict cg, T *restrict dx)
{
    for (ptrdiff_t i = 0; i < n; i++)
        for (ptrdiff_t j = 0; j < w; j++) {
            dx[i * ld + j] = a[j] * ((dout[i * ld + j] - cb[j]) - xn[i * ld + j] * cg[j]);
        }
}

/* The w columns from j0 of a call (the per-column arrays are indexed by the
   absolute column), with scratch room for 5*w doubles. */

/* The per-column steps between the passes, for columns [j0, j0 + w) (the
   per-column arrays here indexed from j0), shared by the column blocks below
   and the row blocks at the end. */

/* Training: from each column's mean and M2, std = sqrt(M2/n + eps), the
   running statistics (if any) momentum*running + (1-momentum)*batch, and mu,
   inv for the normalizing pass. */
static void FASTNN_SUF(fastnn_bn_finish_stats)(const fastnn_bn_call *c, ptrdiff_t j0,
                                               ptrdiff_t w, double *mean, const double *m2,
                                               T *mu, T *inv)
{
    const ptrdiff_t n = c->n, ld = c->ld;
    const T *x = (const T *)c->x;
    T *std = (T *)c->std, *rm = (T *)c->running_mean, *rv = (T *)c->running_var;
    for (ptrdiff_t j = 0; j < w; j++) {
        if (mean[j] != mean[j]) {
            /* Welford's update turns a column holding +-inf into NaN (inf -
               inf); the plain sum gives NumPy's mean: +-inf, or NaN for a
               real NaN or for +inf and -inf together. */
            double s = 0.0;
            for (ptrdiff_t i = 0; i < n; i++)
                s = s + (double)x[i * ld + j0 + j];
            mean[j] = s / (double)n;
        }
        double var = m2[j] / (double)n;
        double s = sqrt(var + c->eps);
        std[j0 + j] = (T)s;
        mu[j] = (T)mean[j];
        inv[j] = (T)(1.0 / s);
        if (rm != NULL) {
            rm[j0 + j] = (T)(c->momentum * rm[j0 + j]
                             + (1.0 - c->momentum) * mean[j]);
            rv[j0 + j] = (T)(c->momentum * rv[j0 + j]
                             + (1.0 - c->momentum) * var);
        }
    }
}

/* Inference: scale = gamma/sqrt(running_var + eps) */
static void FASTNN_SUF(fastnn_bn_scales)(const fastnn_bn_call *c, ptrdiff_t j0, ptrdiff_t w,
                                         T *scale)
{
    const T *gamma = (const T *)c->gamma, *rv = (const T *)c->running_var;
    for (ptrdiff_t j = 0; j < w; j++)
        scale[j] = (T)((double)gamma[j0 + j] / sqrt((double)rv[j0 + j] + c->eps));
}

/* Backward: from each column's sums, dbeta and dgamma, and a = gamma/std,
   cb = dbeta/n, cg = dgamma/n for dx. */
static void FASTNN_SUF(fastnn_bn_finish_grads)(const fastnn_bn_call *c, ptrdiff_t j0,
                                               ptrdiff_t w, const double *sd,
                                               const double *sdx, T *a, T *cb, T *cg)
{
    const T *gamma = (const T *)c->gamma, *std = (const T *)c->std;
    T *dgamma = (T *)c->dgamma, *dbeta = (T *)c->dbeta;
    for (ptrdiff_t j = 0; j < w; j++) {
        dbeta[j0 + j] = (T)sd[j];
        dgamma[j0 + j] = (T)sdx[j];
        a[j] = (T)((double)gamma[j0 + j] / (double)std[j0 + j]);
        cb[j] = (T)(sd[j] / (double)c->n);
        cg[j] = (T)(sdx[j] / (double)c->n);
    }
}

/* Training: Welford's mean and M2, the step between, the normalizing pass. */
static void FASTNN_SUF(fastnn_bn_train_block)(const fastnn_bn_call *c, ptrdiff_t j0,
                                        ptrdiff_t w, double *scratch)
{
    const T *x = (const T *)c->x;
    double *mean = scratch, *m2 = mean + w;
    T *mu = (T *)(m2 + w), *inv = mu + w;
    FASTNN_SUF(fastnn_bn_stats)(x + j0, c->n, c->ld, w, mean, m2);
    FASTNN_SUF(fastnn_bn_finish_stats)(c, j0, w, mean, m2, mu, inv);
    FASTNN_SUF(fastnn_bn_normalize)(x + j0, c->n, c->ld, w, c->d, mu, inv,
                              (const T *)c->gamma + j0, (const T *)c->beta + j0,
                              (T *)c->xc + j0, (T *)c->xn + j0, (T *)c->out + j0);
}
/* Inference: out = (x - running_mean) * gamma/sqrt(running_var + eps) + beta */
static void FASTNN_SUF(fastnn_bn_infer_block)(const fastnn_bn_call *c, ptrdiff_t j0,
                                        ptrdiff_t w, double *scratch)
{
    T *scale = (T *)scratch;
    FASTNN_SUF(fastnn_bn_scales)(c, j0, w, scale);
    FASTNN_SUF(fastnn_bn_infer)((const T *)c->x + j0, c->n, c->ld, w, c->d,
                          (const T *)c->running_mean + j0, scale,
                          (const T *)c->beta + j0, (T *)c->out + j0);
}
/* Backward (dout and xn C-contiguous): dbeta = sum dout, dgamma = sum xn*dout,
   dx = (gamma/std) * (dout - dbeta/n - xn*dgamma/n). */
static void FASTNN_SUF(fastnn_bn_backward_block)(const fastnn_bn_call *c, ptrdiff_t j0,
                                           ptrdiff_t w, double *scratch)
{
    const ptrdiff_t n = c->n, d = c->d;
    const T *dout = (const T *)c->dout, *xn = (const T *)c->xn;
    double *sd = scratch, *sdx = sd + w;
    T *a = (T *)(sdx + w), *cb = a + w, *cg = cb + w;
    FASTNN_SUF(fastnn_bn_grad_sums)(dout + j0, xn + j0, n, d, w, sd, sdx);
    FASTNN_SUF(fastnn_bn_finish_grads)(c, j0, w, sd, sdx, a, cb, cg);
    FASTNN_SUF(fastnn_bn_dx)(dout + j0, xn + j0, n, d, w, a, cb, cg, (T *)c->dx + j0);
}

/* -- Row blocks (batchnorm_simd.h: fastnn_bn_rows_*) ---------------------------
 * A call of n >= 2 * FASTNN_BN_RB rows runs over fixed blocks of FASTNN_BN_RB
 * rows, whatever the thread count: each block's pass touches only its rows,
 * and the per-column statistics of the blocks are combined on one thread in
 * block order. */

/* Training, block b: Welford's mean and M2 of its rows (stats + 2d·b) */
static void FASTNN_SUF(fastnn_bn_rows_stats)(const fastnn_bn_rows_job *k, ptrdiff_t r0,
                                             ptrdiff_t r1, double *stats)
{
    const fastnn_bn_call *c = k->c;
    FASTNN_SUF(fastnn_bn_stats)((const T *)c->x + r0 * c->ld, r1 - r0, c->ld, c->d, stats,
                                stats + c->d);
}

/* Training, between the passes: the blocks' (count, mean, M2) combined in
 * block order (Chan, Golub and LeVeque's pairwise update), block by block
 * over all columns (the counts do not depend on the column), into block 0's
 * statistics; then the column blocks' step between (fastnn_bn_finish_stats). */
static void FASTNN_SUF(fastnn_bn_rows_combine)(const fastnn_bn_rows_job *k)
{
    const fastnn_bn_call *c = k->c;
    const ptrdiff_t n = c->n, d = c->d;
    T *mu = (T *)k->cols, *inv = mu + d;
    double *restrict mean = k->stats, *restrict m2 = k->stats + d;
    double na = (double)FASTNN_BN_RB;        /* n >= 2 blocks: block 0 is whole */
    for (ptrdiff_t b = 1; b < k->nb; b++) {
        const double *restrict s = k->stats + 2 * d * b;
        ptrdiff_t r1 = (b + 1) * FASTNN_BN_RB < n ? (b + 1) * FASTNN_BN_RB : n;
        const double nb = (double)(r1 - b * FASTNN_BN_RB), nab = na + nb;
        const double f1 = nb / nab, f2 = na * nb / nab;
        for (ptrdiff_t j = 0; j < d; j++) {
            /* delta·(delta·f2), not (delta·delta)·f2: a one-row last block
             * has f2 = na/(na + 1) < 1, and delta² may overflow where its
             * share of M2 (and Welford's single pass) does not; f2 >= 1
             * otherwise, so delta·f2 overflows only when the product does. */
            double delta = s[j] - mean[j];
            mean[j] = mean[j] + delta * f1;
            m2[j] = m2[j] + s[d + j] + delta * (delta * f2);
        }
        na = nab;
    }
    FASTNN_SUF(fastnn_bn_finish_stats)(c, 0, d, mean, m2, mu, inv);
}

/* Training, second pass over rows [r0, r1) */
static void FASTNN_SUF(fastnn_bn_rows_normalize)(const fastnn_bn_rows_job *k, ptrdiff_t r0,
                                                 ptrdiff_t r1)
{
    const fastnn_bn_call *c = k->c;
    const ptrdiff_t d = c->d;
    const T *mu = (const T *)k->cols, *inv = mu + d;
    FASTNN_SUF(fastnn_bn_normalize)((const T *)c->x + r0 * c->ld, r1 - r0, c->ld, d, d, mu,
                                    inv, (const T *)c->gamma, (const T *)c->beta,
                                    (T *)c->xc + r0 * d, (T *)c->xn + r0 * d,
                                    (T *)c->out + r0 * d);
}

/* Inference: the scale of each column (once), then rows [r0, r1) */
static void FASTNN_SUF(fastnn_bn_rows_scale)(const fastnn_bn_rows_job *k)
{
    FASTNN_SUF(fastnn_bn_scales)(k->c, 0, k->c->d, (T *)k->cols);
}

static void FASTNN_SUF(fastnn_bn_rows_infer)(const fastnn_bn_rows_job *k, ptrdiff_t r0,
                                             ptrdiff_t r1)
{
    const fastnn_bn_call *c = k->c;
    FASTNN_SUF(fastnn_bn_infer)((const T *)c->x + r0 * c->ld, r1 - r0, c->ld, c->d, c->d,
                                (const T *)c->running_mean, (const T *)k->cols,
                                (const T *)c->beta, (T *)c->out + r0 * c->d);
}

/* Backward, block b: the sums of dout and dout·xn over its rows */
static void FASTNN_SUF(fastnn_bn_rows_grad_sums)(const fastnn_bn_rows_job *k, ptrdiff_t r0,
                                                 ptrdiff_t r1, double *stats)
{
    const fastnn_bn_call *c = k->c;
    const ptrdiff_t d = c->d;
    FASTNN_SUF(fastnn_bn_grad_sums)((const T *)c->dout + r0 * d, (const T *)c->xn + r0 * d,
                                    r1 - r0, d, d, stats, stats + d);
}

/* Backward, between the passes: the blocks' sums added in block order, into
 * block 0's */
static void FASTNN_SUF(fastnn_bn_rows_grad_combine)(const fastnn_bn_rows_job *k)
{
    const ptrdiff_t d = k->c->d;
    T *a = (T *)k->cols, *cb = a + d, *cg = cb + d;
    double *restrict sd = k->stats, *restrict sdx = k->stats + d;
    for (ptrdiff_t b = 1; b < k->nb; b++) {
        const double *restrict s = k->stats + 2 * d * b;
        for (ptrdiff_t j = 0; j < d; j++) {
            sd[j] = sd[j] + s[j];
            sdx[j] = sdx[j] + s[d + j];
        }
    }
    FASTNN_SUF(fastnn_bn_finish_grads)(k->c, 0, d, sd, sdx, a, cb, cg);
}

static void FASTNN_SUF(fastnn_bn_rows_dx)(const fastnn_bn_rows_job *k, ptrdiff_t r0,
                                          ptrdiff_t r1)
{
    const fastnn_bn_call *c = k->c;
    const ptrdiff_t d = c->d;
    const T *a = (const T *)k->cols, *cb = a + d, *cg = cb + d;
    FASTNN_SUF(fastnn_bn_dx)((const T *)c->dout + r0 * d, (const T *)c->xn + r0 * d, r1 - r0,
                             d, d, a, cb, cg, (T *)c->dx + r0 * d);
}
