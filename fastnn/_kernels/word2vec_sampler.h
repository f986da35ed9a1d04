/* The exact UnigramSampler's per-row arithmetic (word2vec.pyx), arranged so
 * that the rows' independent work overlaps:
 *
 * - p.sum() of word_p with one entry (the row's target) set to 0: NumPy's
 *   pairwise tree (pairwise.h) of word_p is built once per call, node by
 *   node; a row recomputes only the leaf (at most 128 entries) holding its
 *   target and the sums on the path above it, each the same addition of
 *   the same two values as in the whole tree of the modified vector.
 *
 * - the first round's cumulative sum cumsum(p / s), for FASTNN_SAMPLER_ROWS (8)
 *   rows at once: one chain per row, interleaved (entry j of row r at
 *   c[j * ROWS + r]), so that the divisions and the additions of different
 *   rows overlap (the compiler vectorizes the rows: one vector division and
 *   one vector addition per entry).  Each row's expressions are the
 *   sequential loop's, acc = acc + p[j] / s, in the same order: the same
 *   doubles.  One row alone was bound by the division's throughput and the
 *   addition's latency (about 5 cycles an entry).
 *
 * - a later round (a draw repeated an index) recomputes one row's chain in
 *   place from the smallest index newly found on: before it, nothing the
 *   round zeroes has been added, so the previous round's sums are the new
 *   ones. */
#ifndef FASTNN_WORD2VEC_SAMPLER_H
#define FASTNN_WORD2VEC_SAMPLER_H

#include "fastnn_common.h"
#include "pairwise.h"

#define FASTNN_SAMPLER_ROWS 8     /* fastnn_unigram_prefix_rows is written for 8 */

/* One node of the pairwise tree of np.sum(a[:n]), in preorder: its sum and
 * the index of its right child (-1 for a leaf; the left child is next). */
typedef struct {
    double sum;
    ptrdiff_t right;
} fastnn_pw_node;

/* The pairwise split of n > 128 entries (pairwise_loops.h) */
static inline ptrdiff_t fastnn_pw_half(ptrdiff_t n)
{
    ptrdiff_t n2 = n / 2;
    return n2 - n2 % 8;
}

/* Upper bound on the nodes of the tree of n entries: leaves hold at least
 * 64 entries (an n > 128 splits into halves of at least 64). */
static inline ptrdiff_t fastnn_pw_nodes_max(ptrdiff_t n)
{
    return 2 * (n / 64 + 1) + 1;
}

/* Fill nodes[k...] with the tree of a[:n]; returns the next free index. */
static ptrdiff_t fastnn_pw_build(const double *a, ptrdiff_t n, fastnn_pw_node *nodes, ptrdiff_t k)
{
    if (n <= 128) {
        nodes[k].sum = fastnn_pairwise_tree_d(a, n);
        nodes[k].right = -1;
        return k + 1;
    }
    ptrdiff_t n2 = fastnn_pw_half(n);
    ptrdiff_t r = fastnn_pw_build(a, n2, nodes, k + 1);
    ptrdiff_t end = fastnn_pw_build(a + n2, n - n2, nodes, r);
    nodes[k].right = r;
    nodes[k].sum = nodes[k + 1].sum + nodes[r].sum;
    return end;
}

/* The tree's sum of a[:n] with a[t] read as 0 (0 <= t < n), from the nodes
 * of a's own tree rooted at nodes[k]. */
static double fastnn_pw_tree_without(const double *a, ptrdiff_t n, ptrdiff_t t,
                                     const fastnn_pw_node *nodes, ptrdiff_t k)
{
    if (nodes[k].right < 0) {
        double leaf[128];
        memcpy(leaf, a, (size_t)n * sizeof(double));
        leaf[t] = 0.0;
        return fastnn_pairwise_tree_d(leaf, n);
    }
    ptrdiff_t n2 = fastnn_pw_half(n);
    if (t < n2)
        return fastnn_pw_tree_without(a, n2, t, nodes, k + 1) + nodes[nodes[k].right].sum;
    return nodes[k + 1].sum
         + fastnn_pw_tree_without(a + n2, n - n2, t - n2, nodes, nodes[k].right);
}

/* np.sum(p) for p = a.copy(); p[t] = 0 (the reduction's +0 start included) */
static double fastnn_pw_sum_without(const double *a, ptrdiff_t n, ptrdiff_t t,
                                    const fastnn_pw_node *nodes)
{
    return 0.0 + fastnn_pw_tree_without(a, n, t, nodes, 0);
}

/* The first round of ROWS rows: for each row r, c[j * ROWS + r] =
 * cumsum(p / s[r])[j], p = w with p[t[r]] = 0 (t[r] = -1: no entry zeroed).
 * Between the targets the rows share w[j]; at a target the row's entry is
 * 0.0, and 0.0 / s is what the book adds there.  With GCC or clang the
 * eight rows are two vectors of four (two chains in flight).
 *
 * The quotients: w[j] / s[r] for every entry, or, when cls is not NULL
 * (w[j] is vals[cls[j]] bit for bit, U distinct values: a unigram table
 * has few, since words of equal count have equal entries), vals[u] / s[r]
 * once per distinct value into q (U x ROWS), then read by class: the same
 * quotients, U divisions a row instead of V. */
#if defined(__GNUC__)
typedef double fastnn_v4d __attribute__((vector_size(32)));

