/* A template (fastnn_common.h: loop templates): included by conv_simd.h once
 * per element type, with T and FASTNN_SUF(name) bound; no include guard. */

/* The channels-first im2col (adjoint 0: colT from the image) or its adjoint (1: image +=
   the entries of colT at the pixels the im2col read them from, in (c, fh,
   fw, oh, ow) order), one sample. */
FASTNN_CLONES FASTNN_NOLIBCALL static void FASTNN_SUF(fastnn_colT)(int adjoint,
    T *restrict image, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, ptrdiff_t FH,
    ptrdiff_t FW, ptrdiff_t s, ptrdiff_t pad, ptrdiff_t OH, ptrdiff_t OW,
    T *restrict colT)
{
    /* For each row (c, fh, fw) of colT and each output row oh: `row` (that
       row's OW entries of colT), `inside` (input row ih = oh·s + fh − pad
       exists), `img` (the offset in the (C, H, W) image of the entry ow = 0
       reads) and [lo, hi), the ow whose input column is inside the image. */
    for (ptrdiff_t c = 0; c < C; c++)
    for (ptrdiff_t fh = 0; fh < FH; fh++)
    for (ptrdiff_t fw = 0; fw < FW; fw++) {
        ptrdiff_t lo = fastnn_first_inside(fw - pad, s);
        ptrdiff_t hi = fastnn_end_inside(fw - pad, s, W, OW);
        if (hi < lo)
            hi = lo;
        for (ptrdiff_t oh = 0; oh < OH; oh++) {
            ptrdiff_t ih = oh * s + fh - pad;
            int inside = ih >= 0 && ih < H;
            ptrdiff_t img = (c * H + ih) * W + fw - pad;
            T *row = (colT) + ((c * FH + fh) * FW + fw) * OH * OW + oh * OW;
            T *restrict px = image + img;
            if (adjoint) {
                if (!inside)
                    continue;
                if (s == 1)
                    for (ptrdiff_t ow = lo; ow < hi; ow++)
                        px[ow] += row[ow];
                else
                    for (ptrdiff_t ow = lo; ow < hi; ow++)
                        px[ow * s] += row[ow];
                continue;
            }
            ptrdiff_t a = inside ? lo : OW, z = inside ? hi : OW;
            for (ptrdiff_t ow = 0; ow < a; ow++)
                row[ow] = 0;
            if (s == 1)
                for (ptrdiff_t ow = a; ow < z; ow++)
                    row[ow] = px[ow];
            else
                for (ptrdiff_t ow = a; ow < z; ow++)
                    row[ow] = px[ow * s];
            for (ptrdiff_t ow = z; ow < OW; ow++)
                row[ow] = 0;
        }
    }
}

/* The book's row layout, one sample: col[oh·OW + ow][(c·FH + fh)·FW + fw]
   (fastnn.util.im2col). */
static void FASTNN_SUF(fastnn_im2col_rows)(const T *restrict x, ptrdiff_t C, ptrdiff_t H,
        ptrdiff_t W, ptrdiff_t FH, ptrdiff_t FW, ptrdiff_t s, ptrdiff_t pad,
        ptrdiff_t OH, ptrdiff_t OW, T *restrict col)
{
    for (ptrdiff_t oh = 0; oh < OH; oh++)
    for (ptrdiff_t ow = 0; ow < OW; ow++)
    for (ptrdiff_t c = 0; c < C; c++)
    for (ptrdiff_t fh = 0; fh < FH; fh++) {
        ptrdiff_t ih = oh * s + fh - pad;
        for (ptrdiff_t fw = 0; fw < FW; fw++, col++) {
            ptrdiff_t iw = ow * s + fw - pad;
            *col = (ih < 0 || ih >= H || iw < 0 || iw >= W)
                   ? (T)0 : x[(c * H + ih) * W + iw];
        }
    }
}

/* Its adjoint (fastnn.util.col2im), in the book's order: filter offset
   (fh, fw) outermost, so every pixel receives its contributions in
   (fh, fw) order, as the book's slices add them. */
static void FASTNN_SUF(fastnn_col2im_rows_add)(const T *restrict col, ptrdiff_t C,
        ptrdiff_t H, ptrdiff_t W, ptrdiff_t FH, ptrdiff_t FW, ptrdiff_t s,
        ptrdiff_t pad, ptrdiff_t OH, ptrdiff_t OW, T *restrict dx)
{
    ptrdiff_t K = C * FH * FW;
    for (ptrdiff_t fh = 0; fh < FH; fh++)
    for (ptrdiff_t fw = 0; fw < FW; fw++)
    for (ptrdiff_t c = 0; c < C; c++)
    for (ptrdiff_t oh = 0; oh < OH; oh++) {
        ptrdiff_t ih = oh * s + fh - pad;
        if (ih < 0 || ih >= H)
            continue;
        for (ptrdiff_t ow = 0; ow < OW; ow++) {
            ptrdiff_t iw = ow * s + fw - pad;
            if (iw >= 0 && iw < W)
                dx[(c * H + ih) * W + iw] +=
                    col[(oh * OW + ow) * K + (c * FH + fh) * FW + fw];
        }
    }
}

/* out[f][p] = b[f] for the FN planes of P entries of one sample. */
FASTNN_CLONES static void FASTNN_SUF(fastnn_fill_planes)(T *restrict out, ptrdiff_t FN,
                                                   ptrdiff_t P, const T *restrict b)
{
    for (ptrdiff_t f = 0; f < FN; f++)
        for (ptrdiff_t p = 0; p < P; p++)
            out[f * P + p] = b[f];
}
