/* The affine loops (C, so that GCC can clone them for AVX2; see fastnn_common.h). */
#ifndef FASTNN_AFFINE_SIMD_H
#define FASTNN_AFFINE_SIMD_H

#include "fastnn_common.h"

/* The loops, once per element type (fastnn_common.h: loop templates). */
#define T double
#define FASTNN_SUFFIX d
#include "affine_loops.h"
#undef T
#undef FASTNN_SUFFIX
#define T float
#define FASTNN_SUFFIX f
#include "affine_loops.h"
#undef T
#undef FASTNN_SUFFIX

/* The dtype-generic names (fastnn_common.h): name(f32, args...) */
#define fastnn_colsum(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_colsum, __VA_ARGS__)
#define fastnn_scale(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_scale, __VA_ARGS__)

#endif /* FASTNN_AFFINE_SIMD_H */
