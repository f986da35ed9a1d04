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
