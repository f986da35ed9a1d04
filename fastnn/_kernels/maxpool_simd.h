/* C loops of max pooling (maxpool.pyx), compiled twice (FASTNN_CLONES:
 * baseline and AVX2) where they vectorize. */
#ifndef FASTNN_MAXPOOL_SIMD_H
#define FASTNN_MAXPOOL_SIMD_H

#include "fastnn_common.h"

/* 2x2 windows, stride 2, no padding (the book's pooling), one row of
   windows at a time in two passes that GCC vectorizes: the maxima, then
   the index of the first entry equal to the maximum (the first maximum,
   np.argmax's tie rule).  Returns nonzero when the row holds a NaN: the
   caller redoes that row with the sequential rule. */
#define FASTNN_POOL2X2_ROW(T, SUF)                                             \
FASTNN_CLONES static int fastnn_pool2x2_row_##SUF(const T *restrict r0, const T *restrict r1, \
                                    ptrdiff_t ow_n, T *restrict out,            \
                                    unsigned char *restrict idx)                \
{                                                                               \
    int64_t k[256];                                                             \
    int64_t bad = 0;                                                            \
    for (ptrdiff_t base = 0; base < ow_n; base += 256) {                        \
        ptrdiff_t n = ow_n - base < 256 ? ow_n - base : 256;                    \
        const T *a = r0 + 2 * base, *b = r1 + 2 * base;                         \
        T *o = out + base;                                                      \
        for (ptrdiff_t j = 0; j < n; j++) {                                     \
            T a0 = a[2 * j], a1 = a[2 * j + 1], b0 = b[2 * j], b1 = b[2 * j + 1]; \
            T m0 = a1 > a0 ? a1 : a0, m1 = b1 > b0 ? b1 : b0;                   \
            o[j] = m1 > m0 ? m1 : m0;                                           \
        }                                                                       \
        for (ptrdiff_t j = 0; j < n; j++) {                                     \
            T m = o[j], a0 = a[2 * j], a1 = a[2 * j + 1];                       \
            T b0 = b[2 * j], b1 = b[2 * j + 1];                                 \
            int64_t e0 = a0 == m, e1 = a1 == m, e2 = b0 == m;                   \
            k[j] = (1 - e0) * (1 + (1 - e1) * (1 + (1 - e2)));                  \
            bad |= (int64_t)(a0 != a0) | (int64_t)(a1 != a1)                     \
                 | (int64_t)(b0 != b0) | (int64_t)(b1 != b1);                    \
        }                                                                       \
        for (ptrdiff_t j = 0; j < n; j++)                                       \
            idx[base + j] = (unsigned char)k[j];                                \
    }                                                                           \
    return bad != 0;                                                            \
}
FASTNN_POOL2X2_ROW(double, d)
FASTNN_POOL2X2_ROW(float, f)
/* Its backward on one row of windows: each window's two dx rows get
   dout at the argmax and 0 elsewhere.  dout and the index are first
   spread to one entry per dx column (the index less the column's parity),
   so each dx row is one contiguous select loop that GCC vectorizes
   (4x faster than selecting the four entries of a window in one loop). */
#define FASTNN_UNPOOL2X2_ROW(T, IT, SUF)                                       \
FASTNN_CLONES static void fastnn_unpool2x2_row_##SUF(const T *restrict d,       \
                                       const unsigned char *restrict idx,       \
                                       ptrdiff_t ow_n, T *restrict g0,          \
                                       T *restrict g1)                          \
{                                                                               \
    IT k[512];                                                                  \
    T v[512];                                                                   \
    for (ptrdiff_t base = 0; base < ow_n; base += 256) {                        \
        ptrdiff_t n = ow_n - base < 256 ? ow_n - base : 256;                    \
        T *o0 = g0 + 2 * base, *o1 = g1 + 2 * base;                             \
        for (ptrdiff_t j = 0; j < n; j++) {                                     \
            IT kk = idx[base + j];                                              \
            T dv = d[base + j];                                                 \
            k[2 * j] = kk;                                                      \
            k[2 * j + 1] = kk - 1;                                              \
            v[2 * j] = dv;                                                      \
            v[2 * j + 1] = dv;                                                  \
        }                                                                       \
        for (ptrdiff_t p = 0; p < 2 * n; p++)                                   \
            o0[p] = k[p] == 0 ? v[p] : (T)0;                                    \
        for (ptrdiff_t p = 0; p < 2 * n; p++)                                   \
            o1[p] = k[p] == 2 ? v[p] : (T)0;                                    \
    }                                                                           \
}
FASTNN_UNPOOL2X2_ROW(double, int64_t, d)
FASTNN_UNPOOL2X2_ROW(float, int32_t, f)

#endif
