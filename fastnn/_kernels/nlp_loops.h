/* A template (fastnn_common.h: loop templates): included by nlp_simd.h once
 * per element type, with T and FASTNN_SUF(name) bound; no include guard. */

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
