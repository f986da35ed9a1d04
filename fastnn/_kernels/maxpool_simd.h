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

/* The book's rule (np.argmax), as selects: a larger value, or the first
   NaN, wins (on real data the comparison is a coin toss that a branch
   predictor loses). */
#define FASTNN_PICK(v, i, best, k)                                              \
    do {                                                                        \
        int take_ = ((v) > (best)) | (((v) != (v)) & ((best) == (best)));       \
        (best) = take_ ? (v) : (best);                                          \
        (k) = take_ ? (i) : (k);                                                \
    } while (0)

/* Max pooling of one plane x (H x W) into out (OH x OW) and am, the index
   fh·PW + fw of each window's first maximum (padding counts as 0).  IT is
   the index type: unsigned char (windows of up to 256 entries: 2x2 windows
   of stride 2 without padding, the book's, take the vectorized row loops)
   or ptrdiff_t. */
#define FASTNN_MAXPOOL_PLANE(T, TS, IT, IS)                                     \
static void fastnn_maxpool_plane_##IS##_##TS(const T *restrict x, ptrdiff_t H,  \
        ptrdiff_t W, ptrdiff_t PH, ptrdiff_t PW, ptrdiff_t s, ptrdiff_t pad,    \
        ptrdiff_t OH, ptrdiff_t OW, T *restrict out, IT *restrict am)           \
{                                                                               \
    if (sizeof(IT) == 1 && pad == 0 && PH == 2 && PW == 2 && s == 2) {          \
        for (ptrdiff_t oh = 0; oh < OH; oh++) {                                 \
            const T *r0 = x + 2 * oh * W, *r1 = r0 + W;                         \
            if (!fastnn_pool2x2_row_##TS(r0, r1, OW, out + oh * OW,             \
                                         (unsigned char *)am + oh * OW))        \
                continue;                                                       \
            for (ptrdiff_t ow = 0; ow < OW; ow++) {  /* a row with a NaN */     \
                T best = r0[2 * ow];                                            \
                ptrdiff_t k = 0;                                                \
                FASTNN_PICK(r0[2 * ow + 1], 1, best, k);                        \
                FASTNN_PICK(r1[2 * ow], 2, best, k);                            \
                FASTNN_PICK(r1[2 * ow + 1], 3, best, k);                        \
                out[oh * OW + ow] = best;                                       \
                am[oh * OW + ow] = (IT)k;                                       \
            }                                                                   \
        }                                                                       \
        return;                                                                 \
    }                                                                           \
    for (ptrdiff_t oh = 0; oh < OH; oh++)                                       \
    for (ptrdiff_t ow = 0; ow < OW; ow++) {                                     \
        T best = 0;                                                             \
        ptrdiff_t best_k = -1, k = 0;                                           \
        if (pad == 0) {      /* every window inside the image */                \
            const T *win = x + oh * s * W + ow * s;                             \
            best = win[0];                                                      \
            best_k = 0;                                                         \
            for (ptrdiff_t fh = 0; fh < PH; fh++)                               \
                for (ptrdiff_t fw = 0; fw < PW; fw++, k++)                      \
                    FASTNN_PICK(win[fh * W + fw], k, best, best_k);             \
        } else {                                                                \
            for (ptrdiff_t fh = 0; fh < PH; fh++) {                             \
                ptrdiff_t ih = oh * s + fh - pad;                               \
                for (ptrdiff_t fw = 0; fw < PW; fw++, k++) {                    \
                    ptrdiff_t iw = ow * s + fw - pad;                           \
                    T v = (ih < 0 || ih >= H || iw < 0 || iw >= W)              \
                          ? (T)0 : x[ih * W + iw];                              \
                    if (best_k < 0 || v > best || (v != v && best == best)) {   \
                        best = v;                                               \
                        best_k = k;                                             \
                    }                                                           \
                }                                                               \
            }                                                                   \
        }                                                                       \
        out[oh * OW + ow] = best;                                               \
        am[oh * OW + ow] = (IT)best_k;                                          \
    }                                                                           \
}
FASTNN_MAXPOOL_PLANE(double, d, unsigned char, u8)
FASTNN_MAXPOOL_PLANE(float, f, unsigned char, u8)
FASTNN_MAXPOOL_PLANE(double, d, ptrdiff_t, ip)
FASTNN_MAXPOOL_PLANE(float, f, ptrdiff_t, ip)

