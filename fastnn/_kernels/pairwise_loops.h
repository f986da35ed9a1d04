/* A template (fastnn_common.h: loop templates): included by pairwise.h once
 * per element type, with T and FASTNN_SUF(name) bound; no include guard. */

/* the tree of np.sum(a[:n]) */
static T FASTNN_SUF(fastnn_pairwise_tree)(const T *a, ptrdiff_t n)
{
    if (n < 8) {
        T res = -0.0;       /* NumPy's start: keeps a sum of -0.0 entries -0.0 */
        for (ptrdiff_t i = 0; i < n; i++)
            res += a[i];
        return res;
    }
    if (n <= 128) {
        T r[8];
        ptrdiff_t i;
        for (int u = 0; u < 8; u++)
            r[u] = a[u];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int u = 0; u < 8; u++)
                r[u] += a[i + u];
        T res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            res += a[i];
        return res;
    }
    ptrdiff_t n2 = n / 2;
    n2 -= n2 % 8;
    return FASTNN_SUF(fastnn_pairwise_tree)(a, n2) + FASTNN_SUF(fastnn_pairwise_tree)(a + n2, n - n2);
}

/* the tree of np.sum(a[:n] * b[:n]), the products formed as the sum goes */
static T FASTNN_SUF(fastnn_pairwise_dot_tree)(const T *a, const T *b, ptrdiff_t n)
{
    if (n < 8) {
        T res = -0.0;
        for (ptrdiff_t i = 0; i < n; i++) {
            T p = a[i] * b[i];
            res += p;
        }
        return res;
    }
    if (n <= 128) {
        T r[8];
        ptrdiff_t i;
        for (int u = 0; u < 8; u++)
            r[u] = a[u] * b[u];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int u = 0; u < 8; u++) {
                T p = a[i + u] * b[i + u];
                r[u] += p;
            }
        T res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) {
            T p = a[i] * b[i];
            res += p;
        }
        return res;
    }
    ptrdiff_t n2 = n / 2;
    n2 -= n2 % 8;
    return FASTNN_SUF(fastnn_pairwise_dot_tree)(a, b, n2)
         + FASTNN_SUF(fastnn_pairwise_dot_tree)(a + n2, b + n2, n - n2);
}

/* np.sum(a[:n]): NumPy's reduction starts from the identity, +0, and adds
 * the tree to it (so a sum of -0.0 entries is +0.0, as NumPy's) */
static T FASTNN_SUF(fastnn_pairwise_sum)(const T *a, ptrdiff_t n)
{
    return (T)0 + FASTNN_SUF(fastnn_pairwise_tree)(a, n);
}

/* np.sum(a[:n] * b[:n]) */
static T FASTNN_SUF(fastnn_pairwise_dot)(const T *a, const T *b, ptrdiff_t n)
{
    return (T)0 + FASTNN_SUF(fastnn_pairwise_dot_tree)(a, b, n);
}
