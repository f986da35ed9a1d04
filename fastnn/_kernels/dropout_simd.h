/* The dropout loops (C, so that GCC can clone them for AVX2; see fastnn_common.h). */
#ifndef FASTNN_DROPOUT_SIMD_H
#define FASTNN_DROPOUT_SIMD_H

#include "fastnn_common.h"

#define FASTNN_MT_N 624
#define FASTNN_MT_M 397
#define FASTNN_MT_UPPER 0x80000000U
#define FASTNN_MT_LOWER 0x7fffffffU
#define FASTNN_MT_A 0x9908b0dfU

static inline uint32_t fastnn_mt_temper(uint32_t y) {
    y ^= (y >> 11);
    y ^= (y << 7) & 0x9d2c5680U;
    y ^= (y << 15) & 0xefc60000U;
    y ^= (y >> 18);
    return y;
}

/* The MT19937 recurrence over the whole state (Matsumoto & Nishimura),
   in the three ranges where it reads words not yet / already updated;
   each range is a plain vectorizable loop. */
FASTNN_CLONES static void fastnn_mt_twist(uint32_t *key) {
    int i;
    uint32_t y;
    for (i = 0; i < FASTNN_MT_N - FASTNN_MT_M; i++) {
        y = (key[i] & FASTNN_MT_UPPER) | (key[i + 1] & FASTNN_MT_LOWER);
        key[i] = key[i + FASTNN_MT_M] ^ (y >> 1) ^ ((0U - (y & 1U)) & FASTNN_MT_A);
    }
    for (; i < FASTNN_MT_N - 1; i++) {
        y = (key[i] & FASTNN_MT_UPPER) | (key[i + 1] & FASTNN_MT_LOWER);
        key[i] = key[i + (FASTNN_MT_M - FASTNN_MT_N)] ^ (y >> 1)
                 ^ ((0U - (y & 1U)) & FASTNN_MT_A);
    }
    y = (key[FASTNN_MT_N - 1] & FASTNN_MT_UPPER) | (key[0] & FASTNN_MT_LOWER);
    key[FASTNN_MT_N - 1] = key[FASTNN_MT_M - 1] ^ (y >> 1) ^ ((0U - (y & 1U)) & FASTNN_MT_A);
}

/* mask[j] = (temper(key[2j]) >> 5) > ta for j < npairs; returns nonzero
   when some pair has (temper(key[2j]) >> 5) == ta (needs the second word). */
FASTNN_CLONES static int fastnn_mt_mask53(const uint32_t *restrict key,
                                               ptrdiff_t npairs, int32_t ta,
                                               uint8_t *restrict mask) {
    int32_t eq = 0;
    for (ptrdiff_t j = 0; j < npairs; j++) {
        int32_t a = (int32_t)(fastnn_mt_temper(key[2 * j]) >> 5);
        mask[j] = (uint8_t)(a > ta);
        eq |= (a == ta);
    }
    return eq != 0;
}

/* mask[j] = temper(key[j]) > t */
FASTNN_CLONES static void fastnn_mt_mask32(const uint32_t *restrict key,
                                                ptrdiff_t n, uint32_t t,
                                                uint8_t *restrict mask) {
    for (ptrdiff_t j = 0; j < n; j++)
        mask[j] = (uint8_t)(fastnn_mt_temper(key[j]) > t);
}

/* The loops, once per element type (fastnn_common.h: loop templates). */
#define T double
#define FASTNN_SUFFIX d
#include "dropout_loops.h"
#undef T
#undef FASTNN_SUFFIX
#define T float
#define FASTNN_SUFFIX f
#include "dropout_loops.h"
#undef T
#undef FASTNN_SUFFIX

/* The dtype-generic name (fastnn_common.h): name(f32, args...) */
#define fastnn_apply_mask(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_apply_mask, __VA_ARGS__)

#endif /* FASTNN_DROPOUT_SIMD_H */
