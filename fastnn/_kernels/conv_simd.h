/* C loops of the convolution (conv.pyx), compiled twice (FASTNN_CLONES:
 * baseline and AVX2) where they vectorize. */
#ifndef FASTNN_CONV_SIMD_H
#define FASTNN_CONV_SIMD_H

#include "fastnn_common.h"

/* One sample's channels-first im2col: colT[(c·FH + fh)·FW + fw][oh·OW + ow]
   = x[c][oh·s + fh − pad][ow·s + fw − pad], 0 in the padding.  Each row
   of colT is OH runs of OW entries: zeros, a run copied from x, zeros,
   each a loop kept inline (FASTNN_NOLIBCALL) rather than a library call
   per 20-60 byte run. */

static inline ptrdiff_t fastnn_first_inside(ptrdiff_t off, ptrdiff_t s)
{   /* the smallest o >= 0 with o·s + off >= 0 */
    return off >= 0 ? 0 : (-off + s - 1) / s;
}

static inline ptrdiff_t fastnn_end_inside(ptrdiff_t off, ptrdiff_t s, ptrdiff_t size,
                                          ptrdiff_t count)
{   /* one past the largest o < count with o·s + off < size */
    ptrdiff_t e;
    if (size - 1 - off < 0)
        return 0;
    e = (size - 1 - off) / s + 1;
    return e < count ? e : count;
}

#define FASTNN_IM2COL_T(T, SUF)                                                 \
FASTNN_CLONES FASTNN_NOLIBCALL static void fastnn_im2col_t_##SUF(               \
    const T *restrict x, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, ptrdiff_t FH,   \
    ptrdiff_t FW, ptrdiff_t s, ptrdiff_t pad, ptrdiff_t OH, ptrdiff_t OW,       \
    T *restrict colT)                                                           \
{                                                                               \
    for (ptrdiff_t c = 0; c < C; c++)                                           \
    for (ptrdiff_t fh = 0; fh < FH; fh++)                                       \
    for (ptrdiff_t fw = 0; fw < FW; fw++, colT += OH * OW) {                    \
        ptrdiff_t lo = fastnn_first_inside(fw - pad, s);                        \
        ptrdiff_t hi = fastnn_end_inside(fw - pad, s, W, OW);                   \
        if (hi < lo)                                                            \
            hi = lo;                                                            \
        for (ptrdiff_t oh = 0; oh < OH; oh++) {                                 \
            T *restrict dst = colT + oh * OW;                                   \
            ptrdiff_t ih = oh * s + fh - pad;                                   \
            if (ih < 0 || ih >= H) {                                            \
                for (ptrdiff_t ow = 0; ow < OW; ow++)                           \
                    dst[ow] = 0;                                                \
                continue;                                                       \
            }                                                                   \
            const T *restrict src = x + (c * H + ih) * W + fw - pad;            \
            for (ptrdiff_t ow = 0; ow < lo; ow++)                               \
                dst[ow] = 0;                                                    \
            if (s == 1)                                                         \
                for (ptrdiff_t ow = lo; ow < hi; ow++)                          \
                    dst[ow] = src[ow];                                          \
            else                                                                \
                for (ptrdiff_t ow = lo; ow < hi; ow++)                          \
                    dst[ow] = src[ow * s];                                      \
            for (ptrdiff_t ow = hi; ow < OW; ow++)                              \
                dst[ow] = 0;                                                    \
        }                                                                       \
    }                                                                           \
}
FASTNN_IM2COL_T(double, d)
FASTNN_IM2COL_T(float, f)

/* Its adjoint: dx[c][ih][iw] += colT[...] for every entry im2col_t read
   from (c, ih, iw), in (c, fh, fw, oh, ow) order. */
#define FASTNN_COL2IM_T_ADD(T, SUF)                                             \
FASTNN_CLONES FASTNN_NOLIBCALL static void fastnn_col2im_t_add_##SUF(           \
    const T *restrict colT, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, ptrdiff_t FH, \
    ptrdiff_t FW, ptrdiff_t s, ptrdiff_t pad, ptrdiff_t OH, ptrdiff_t OW,       \
    T *restrict dx)                                                             \
{                                                                               \
    for (ptrdiff_t c = 0; c < C; c++)                                           \
    for (ptrdiff_t fh = 0; fh < FH; fh++)                                       \
    for (ptrdiff_t fw = 0; fw < FW; fw++, colT += OH * OW) {                    \
        ptrdiff_t lo = fastnn_first_inside(fw - pad, s);                        \
        ptrdiff_t hi = fastnn_end_inside(fw - pad, s, W, OW);                   \
        for (ptrdiff_t oh = 0; oh < OH; oh++) {                                 \
            ptrdiff_t ih = oh * s + fh - pad;                                   \
            if (ih < 0 || ih >= H)                                              \
                continue;                                                       \
            const T *restrict src = colT + oh * OW;                             \
            T *restrict dst = dx + (c * H + ih) * W + fw - pad;                 \
            if (s == 1)                                                         \
                for (ptrdiff_t ow = lo; ow < hi; ow++)                          \
                    dst[ow] += src[ow];                                         \
            else                                                                \
                for (ptrdiff_t ow = lo; ow < hi; ow++)                          \
                    dst[ow * s] += src[ow];                                     \
        }                                                                       \
    }                                                                           \
}
FASTNN_COL2IM_T_ADD(double, d)
FASTNN_COL2IM_T_ADD(float, f)