/* The eight rows as two vectors of four (one 8-wide GCC vector went
 * through the stack at every entry). */
FASTNN_CLONES static void fastnn_unigram_prefix_rows(const double *w, ptrdiff_t V,
        const ptrdiff_t *t, const double *s, double *c, const int32_t *cls,
        const double *vals, ptrdiff_t U, double *q)
{
    fastnn_v4d a0 = {0.0, 0.0, 0.0, 0.0}, a1 = {0.0, 0.0, 0.0, 0.0};
    fastnn_v4d s0, s1;
    memcpy(&s0, s, sizeof s0);
    memcpy(&s1, s + 4, sizeof s1);
    if (cls != NULL)
        for (ptrdiff_t u = 0; u < U; u++) {
            const fastnn_v4d v = {vals[u], vals[u], vals[u], vals[u]};
            const fastnn_v4d q0 = v / s0, q1 = v / s1;
            memcpy(q + u * 8, &q0, sizeof q0);
            memcpy(q + u * 8 + 4, &q1, sizeof q1);
        }
    ptrdiff_t j = 0;
    for (;;) {
        ptrdiff_t next = V;                 /* the next target at or after j */
        for (int r = 0; r < 8; r++)
            if (t[r] >= j && t[r] < next)
                next = t[r];
        if (cls != NULL) {
            for (; j < next; j++) {
                fastnn_v4d q0, q1;
                const double *qj = q + (ptrdiff_t)cls[j] * 8;
                memcpy(&q0, qj, sizeof q0);
                memcpy(&q1, qj + 4, sizeof q1);
                a0 = a0 + q0;
                a1 = a1 + q1;
                memcpy(c + j * 8, &a0, sizeof a0);
                memcpy(c + j * 8 + 4, &a1, sizeof a1);
            }
        } else {
            for (; j < next; j++) {
                const fastnn_v4d v = {w[j], w[j], w[j], w[j]};
                a0 = a0 + v / s0;
                a1 = a1 + v / s1;
                memcpy(c + j * 8, &a0, sizeof a0);
                memcpy(c + j * 8 + 4, &a1, sizeof a1);
            }
        }
        if (j >= V)
            break;
        const fastnn_v4d p0 = {t[0] == j ? 0.0 : w[j], t[1] == j ? 0.0 : w[j],
                               t[2] == j ? 0.0 : w[j], t[3] == j ? 0.0 : w[j]};
        const fastnn_v4d p1 = {t[4] == j ? 0.0 : w[j], t[5] == j ? 0.0 : w[j],
                               t[6] == j ? 0.0 : w[j], t[7] == j ? 0.0 : w[j]};
        a0 = a0 + p0 / s0;
        a1 = a1 + p1 / s1;
        memcpy(c + j * 8, &a0, sizeof a0);
        memcpy(c + j * 8 + 4, &a1, sizeof a1);
        j++;
    }
}
#else
static void fastnn_unigram_prefix_rows(const double *w, ptrdiff_t V, const ptrdiff_t *t,
        const double *s, double *c, const int32_t *cls, const double *vals, ptrdiff_t U,
        double *q)
{
    double acc[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    (void)cls; (void)vals; (void)U; (void)q;
    for (ptrdiff_t j = 0; j < V; j++)
        for (int r = 0; r < 8; r++) {
            double pj = t[r] == j ? 0.0 : w[j];
            acc[r] = acc[r] + pj / s[r];
            c[j * 8 + r] = acc[r];
        }
}
#endif

/* A later round of row r: its chain in c (stride ROWS) recomputed from j0
 * on, p = w with the entries flagged in zero[] read as 0.0, continuing from
 * the sum before j0.  With cls, the quotients come from the first round's
 * table q (lane r: vals[u] / s), the same doubles. */
static void fastnn_unigram_prefix_lane(const double *w, ptrdiff_t V, const unsigned char *zero,
        double s, ptrdiff_t j0, double *c, int r, const int32_t *cls, const double *q)
{
    double acc = j0 > 0 ? c[(j0 - 1) * FASTNN_SAMPLER_ROWS + r] : 0.0;
    const double z = 0.0 / s;
    if (cls != NULL) {
        for (ptrdiff_t j = j0; j < V; j++) {
            acc = acc + (zero[j] ? z : q[(ptrdiff_t)cls[j] * FASTNN_SAMPLER_ROWS + r]);
            c[j * FASTNN_SAMPLER_ROWS + r] = acc;
        }
        return;
    }
    for (ptrdiff_t j = j0; j < V; j++) {
        double pj = zero[j] ? 0.0 : w[j];
        acc = acc + pj / s;
        c[j * FASTNN_SAMPLER_ROWS + r] = acc;
    }
}

/* searchsorted(c / last, x, 'right') on row r's chain: the first index i
 * with c[i] / last > x (V when none); the quotient is formed at each probe,
 * as NumPy's cdf /= cdf[-1] stores it. */
static ptrdiff_t fastnn_unigram_search(const double *c, ptrdiff_t V, int r, double last, double x)
{
    ptrdiff_t lo = 0, hi = V;
    while (lo < hi) {
        ptrdiff_t mid = lo + (hi - lo) / 2;
        if (c[mid * FASTNN_SAMPLER_ROWS + r] / last <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

#endif /* FASTNN_WORD2VEC_SAMPLER_H */
