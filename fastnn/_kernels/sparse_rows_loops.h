/* A template (fastnn_common.h: loop templates): included by sparse_rows_simd.h
 * once per element type, with T and FASTNN_SUF(name) bound; no include guard.
 *
 * The row kernels of the sparse word2vec mode (sparse_rows.pyx).  Ids are
 * int64 in [0, V) (the driver checks them), rows of H entries. */

/* h[b] = (W[ids[b,0]] + W[ids[b,1]] + ... + W[ids[b,C-1]]) * scale, the sum
 * in T from left to right (the book's ``h += layer.forward(...)`` loop, then
 * ``h *= 1 / C``); C >= 1. */
FASTNN_CLONES static void FASTNN_SUF(fastnn_rows_mean)(const T *W, ptrdiff_t H,
        const int64_t *ids, ptrdiff_t B, ptrdiff_t C, T scale, T *h)
{
    for (ptrdiff_t b = 0; b < B; b++) {
        T *out = h + b * H;
        const T *first = W + ids[b * C] * H;
        for (ptrdiff_t j = 0; j < H; j++)
            out[j] = first[j];
        for (ptrdiff_t c = 1; c < C; c++) {
            const T *row = W + ids[b * C + c] * H;
            FASTNN_IVDEP            /* h is the driver's new array */
            for (ptrdiff_t j = 0; j < H; j++)
                out[j] += row[j];
        }
        for (ptrdiff_t j = 0; j < H; j++)
            out[j] *= scale;
    }
}

/* out[b,k] = W[ids[b,k]] . h[b], as np.sum(W[idx] * h, axis=1) adds it
 * (pairwise.h's tree over the rounded products). */
static void FASTNN_SUF(fastnn_rows_dot)(const T *W, ptrdiff_t H, const int64_t *ids,
        ptrdiff_t B, ptrdiff_t K, const T *h, T *out)
{
    for (ptrdiff_t b = 0; b < B; b++)
        for (ptrdiff_t k = 0; k < K; k++)
            out[b * K + k] = FASTNN_SUF(fastnn_pairwise_dot)(W + ids[b * K + k] * H,
                                                             h + b * H, H);
}

/* The backward pass of rows_dot for d = dL/dout (B x K):
 *   rows (u x H) = 0, then rows[inv[b*K+k]] += d[b,k] * h[b]   (b, k in order)
 *   dh[b] = d[b,0]*W[ids[b,0]] + ... + d[b,K-1]*W[ids[b,K-1]]  (k in order)
 * inv[i] is ids[i]'s position among the u distinct ids (fastnn_dedupe). */
FASTNN_CLONES static void FASTNN_SUF(fastnn_rows_dot_backward)(const T *W, ptrdiff_t H,
        const int64_t *ids, const int64_t *inv, ptrdiff_t B, ptrdiff_t K, const T *h,
        const T *d, T *rows, ptrdiff_t u, T *dh)
{
    memset(rows, 0, (size_t)u * (size_t)H * sizeof(T));
    for (ptrdiff_t b = 0; b < B; b++) {
        const T *hb = h + b * H;
        T *dhb = dh + b * H;
        for (ptrdiff_t j = 0; j < H; j++)
            dhb[j] = 0;
        for (ptrdiff_t k = 0; k < K; k++) {
            const T dk = d[b * K + k];
            T *row = rows + inv[b * K + k] * H;
            const T *w = W + ids[b * K + k] * H;
            FASTNN_IVDEP            /* rows and dh are the driver's new arrays */
            for (ptrdiff_t j = 0; j < H; j++) {
                row[j] += dk * hb[j];
                dhb[j] += dk * w[j];
            }
        }
    }
}

/* The backward pass of rows_mean for dh (B x H): rows (u x H) = 0, then
 * rows[inv[b*C+c]] += dh[b] * scale for every b, c in order. */
FASTNN_CLONES static void FASTNN_SUF(fastnn_rows_mean_backward)(const T *dh, ptrdiff_t H,
        const int64_t *inv, ptrdiff_t B, ptrdiff_t C, T scale, T *rows, ptrdiff_t u)
{
    memset(rows, 0, (size_t)u * (size_t)H * sizeof(T));
    for (ptrdiff_t b = 0; b < B; b++) {
        const T *g = dh + b * H;
        for (ptrdiff_t c = 0; c < C; c++) {
            T *row = rows + inv[b * C + c] * H;
            FASTNN_IVDEP            /* rows is the driver's new array */
            for (ptrdiff_t j = 0; j < H; j++)
                row[j] += g[j] * scale;
        }
    }
}
