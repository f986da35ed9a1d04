/* C loops of max pooling (maxpool.pyx), compiled twice (FASTNN_CLONES:
 * baseline and AVX2) where they vectorize. */
#ifndef FASTNN_MAXPOOL_SIMD_H
#define FASTNN_MAXPOOL_SIMD_H

#include "fastnn_common.h"

/* The row loops, once per element type (fastnn_common.h: loop templates). */
#define T double
#define FASTNN_SUFFIX d
#define IT int64_t
#include "maxpool_loops.h"
#undef T
#undef FASTNN_SUFFIX
#undef IT
#define T float
#define FASTNN_SUFFIX f
#define IT int32_t
#include "maxpool_loops.h"
#undef T
#undef FASTNN_SUFFIX
#undef IT

/* The book's rule (np.argmax), as selects: a larger value, or the first
   NaN, wins (on real data the comparison is a coin toss that a branch
   predictor loses). */
#define FASTNN_PICK(v, i, best, k)                                              \
    do {                                                                        \
        int take_ = ((v) > (best)) | (((v) != (v)) & ((best) == (best)));       \
        (best) = take_ ? (v) : (best);                                          \
        (k) = take_ ? (i) : (k);                                                \
    } while (0)

/* The plane loops, once per element type and index type. */
#define T double
#define FASTNN_SUFFIX d
#define IT unsigned char
#define FASTNN_INDEX u8
#include "maxpool_plane_loops.h"
#undef T
#undef FASTNN_SUFFIX
#undef IT
#undef FASTNN_INDEX
#define T float
#define FASTNN_SUFFIX f
#define IT unsigned char
#define FASTNN_INDEX u8
#include "maxpool_plane_loops.h"
#undef T
#undef FASTNN_SUFFIX
#undef IT
#undef FASTNN_INDEX
#define T double
#define FASTNN_SUFFIX d
#define IT ptrdiff_t
#define FASTNN_INDEX ip
#include "maxpool_plane_loops.h"
#undef T
#undef FASTNN_SUFFIX
#undef IT
#undef FASTNN_INDEX
#define T float
#define FASTNN_SUFFIX f
#define IT ptrdiff_t
#define FASTNN_INDEX ip
#include "maxpool_plane_loops.h"
#undef T
#undef FASTNN_SUFFIX
#undef IT
#undef FASTNN_INDEX

/* The dtype- and index-generic names (FASTNN_BY_DTYPE, fastnn_common.h):
   name(f32, wide, args...), wide for ptrdiff_t indices. */
#define fastnn_maxpool_plane(f32, wide, ...)                                    \
    ((wide) ? FASTNN_BY_DTYPE(f32, fastnn_maxpool_plane_ip, __VA_ARGS__)         \
            : FASTNN_BY_DTYPE(f32, fastnn_maxpool_plane_u8, __VA_ARGS__))
#define fastnn_unpool_plane(f32, wide, ...)                                     \
    ((wide) ? FASTNN_BY_DTYPE(f32, fastnn_unpool_plane_ip, __VA_ARGS__)          \
            : FASTNN_BY_DTYPE(f32, fastnn_unpool_plane_u8, __VA_ARGS__))

#endif