/* The book's row layout, one sample: col[oh·OW + ow][(c·FH + fh)·FW + fw]
   (fastnn.util.im2col). */
#define FASTNN_IM2COL_ROWS(T, SUF)                                              \
static void fastnn_im2col_rows_##SUF(const T *restrict x, ptrdiff_t C, ptrdiff_t H, \
        ptrdiff_t W, ptrdiff_t FH, ptrdiff_t FW, ptrdiff_t s, ptrdiff_t pad,    \
        ptrdiff_t OH, ptrdiff_t OW, T *restrict col)                            \
{                                                                               \
    for (ptrdiff_t oh = 0; oh < OH; oh++)                                       \
    for (ptrdiff_t ow = 0; ow < OW; ow++)                                       \
    for (ptrdiff_t c = 0; c < C; c++)                                           \
    for (ptrdiff_t fh = 0; fh < FH; fh++) {                                     \
        ptrdiff_t ih = oh * s + fh - pad;                                       \
        for (ptrdiff_t fw = 0; fw < FW; fw++, col++) {                          \
            ptrdiff_t iw = ow * s + fw - pad;                                   \
            *col = (ih < 0 || ih >= H || iw < 0 || iw >= W)                     \
                   ? (T)0 : x[(c * H + ih) * W + iw];                           \
        }                                                                       \
    }                                                                           \
}
FASTNN_IM2COL_ROWS(double, d)
FASTNN_IM2COL_ROWS(float, f)

/* Its adjoint (fastnn.util.col2im), in the book's order: filter offset
   (fh, fw) outermost, so every pixel receives its contributions in
   (fh, fw) order, as the book's slices add them. */
#define FASTNN_COL2IM_ROWS_ADD(T, SUF)                                          \
static void fastnn_col2im_rows_add_##SUF(const T *restrict col, ptrdiff_t C,    \
        ptrdiff_t H, ptrdiff_t W, ptrdiff_t FH, ptrdiff_t FW, ptrdiff_t s,      \
        ptrdiff_t pad, ptrdiff_t OH, ptrdiff_t OW, T *restrict dx)              \
{                                                                               \
    ptrdiff_t K = C * FH * FW;                                                  \
    for (ptrdiff_t fh = 0; fh < FH; fh++)                                       \
    for (ptrdiff_t fw = 0; fw < FW; fw++)                                       \
    for (ptrdiff_t c = 0; c < C; c++)                                           \
    for (ptrdiff_t oh = 0; oh < OH; oh++) {                                     \
        ptrdiff_t ih = oh * s + fh - pad;                                       \
        if (ih < 0 || ih >= H)                                                  \
            continue;                                                           \
        for (ptrdiff_t ow = 0; ow < OW; ow++) {                                 \
            ptrdiff_t iw = ow * s + fw - pad;                                   \
            if (iw >= 0 && iw < W)                                              \
                dx[(c * H + ih) * W + iw] +=                                    \
                    col[(oh * OW + ow) * K + (c * FH + fh) * FW + fw];          \
        }                                                                       \
    }                                                                           \
}
FASTNN_COL2IM_ROWS_ADD(double, d)
FASTNN_COL2IM_ROWS_ADD(float, f)

/* out[f][p] = b[f] for the FN planes of P entries of one sample. */
#define FASTNN_FILL_PLANES(T, SUF)                                              \
FASTNN_CLONES static void fastnn_fill_planes_##SUF(T *restrict out, ptrdiff_t FN, \
                                                   ptrdiff_t P, const T *restrict b) \
{                                                                               \
    for (ptrdiff_t f = 0; f < FN; f++)                                          \
        for (ptrdiff_t p = 0; p < P; p++)                                       \
            out[f * P + p] = b[f];                                              \
}
FASTNN_FILL_PLANES(double, d)
FASTNN_FILL_PLANES(float, f)

/* The dtype-generic names (fastnn_common.h): name(f32, args...) */
#define fastnn_im2col_t(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_im2col_t, __VA_ARGS__)
#define fastnn_col2im_t_add(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_col2im_t_add, __VA_ARGS__)
#define fastnn_im2col_rows(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_im2col_rows, __VA_ARGS__)
#define fastnn_col2im_rows_add(f32, ...) \
    FASTNN_BY_DTYPE(f32, fastnn_col2im_rows_add, __VA_ARGS__)
#define fastnn_fill_planes(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_fill_planes, __VA_ARGS__)

#endif
