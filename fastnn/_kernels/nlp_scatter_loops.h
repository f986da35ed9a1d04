/* A template (fastnn_common.h: loop templates): included by nlp_simd.h once
 * per (dW, dout) element type pair, with T, ST and FASTNN_SUF(name) bound; no
 * include guard. */

/* Rows [lo, hi) of dW (V x D) set to 0 (when zero is nonzero; else the caller
 * zeroed the rows that were not), then dW[idx[i]] += dout[i] for every i in
 * order whose id falls in [lo, hi): each element adds in np.add.at's order.  Ids are
 * in [-V, V) (checked), negative ones counted from the end as NumPy does.  dout's
 * type ST is T, or double into a float dW (the book's CBOW: SigmoidWithLoss's y - t
 * meets int32 labels, so its embeddings get float64 gradients): np.add.at then adds
 * in float64 and rounds each sum to float32, as the expression below does. */
FASTNN_CLONES static void FASTNN_SUF(fastnn_embed_scatter)(T *dW, ptrdiff_t V, ptrdiff_t D,
        const int64_t *idx, const ST *dout, ptrdiff_t n, ptrdiff_t lo, ptrdiff_t hi, int zero)
{
    if (zero)
        memset(dW + lo * D, 0, (size_t)(hi - lo) * (size_t)D * sizeof(T));
    for (ptrdiff_t i = 0; i < n; i++) {
        int64_t r = idx[i];
        if (r < 0)
            r += V;
        if (r < lo || r >= hi)
            continue;
        T *row = dW + r * D;
        const ST *src = dout + i * D;
        for (ptrdiff_t d = 0; d < D; d++)
            row[d] = (T)(row[d] + src[d]);
    }
}
