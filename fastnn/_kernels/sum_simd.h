/* The sum of a row, vectorized: used for the convolutions' db (conv.pyx,
 * winograd.pyx); and the sum of partial gradients of a parallel pass. */
#ifndef FASTNN_SUM_SIMD_H
#define FASTNN_SUM_SIMD_H

#include "fastnn_common.h"

/* The loops, once per element type (fastnn_common.h: loop templates). */
#define T double
#define FASTNN_SUFFIX d
#include "sum_loops.h"
#undef T
#undef FASTNN_SUFFIX
#define T float
#define FASTNN_SUFFIX f
#include "sum_loops.h"
#undef T
#undef FASTNN_SUFFIX

#define fastnn_bias_grad(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_bias_grad, __VA_ARGS__)

#define fastnn_add_planes(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_add_planes, __VA_ARGS__)

#define fastnn_add_parts(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_add_parts, __VA_ARGS__)

#endif
