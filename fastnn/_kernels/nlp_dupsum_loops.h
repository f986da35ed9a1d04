/* A template (fastnn_common.h: loop templates): included by nlp_simd.h once
 * per element type T of the sum, with FASTNN_SUF(name) bound; no include guard.
 *
 * remove_duplicate's sum of a shared weight's gradients, fused: for every
 * element e of [lo, hi),
 *
 *     out[e] = (...((out[e] + in[0][e]) + in[1][e]) + ...) + in[K-1][e]
 *
 * which is what the book's repeated ``grads[i] += grads[j]`` leaves, one
 * in-place add after the other: each add is NumPy's, in its types (a float
 * input into a double sum is widened exactly; a double input into a float
 * sum adds in double and rounds the sum to float, as ``+=``'s same-kind cast
 * does).  Block by block (the block of out stays in L1/L2 between the adds),
 * the inputs taken by runs of up to four of out's type in one loop.
 * in_f64[k] says whether in[k] is double (else float).  The inputs must not
 * overlap out (they may overlap each other). */
FASTNN_CLONES static void FASTNN_SUF(fastnn_dup_sum)(T *restrict out, const void *const *in,
        const unsigned char *in_f64, int K, ptrdiff_t lo, ptrdiff_t hi)
{
    const int own_f64 = sizeof(T) == sizeof(double);
    for (ptrdiff_t b = lo; b < hi; b += FASTNN_DUPSUM_BLOCK) {
        ptrdiff_t n = hi - b < FASTNN_DUPSUM_BLOCK ? hi - b : FASTNN_DUPSUM_BLOCK;
        T *restrict o = out + b;
        int k = 0;
        while (k < K) {
            int run = 0;
            while (run < 4 && k + run < K && in_f64[k + run] == own_f64)
                run++;
            if (run == 4) {
                const T *restrict s0 = (const T *)in[k] + b, *restrict s1 = (const T *)in[k + 1] + b;
                const T *restrict s2 = (const T *)in[k + 2] + b, *restrict s3 = (const T *)in[k + 3] + b;
                for (ptrdiff_t e = 0; e < n; e++)
                    o[e] = (((o[e] + s0[e]) + s1[e]) + s2[e]) + s3[e];
            } else if (run >= 2) {
                const T *restrict s0 = (const T *)in[k] + b, *restrict s1 = (const T *)in[k + 1] + b;
                for (ptrdiff_t e = 0; e < n; e++)
                    o[e] = (o[e] + s0[e]) + s1[e];
                run = 2;
            } else if (in_f64[k]) {
                const double *restrict s = (const double *)in[k] + b;
                for (ptrdiff_t e = 0; e < n; e++)
                    o[e] = (T)(o[e] + s[e]);
                run = 1;
            } else {
                const float *restrict s = (const float *)in[k] + b;
                for (ptrdiff_t e = 0; e < n; e++)
                    o[e] = (T)(o[e] + s[e]);
                run = 1;
            }
            k += run;
        }
    }
}

/* The same sum when out (V x H) and each in[k] are known to be zero outside
 * the rows listed for them (rows[0]: out's, rows[1 + k]: in[k]'s; ids in
 * [0, V), repeats allowed): for each k in order, each distinct row r of
 * in[k]'s list, out[r] += in[k][r], element by element in the types above.
 * What the whole sum would add besides is +0.0 (a zero row of in[k]), and
 * x + 0.0 is x for every x but -0.0, which it turns to +0.0, wherever in a
 * chain of additions it comes (a sum rounded to nearest is -0.0 only when
 * all its terms are): so a row some input skipped gets one + 0.0 at the end.
 * The rows reached (out's and the inputs') are written to uniq in order of
 * first appearance; returns their count.  stamp and count: V ints each,
 * stamp all -1 and count all 0 on entry (left so for the rows not reached). */
FASTNN_CLONES static ptrdiff_t FASTNN_SUF(fastnn_dup_sum_rows)(T *restrict out,
        const void *const *in, const unsigned char *in_f64, int K,
        const int64_t *const *rows, const ptrdiff_t *nrows, ptrdiff_t H,
        int *stamp, int *count, int64_t *uniq)
{
    ptrdiff_t u = 0;
    for (ptrdiff_t j = 0; j < nrows[0]; j++) {
        int64_t r = rows[0][j];
        if (stamp[r] < 0) {
            stamp[r] = K;               /* reached, nothing added yet */
            uniq[u++] = r;
        }
    }
    for (int k = 0; k < K; k++) {
        const int64_t *rk = rows[1 + k];
        for (ptrdiff_t j = 0; j < nrows[1 + k]; j++) {
            int64_t r = rk[j];
            if (j + 4 < nrows[1 + k]) {     /* rows in no order: fetch a few ahead */
                const int64_t ra = rk[j + 4];
                fastnn_prefetch_row(out + ra * H, (size_t)H * sizeof(T), 1);
                fastnn_prefetch_row((const char *)in[k] + ra * H * (in_f64[k] ? 8 : 4),
                                    (size_t)H * (in_f64[k] ? 8 : 4), 0);
            }
            if (stamp[r] == k)
                continue;               /* a repeat in this list */
            if (stamp[r] < 0)
                uniq[u++] = r;
            stamp[r] = k;
            count[r]++;
            T *restrict o = out + r * H;
            if (in_f64[k]) {
                const double *restrict s = (const double *)in[k] + r * H;
                for (ptrdiff_t e = 0; e < H; e++)
                    o[e] = (T)(o[e] + s[e]);
            } else {
                const float *restrict s = (const float *)in[k] + r * H;
                for (ptrdiff_t e = 0; e < H; e++)
                    o[e] = (T)(o[e] + s[e]);
            }
        }
    }
    for (ptrdiff_t j = 0; j < u; j++) {
        int64_t r = uniq[j];
        if (count[r] < K) {
            T *restrict o = out + r * H;
            for (ptrdiff_t e = 0; e < H; e++)
                o[e] = o[e] + (T)0;
        }
    }
    return u;
}
