/* A template (fastnn_common.h: loop templates): included by affine_simd.h once
 * per element type, with T and FASTNN_SUF(name) bound; no include guard. */

/* out[j] = sum_i a[i*rs + j*cs] over the rows of an (n, m) matrix, in row
   order (NumPy's order for axis 0 of a C-contiguous array); with cs == 1
   rows outer, so the column loop is contiguous and vectorized. */
FASTNN_CLONES FASTNN_NOJAM static void FASTNN_SUF(fastnn_colsum)(
    const T *restrict a, ptrdiff_t n, ptrdiff_t m, ptrdiff_t rs, ptrdiff_t cs,
    T *restrict out)
{
    memset(out, 0, (size_t)m * sizeof(T));
    if (cs == 1) {
        for (ptrdiff_t i = 0; i < n; i++) {
            const T *restrict row = a + i * rs;
            for (ptrdiff_t j = 0; j < m; j++)
                out[j] = out[j] + row[j];
        }
        return;
    }
    for (ptrdiff_t j = 0; j < m; j++) {
        T s = 0;
        for (ptrdiff_t i = 0; i < n; i++)
            s = s + a[i * rs + j * cs];
        out[j] = s;
    }
}
/* out = w * lam elementwise (lam rounded to T, as NumPy rounds a Python
   float operand) */
FASTNN_CLONES static void FASTNN_SUF(fastnn_scale)(const T *w, T lam, ptrdiff_t n,
                                             T *out)
{
    for (ptrdiff_t i = 0; i < n; i++)
        out[i] = w[i] * lam;
}
