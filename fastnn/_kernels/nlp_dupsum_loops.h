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
 * does).  The K inputs are read once each and out once, block by block (the
 * block stays in L1 between the adds) instead of K read-modify-write passes
 * over out.  in_f64[k] says whether in[k] is double (else float).  The
 * inputs must not overlap out (they may overlap each other). */
FASTNN_CLONES static void FASTNN_SUF(fastnn_dup_sum)(T *out, const void *const *in,
        const unsigned char *in_f64, int K, ptrdiff_t lo, ptrdiff_t hi)
{
    for (ptrdiff_t b = lo; b < hi; b += FASTNN_DUPSUM_BLOCK) {
        ptrdiff_t n = hi - b < FASTNN_DUPSUM_BLOCK ? hi - b : FASTNN_DUPSUM_BLOCK;
        T *o = out + b;
        for (int k = 0; k < K; k++) {
            if (in_f64[k]) {
                const double *s = (const double *)in[k] + b;
                for (ptrdiff_t e = 0; e < n; e++)
                    o[e] = (T)(o[e] + s[e]);
            } else {
                const float *s = (const float *)in[k] + b;
                for (ptrdiff_t e = 0; e < n; e++)
                    o[e] = (T)(o[e] + s[e]);
            }
        }
    }
}
