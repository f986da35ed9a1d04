/* A template (fastnn_common.h: loop templates): included by nlp_simd.h once
 * per element type, with T and FASTNN_SUF(name) bound; no include guard. */

/* Rows [lo, hi) of dW (V x D) set to 0, then dW[idx[i]] += dout[i] for every i in
 * order whose id falls in [lo, hi): each element adds in np.add.at's order.  Ids are
 * in [-V, V) (checked), negative ones counted from the end as NumPy does. */
FASTNN_CLONES static void FASTNN_SUF(fastnn_embed_scatter)(T *dW, ptrdiff_t V, ptrdiff_t D,
        const int64_t *idx, const T *dout, ptrdiff_t n, ptrdiff_t lo, ptrdiff_t hi)
{
    memset(dW + lo * D, 0, (size_t)(hi - lo) * (size_t)D * sizeof(T));
    for (ptrdiff_t i = 0; i < n; i++) {
        int64_t r = idx[i];
        if (r < 0)
            r += V;
        if (r < lo || r >= hi)
            continue;
        T *row = dW + r * D;
        const T *src = dout + i * D;
        for (ptrdiff_t d = 0; d < D; d++)
            row[d] += src[d];
    }
}

FASTNN_CLONES static void FASTNN_SUF(fastnn_scale)(T *g, ptrdiff_t n, double rate)
{
    const T s = (T)rate;
    for (ptrdiff_t i = 0; i < n; i++)
        g[i] *= s;
}

/* np.sum(g * g) over n entries, before NumPy adds it to its identity: the
 * pairwise tree of pairwise.h over the squares (each rounded to T) */
static T FASTNN_SUF(fastnn_pairwise_sq)(const T *g, ptrdiff_t n)
{
    return FASTNN_SUF(fastnn_pairwise_dot_tree)(g, g, n);
}
