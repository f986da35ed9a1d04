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

/* The sweep of fastnn_colT, in both directions: for each row (c, fh, fw) of
   colT and each output row oh, the body runs with `row` (that row's OW
   entries of colT), `inside` (input row ih = oh·s + fh − pad exists),
   `img` (the offset in the (C, H, W) image of the entry ow = 0 reads) and
   [lo, hi), the ow whose input column is inside the image. */
#define FASTNN_COLT_SWEEP(T, colT, C, H, W, FH, FW, s, pad, OH, OW, ...)       \
    for (ptrdiff_t c = 0; c < C; c++)                                           \
    for (ptrdiff_t fh = 0; fh < FH; fh++)                                       \
    for (ptrdiff_t fw = 0; fw < FW; fw++) {                                     \
        ptrdiff_t lo = fastnn_first_inside(fw - pad, s);                        \
        ptrdiff_t hi = fastnn_end_inside(fw - pad, s, W, OW);                   \
        if (hi < lo)                                                            \
            hi = lo;                                                            \
        for (ptrdiff_t oh = 0; oh < OH; oh++) {                                 \
            ptrdiff_t ih = oh * s + fh - pad;                                   \
            int inside = ih >= 0 && ih < H;                                     \
            ptrdiff_t img = (c * H + ih) * W + fw - pad;                        \
            T *row = (colT) + ((c * FH + fh) * FW + fw) * OH * OW + oh * OW;    \
            __VA_ARGS__                                                         \
        }                                                                       \
    }

/* The channels-first im2col (adjoint 0: colT from the image) or its adjoint (1: image +=
   the entries of colT at the pixels the im2col read them from, in (c, fh,
   fw, oh, ow) order), one sample. */
#define FASTNN_COLT(T, SUF)                                                     \
FASTNN_CLONES FASTNN_NOLIBCALL static void fastnn_colT_##SUF(int adjoint,       \
    T *restrict image, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, ptrdiff_t FH,     \
    ptrdiff_t FW, ptrdiff_t s, ptrdiff_t pad, ptrdiff_t OH, ptrdiff_t OW,       \
    T *restrict colT)                                                           \
{                                                                               \
    FASTNN_COLT_SWEEP(T, colT, C, H, W, FH, FW, s, pad, OH, OW,                 \
        T *restrict px = image + img;                                           \
        if (adjoint) {                                                          \
            if (!inside)                                                        \
                continue;                                                       \
            if (s == 1)                                                         \
                for (ptrdiff_t ow = lo; ow < hi; ow++)                          \
                    px[ow] += row[ow];                                          \
            else                                                                \
                for (ptrdiff_t ow = lo; ow < hi; ow++)                          \
                    px[ow * s] += row[ow];                                      \
            continue;                                                           \
        }                                                                       \
        ptrdiff_t a = inside ? lo : OW, z = inside ? hi : OW;                   \
        for (ptrdiff_t ow = 0; ow < a; ow++)                                    \
            row[ow] = 0;                                                        \
        if (s == 1)                                                             \
            for (ptrdiff_t ow = a; ow < z; ow++)                                \
                row[ow] = px[ow];                                               \
        else                                                                    \
            for (ptrdiff_t ow = a; ow < z; ow++)                                \
                row[ow] = px[ow * s];                                           \
        for (ptrdiff_t ow = z; ow < OW; ow++)                                   \
            row[ow] = 0;                                                        \
    )                                                                           \
}
FASTNN_COLT(double, d)
FASTNN_COLT(float, f)

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
#define fastnn_colT(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_colT, __VA_ARGS__)
#define fastnn_im2col_rows(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_im2col_rows, __VA_ARGS__)
#define fastnn_col2im_rows_add(f32, ...) \
    FASTNN_BY_DTYPE(f32, fastnn_col2im_rows_add, __VA_ARGS__)
#define fastnn_fill_planes(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_fill_planes, __VA_ARGS__)

#endif
