/* A template (fastnn_common.h: loop templates): included by dropout_simd.h once
 * per element type, with T and FASTNN_SUF(name) bound; no include guard. */

/* out = x * mask (0/1 bytes): a product, as the book's x * mask, so that
   NaN and -0.0 come out as NumPy's do.  out may be x. */
FASTNN_CLONES static void FASTNN_SUF(fastnn_apply_mask)(const T *x, const uint8_t *m,
                                                   ptrdiff_t n, T *out) {
    for (ptrdiff_t i = 0; i < n; i++)
        out[i] = x[i] * (T)m[i];
}
