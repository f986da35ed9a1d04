/* A template (fastnn_common.h: loop templates): included by maxpool_simd.h once
 * per element type, with T, FASTNN_SUF(name) and IT (the type of the 2x2
 * backward's spread indices: int64_t for double, int32_t for float, the
 * width that vectorizes with T) bound; no include guard. */

/* 2x2 windows, stride 2, no padding (the book's pooling), one row of
   windows at a time in two passes that GCC vectorizes: the maxima, then
   the index of the first entry equal to the maximum (the first maximum,
   np.argmax's tie rule).  Returns nonzero when the row holds a NaN: the
   caller redoes that row with the sequential rule. */
FASTNN_CLONES static int FASTNN_SUF(fastnn_pool2x2_row)(const T *restrict r0, const T *restrict r1,
                                    ptrdiff_t ow_n, T *restrict out,
                                    unsigned char *restrict idx)
{
    int64_t k[256];
    int64_t bad = 0;
    for (ptrdiff_t base = 0; base < ow_n; base += 256) {
        ptrdiff_t n = ow_n - base < 256 ? ow_n - base : 256;
        const T *a = r0 + 2 * base, *b = r1 + 2 * base;
        T *o = out + base;
        for (ptrdiff_t j = 0; j < n; j++) {
            T a0 = a[2 * j], a1 = a[2 * j + 1], b0 = b[2 * j], b1 = b[2 * j + 1];
            T m0 = a1 > a0 ? a1 : a0, m1 = b1 > b0 ? b1 : b0;
            o[j] = m1 > m0 ? m1 : m0;
        }
        for (ptrdiff_t j = 0; j < n; j++) {
            T m = o[j], a0 = a[2 * j], a1 = a[2 * j + 1];
            T b0 = b[2 * j], b1 = b[2 * j + 1];
            int64_t e0 = a0 == m, e1 = a1 == m, e2 = b0 == m;
            k[j] = (1 - e0) * (1 + (1 - e1) * (1 + (1 - e2)));
            bad |= (int64_t)(a0 != a0) | (int64_t)(a1 != a1)
                 | (int64_t)(b0 != b0) | (int64_t)(b1 != b1);
        }
        for (ptrdiff_t j = 0; j < n; j++)
            idx[base + j] = (unsigned char)k[j];
    }
    return bad != 0;
}


/* Its backward on one row of windows: each window's two dx rows get
   dout at the argmax and 0 elsewhere.  dout and the index are first
   spread to one entry per dx column (the index less the column's parity),
   so each dx row is one contiguous select loop that GCC vectorizes
   (4x faster than selecting the four entries of a window in one loop). */
FASTNN_CLONES static void FASTNN_SUF(fastnn_unpool2x2_row)(const T *restrict d,
                                       const unsigned char *restrict idx,
                                       ptrdiff_t ow_n, T *restrict g0,
                                       T *restrict g1)
{
    IT k[512];
    T v[512];
    for (ptrdiff_t base = 0; base < ow_n; base += 256) {
        ptrdiff_t n = ow_n - base < 256 ? ow_n - base : 256;
        T *o0 = g0 + 2 * base, *o1 = g1 + 2 * base;
        for (ptrdiff_t j = 0; j < n; j++) {
            IT kk = idx[base + j];
            T dv = d[base + j];
            k[2 * j] = kk;
            k[2 * j + 1] = kk - 1;
            v[2 * j] = dv;
            v[2 * j + 1] = dv;
        }
        for (ptrdiff_t p = 0; p < 2 * n; p++)
            o0[p] = k[p] == 0 ? v[p] : (T)0;
        for (ptrdiff_t p = 0; p < 2 * n; p++)
            o1[p] = k[p] == 2 ? v[p] : (T)0;
    }
}
