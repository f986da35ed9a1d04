/* Softmax with cross-entropy (C; see fastnn_common.h).  Each loop follows the
 * reference's formula and operation order in the array's own precision T,
 * so float64 results agree with fastnn.reference to rounding; sums are NumPy's
 * pairwise summation with its blocking, so they round as np.sum does.
 *
 * Labels: t is class indices (code FASTNN_T_U8/I32/I64: uint8, int32, int64)
 * or one-hot rows of T (FASTNN_T_ONEHOT), read by argmax in the loss and by
 * value in the gradient, as the book does. */
#ifndef FASTNN_SOFTMAX_SIMD_H
#define FASTNN_SOFTMAX_SIMD_H

#include "fastnn_common.h"
#include <stdlib.h>

enum { FASTNN_T_ONEHOT = 0, FASTNN_T_U8 = 1, FASTNN_T_I32 = 2, FASTNN_T_I64 = 3 };

/* The statements given last, with NAME bound to t as a pointer to labels of the
 * given code's type: a loop over labels specialized per type, the code tested
 * once. */
#define FASTNN_BY_LABEL(code, t, NAME, ...)                                       \
    do {                                                                          \
        if ((code) == FASTNN_T_U8) {                                              \
            const uint8_t *NAME = (const uint8_t *)(t); __VA_ARGS__               \
        } else if ((code) == FASTNN_T_I32) {                                      \
            const int32_t *NAME = (const int32_t *)(t); __VA_ARGS__               \
        } else {                                                                  \
            const int64_t *NAME = (const int64_t *)(t); __VA_ARGS__               \
        }                                                                         \
    } while (0)

/* Every one of n class-index labels lies in [0, c). */
static int fastnn_labels_in_range(const void *t, int code, ptrdiff_t n, ptrdiff_t c)
{
    int ok = 1;
    FASTNN_BY_LABEL(code, t, labels,
        for (ptrdiff_t i = 0; i < n; i++) {
            int64_t v = (int64_t)labels[i];
            if (v < 0 || v >= c) {
                ok = 0;
                break;
            }
        });
    return ok;
}

/* The loops, once per element type (fastnn_common.h: loop templates). */
#define T double
#define FASTNN_SUFFIX d
#define LOG log
#include "softmax_loops.h"
#undef T
#undef FASTNN_SUFFIX
#undef LOG
#define T float
#define FASTNN_SUFFIX f
#define LOG logf
#include "softmax_loops.h"
#undef T
#undef FASTNN_SUFFIX
#undef LOG

/* The dtype-generic names (fastnn_common.h): name(f32, args...) */
#define fastnn_softmax_shift(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_softmax_shift, __VA_ARGS__)
#define fastnn_sce_loss(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_sce_loss, __VA_ARGS__)
#define fastnn_sce_backward(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_sce_backward, __VA_ARGS__)

#endif /* FASTNN_SOFTMAX_SIMD_H */