/* Its backward on one plane: g (H x W) gets each dout entry at its window's
   arg_max (positions in the padding dropped, as col2im crops them).  When
   the windows tile the image (stride = window, no padding) every pixel is
   written once, dout or 0, with no zeroing pass; otherwise g is zeroed and
   the entries added. */
#define FASTNN_UNPOOL_PLANE(T, TS, IT, IS)                                      \
static void fastnn_unpool_plane_##IS##_##TS(const T *restrict d,                \
        const IT *restrict am, ptrdiff_t H, ptrdiff_t W, ptrdiff_t PH,          \
        ptrdiff_t PW, ptrdiff_t s, ptrdiff_t pad, ptrdiff_t OH, ptrdiff_t OW,   \
        T *restrict g)                                                          \
{                                                                               \
    if (!(pad == 0 && s == PH && s == PW && OH * OW > 0)) {                     \
        memset(g, 0, (size_t)(H * W) * sizeof(T));                              \
        for (ptrdiff_t oh = 0; oh < OH; oh++)                                   \
        for (ptrdiff_t ow = 0; ow < OW; ow++) {                                 \
            ptrdiff_t k = (ptrdiff_t)am[oh * OW + ow];                          \
            ptrdiff_t ih = oh * s + k / PW - pad, iw = ow * s + k % PW - pad;   \
            if (ih >= 0 && ih < H && iw >= 0 && iw < W)                         \
                g[ih * W + iw] += d[oh * OW + ow];                              \
        }                                                                       \
        return;                                                                 \
    }                                                                           \
    for (ptrdiff_t oh = 0; oh < OH; oh++) {                                     \
        if (sizeof(IT) == 1 && PH == 2 && PW == 2) {                            \
            T *row = g + oh * 2 * W;                                            \
            fastnn_unpool2x2_row_##TS(d + oh * OW,                              \
                                      (const unsigned char *)am + oh * OW, OW,  \
                                      row, row + W);                            \
            for (ptrdiff_t fw = OW * 2; fw < W; fw++) {  /* uncovered columns */ \
                row[fw] = 0;                                                    \
                row[W + fw] = 0;                                                \
            }                                                                   \
            continue;                                                           \
        }                                                                       \
        for (ptrdiff_t fh = 0; fh < PH; fh++) {                                 \
            T *row = g + (oh * PH + fh) * W;                                    \
            for (ptrdiff_t ow = 0; ow < OW; ow++) {                             \
                ptrdiff_t k = (ptrdiff_t)am[oh * OW + ow] - fh * PW;            \
                T v = d[oh * OW + ow];                                          \
                for (ptrdiff_t fw = 0; fw < PW; fw++)                           \
                    row[ow * PW + fw] = k == fw ? v : (T)0;                     \
            }                                                                   \
            for (ptrdiff_t fw = OW * PW; fw < W; fw++)                          \
                row[fw] = 0;                                                    \
        }                                                                       \
    }                                                                           \
    for (ptrdiff_t r = OH * PH; r < H; r++)       /* uncovered rows */          \
        memset(g + r * W, 0, (size_t)W * sizeof(T));                            \
}
FASTNN_UNPOOL_PLANE(double, d, unsigned char, u8)
FASTNN_UNPOOL_PLANE(float, f, unsigned char, u8)
FASTNN_UNPOOL_PLANE(double, d, ptrdiff_t, ip)
FASTNN_UNPOOL_PLANE(float, f, ptrdiff_t, ip)

/* The dtype- and index-generic names (FASTNN_BY_DTYPE, fastnn_common.h):
   name(f32, wide, args...), wide for ptrdiff_t indices. */
#define fastnn_maxpool_plane(f32, wide, ...)                                    \
    ((wide) ? FASTNN_BY_DTYPE(f32, fastnn_maxpool_plane_ip, __VA_ARGS__)         \
            : FASTNN_BY_DTYPE(f32, fastnn_maxpool_plane_u8, __VA_ARGS__))
#define fastnn_unpool_plane(f32, wide, ...)                                     \
    ((wide) ? FASTNN_BY_DTYPE(f32, fastnn_unpool_plane_ip, __VA_ARGS__)          \
            : FASTNN_BY_DTYPE(f32, fastnn_unpool_plane_u8, __VA_ARGS__))

#endif
