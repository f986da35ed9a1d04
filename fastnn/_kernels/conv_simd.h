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

/* The loops, once per element type (fastnn_common.h: loop templates). */
#define T double
#define FASTNN_SUFFIX d
#include "conv_loops.h"
#undef T
#undef FASTNN_SUFFIX
#define T float
#define FASTNN_SUFFIX f
#include "conv_loops.h"
#undef T
#undef FASTNN_SUFFIX

/* The dtype-generic names (fastnn_common.h): name(f32, args...) */
#define fastnn_colT(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_colT, __VA_ARGS__)
#define fastnn_im2col_rows(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_im2col_rows, __VA_ARGS__)
#define fastnn_col2im_rows_add(f32, ...) \
    FASTNN_BY_DTYPE(f32, fastnn_col2im_rows_add, __VA_ARGS__)
#define fastnn_fill_planes(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_fill_planes, __VA_ARGS__)

#endif
