/* The affine loops (C, so that GCC can clone them for AVX2; see fastnn_common.h). */
#ifndef FASTNN_AFFINE_SIMD_H
#define FASTNN_AFFINE_SIMD_H

#include "fastnn_common.h"

/* out[j] = sum_i a[i*rs + j] in row order (NumPy's order for axis 0 of a
   C-contiguous array), rows outer so the column loop is contiguous. */
#define FASTNN_AFF_COLSUM(T, SUF)                                              \
FASTNN_CLONES FASTNN_NOJAM static void fastnn_colsum_##SUF(                    \
    const T *restrict a, ptrdiff_t n, ptrdiff_t m, ptrdiff_t rs,               \
    T *restrict out)                                                           \
{                                                                              \
    memset(out, 0, (size_t)m * sizeof(T));                                     \
    for (ptrdiff_t i = 0; i < n; i++) {                                        \
        const T *restrict row = a + i * rs;                                    \
        for (ptrdiff_t j = 0; j < m; j++)                                      \
            out[j] = out[j] + row[j];                                          \
    }                                                                          \
}
FASTNN_AFF_COLSUM(double, d)
FASTNN_AFF_COLSUM(float, f)

#endif /* FASTNN_AFFINE_SIMD_H */
