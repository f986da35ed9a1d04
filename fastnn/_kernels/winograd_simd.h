/* Winograd's minimal filtering F(2x2, 3x3) for 3x3, stride-1 convolutions
 * (conv.pyx, float32): the transforms, in C loops GCC vectorizes across the
 * tiles of a row, compiled twice (FASTNN_CLONES).
 *
 * An output tile of 2x2 comes from a 4x4 input patch d (tiles step by 2)
 * and a 3x3 filter g as  Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A  (Lavin & Gray,
 * "Fast Algorithms for Convolutional Neural Networks", CVPR 2016), with
 *
 *     Bᵀ = | 1  0 -1  0 |     G = | 1    0    0  |     Aᵀ = | 1  1  1  0 |
 *          | 0  1  1  0 |         | 1/2  1/2  1/2|          | 0  1 -1 -1 |
 *          | 0 -1  1  0 |         | 1/2 -1/2  1/2|
 *          | 0  1  0 -1 |         | 0    0    1  |
 *
 * Over C input channels the elementwise product becomes 16 independent
 * GEMMs, one per entry ξ of the 4x4 transform:  M[ξ] (FN x T) = U[ξ]
 * (FN x C) · V[ξ] (C x T),  T tiles.  That is 16·C·FN multiply-adds per
 * tile against im2col's 36·C·FN: 2.25x fewer, and the GEMMs are wide.
 * The transforms only add and halve, so on finite inputs the result differs
 * from the direct sum by rounding (about 1e-7 of the largest term in
 * float32).  Not on the others: an inf in a patch meets inf - inf in Bᵀ d B
 * and gives NaN where the direct sum gives inf (within the same receptive
 * field, as a NaN does), and the transforms' sums of up to four terms can
 * overflow to inf on inputs within a factor of 4 of the type's maximum.
 *
 * Layouts (row-major): xp, one sample zero-padded to (C, HP, WP) with
 * HP = 2·TH + 2, WP = 2·TW + 2, so every patch is inside; V[ξ][c][t] and
 * M[ξ][f][t] with t = (n·TH + th)·TW + tw over the samples of a chunk;
 * U[ξ][f][c].
 */
#ifndef FASTNN_WINOGRAD_SIMD_H
#define FASTNN_WINOGRAD_SIMD_H

#include "fastnn_common.h"

/* U[ξ][f][c] = (G g Gᵀ)[ξ] for g = w[f][c] (3x3, row-major), w given as
   (FN, C, 3, 3); with flip, g = w[c][f] rotated 180 degrees, w given as
   (C, FN, 3, 3) -- the filter of the input gradient. */
#define FASTNN_WINO_FILTER(T, SUF)                                              \
static void fastnn_wino_filter_##SUF(const T *restrict w, ptrdiff_t FN, ptrdiff_t C, \
                                     int flip, T *restrict U)                   \
{                                                                               \
    for (ptrdiff_t f = 0; f < FN; f++)                                          \
    for (ptrdiff_t c = 0; c < C; c++) {                                         \
        T g[3][3], t[4][3];                                                     \
        const T *src = flip ? w + (c * FN + f) * 9 : w + (f * C + c) * 9;       \
        for (int i = 0; i < 3; i++)                                             \
            for (int j = 0; j < 3; j++)                                         \
                g[i][j] = flip ? src[(2 - i) * 3 + (2 - j)] : src[i * 3 + j];   \
        for (int j = 0; j < 3; j++) {                                           \
            t[0][j] = g[0][j];                                                  \
            t[1][j] = (g[0][j] + g[1][j] + g[2][j]) * (T)0.5;                   \
            t[2][j] = (g[0][j] - g[1][j] + g[2][j]) * (T)0.5;                   \
            t[3][j] = g[2][j];                                                  \
        }                                                                       \
        for (int i = 0; i < 4; i++) {                                           \
            T *u = U + (ptrdiff_t)(i * 4) * FN * C + f * C + c;                 \
            ptrdiff_t s = FN * C;                                               \
            u[0] = t[i][0];                                                     \
            u[s] = (t[i][0] + t[i][1] + t[i][2]) * (T)0.5;                      \
            u[2 * s] = (t[i][0] - t[i][1] + t[i][2]) * (T)0.5;                  \
            u[3 * s] = t[i][2];                                                 \
        }                                                                       \
    }                                                                           \
}
FASTNN_WINO_FILTER(double, d)
FASTNN_WINO_FILTER(float, f)

/* One sample x (C, H, W) zero-padded by pad on the top/left into xp
   (C, HP, WP), zeros filling the rest. */
#define FASTNN_WINO_PAD(T, SUF)                                                 \
FASTNN_CLONES FASTNN_NOLIBCALL static void fastnn_wino_pad_##SUF(const T *restrict x, ptrdiff_t C, \
        ptrdiff_t H, ptrdiff_t W, ptrdiff_t pad, ptrdiff_t HP, ptrdiff_t WP,    \
        T *restrict xp)                                                         \
{                                                                               \
    for (ptrdiff_t c = 0; c < C; c++)                                           \
        for (ptrdiff_t r = 0; r < HP; r++) {                                    \
            T *restrict dst = xp + (c * HP + r) * WP;                           \
            ptrdiff_t ih = r - pad;                                             \
            if (ih < 0 || ih >= H) {                                            \
                for (ptrdiff_t j = 0; j < WP; j++)                              \
                    dst[j] = 0;                                                 \
                continue;                                                       \
            }                                                                   \
            const T *restrict src = x + (c * H + ih) * W;                       \
            ptrdiff_t lo = pad < WP ? pad : WP;                                 \
            ptrdiff_t hi = pad + W < WP ? pad + W : WP;                         \
            for (ptrdiff_t j = 0; j < lo; j++)                                  \
                dst[j] = 0;                                                     \
            for (ptrdiff_t j = lo; j < hi; j++)                                 \
                dst[j] = src[j - pad];                                          \
            for (ptrdiff_t j = hi; j < WP; j++)                                 \
                dst[j] = 0;                                                     \
        }                                                                       \
}
FASTNN_WINO_PAD(double, d)
FASTNN_WINO_PAD(float, f)

/* B along one row t of Bᵀ d: planes p0 .. p0 + 3 of v at tile tw. */
#define FASTNN_WINO_B_ROW(v, p0, S, tw, t)                                      \
    do {                                                                        \
        (v)[((p0) + 0) * (S) + (tw)] = (t)[0] - (t)[2];                         \
        (v)[((p0) + 1) * (S) + (tw)] = (t)[1] + (t)[2];                         \
        (v)[((p0) + 2) * (S) + (tw)] = (t)[2] - (t)[1];                         \
        (v)[((p0) + 3) * (S) + (tw)] = (t)[1] - (t)[3];                         \
    } while (0)

/* V[ξ][c][t0 + th·TW + tw] = (Bᵀ d B)[ξ] for the patch of xp at (2th, 2tw);
   S is the distance between two ξ planes of V (C · tiles of the chunk). */
#define FASTNN_WINO_INPUT(T, SUF)                                               \
FASTNN_CLONES static void fastnn_wino_input_##SUF(const T *restrict xp, ptrdiff_t C, \
        ptrdiff_t HP, ptrdiff_t WP, ptrdiff_t TH, ptrdiff_t TW, ptrdiff_t S,    \
        ptrdiff_t ldv, T *restrict V)                                           \
{                                                                               \
    for (ptrdiff_t c = 0; c < C; c++)                                           \
    for (ptrdiff_t th = 0; th < TH; th++) {                                     \
        const T *r0 = xp + (c * HP + 2 * th) * WP;                              \
        const T *r1 = r0 + WP, *r2 = r1 + WP, *r3 = r2 + WP;                    \
        T *restrict v = V + c * ldv + th * TW;                                  \
        FASTNN_IVDEP                                                            \
        for (ptrdiff_t tw = 0; tw < TW; tw++) {                                 \
            ptrdiff_t j = 2 * tw;                                               \
            T a[4], b[4], e[4], h[4];                                           \
            for (int k = 0; k < 4; k++) {                                       \
                a[k] = r0[j + k] - r2[j + k];                                   \
                b[k] = r1[j + k] + r2[j + k];                                   \
                e[k] = r2[j + k] - r1[j + k];                                   \
                h[k] = r1[j + k] - r3[j + k];                                   \
            }                                                                   \
            FASTNN_WINO_B_ROW(v, 0, S, tw, a);                                  \
            FASTNN_WINO_B_ROW(v, 4, S, tw, b);                                  \
            FASTNN_WINO_B_ROW(v, 8, S, tw, e);                                  \
            FASTNN_WINO_B_ROW(v, 12, S, tw, h);                                 \
        }                                                                       \
    }                                                                           \
}
FASTNN_WINO_INPUT(double, d)
FASTNN_WINO_INPUT(float, f)

/* A along the sums u0..u3 of n tiles into one output row r (2 entries a
   tile; of the last tile only the first when full < n, an odd OW). */
#define FASTNN_WINO_A_ROW(r, u0, u1, u2, u3, full, n, bf)                       \
    do {                                                                        \
        for (ptrdiff_t tw = 0; tw < (full); tw++) {                             \
            (r)[2 * tw] = (u0)[tw] + (u1)[tw] + (u2)[tw] + (bf);                \
            (r)[2 * tw + 1] = (u1)[tw] - (u2)[tw] - (u3)[tw] + (bf);            \
        }                                                                       \
        if ((full) < (n))                                                       \
            (r)[2 * (full)] = (u0)[full] + (u1)[full] + (u2)[full] + (bf);      \
    } while (0)

/* out[f] (OH x OW) = Aᵀ m A + bias[f] for the tiles of one sample: m[ξ] at
   M + ξ·S + f·ldm + th·TW + tw.  Aᵀ down the planes into eight rows of
   sums, then A along them straight into the two output rows; a tile past
   an odd OH or OW writes only its inside entries. */
#define FASTNN_WINO_OUTPUT(T, SUF)                                              \
FASTNN_CLONES static void fastnn_wino_output_##SUF(                             \
        const T *restrict M, ptrdiff_t FN, ptrdiff_t TH, ptrdiff_t TW,          \
        ptrdiff_t S, ptrdiff_t ldm, const T *restrict bias, ptrdiff_t OH,       \
        ptrdiff_t OW, T *restrict out)                                          \
{                                                                               \
    T s[8][256];                                                                \
    for (ptrdiff_t f = 0; f < FN; f++)                                          \
    for (ptrdiff_t th = 0; th < TH; th++) {                                     \
        const T *m = M + f * ldm + th * TW;                                     \
        T bf = bias ? bias[f] : (T)0;                                           \
        T *restrict o0 = out + (f * OH + 2 * th) * OW;                          \
        T *restrict o1 = o0 + OW;                                               \
        int second = 2 * th + 1 < OH;                                           \
        for (ptrdiff_t base = 0; base < TW; base += 256) {                      \
            ptrdiff_t n = TW - base < 256 ? TW - base : 256;                    \
            ptrdiff_t full = (OW - 2 * base) / 2 < n ? (OW - 2 * base) / 2 : n; \
            const T *mb = m + base;                                             \
            FASTNN_IVDEP                                                        \
            for (ptrdiff_t tw = 0; tw < n; tw++)                                \
                for (int k = 0; k < 4; k++) {                                   \
                    T m0 = mb[k * S + tw], m1 = mb[(4 + k) * S + tw];           \
                    T m2 = mb[(8 + k) * S + tw], m3 = mb[(12 + k) * S + tw];    \
                    s[k][tw] = m0 + m1 + m2;                                    \
                    s[4 + k][tw] = m1 - m2 - m3;                                \
                }                                                               \
            FASTNN_WINO_A_ROW(o0 + 2 * base, s[0], s[1], s[2], s[3], full, n, bf); \
            if (second)                                                         \
                FASTNN_WINO_A_ROW(o1 + 2 * base, s[4], s[5], s[6], s[7], full, n, bf); \
        }                                                                       \
    }                                                                           \
}
FASTNN_WINO_OUTPUT(double, d)
FASTNN_WINO_OUTPUT(float, f)

/* The weight gradient, by the same algebra run backwards: with
   Z = U ⊙ V and Y = Aᵀ Z A, dZ = A dY Aᵀ, dU[f][c] = Σ_t dZ[f][t] ⊙ V[c][t]
   (16 GEMMs over the tiles) and dg = Gᵀ dU G.  This one writes
   Q[ξ][f][t0 + th·TW + tw] = (A dY Aᵀ)[ξ] for the 2x2 tiles of one sample's
   dout (FN, OH, OW), entries past an odd edge read as 0. */
#define FASTNN_WINO_DOUT(T, SUF)                                                \
FASTNN_CLONES FASTNN_NOLIBCALL static void fastnn_wino_dout_##SUF(              \
        const T *restrict dout, ptrdiff_t FN, ptrdiff_t OH, ptrdiff_t OW,       \
        ptrdiff_t TH, ptrdiff_t TW, ptrdiff_t S, ptrdiff_t ldq, T *restrict Q)  \
{                                                                               \
    T a[512 + 2], b[512 + 2];                                                   \
    for (ptrdiff_t f = 0; f < FN; f++)                                          \
    for (ptrdiff_t th = 0; th < TH; th++) {                                     \
        const T *r0 = dout + (f * OH + 2 * th) * OW;                            \
        int second = 2 * th + 1 < OH;                                           \
        T *restrict q = Q + f * ldq + th * TW;                                  \
        for (ptrdiff_t base = 0; base < TW; base += 256) {                      \
            ptrdiff_t n = TW - base < 256 ? TW - base : 256;                    \
            ptrdiff_t w0 = 2 * base, w = OW - w0 < 2 * n ? OW - w0 : 2 * n;     \
            for (ptrdiff_t j = 0; j < w; j++) {                                 \
                a[j] = r0[w0 + j];                                              \
                b[j] = second ? r0[OW + w0 + j] : (T)0;                         \
            }                                                                   \
            for (ptrdiff_t j = w; j < 2 * n; j++) {                             \
                a[j] = 0;                                                       \
                b[j] = 0;                                                       \
            }                                                                   \
            T *restrict qb = q + base;                                          \
            FASTNN_IVDEP                                                        \
            for (ptrdiff_t tw = 0; tw < n; tw++) {                              \
                T y00 = a[2 * tw], y01 = a[2 * tw + 1];                         \
                T y10 = b[2 * tw], y11 = b[2 * tw + 1];                         \
                T r[4][2] = {{y00, y01}, {y00 + y10, y01 + y11},                \
                             {y00 - y10, y01 - y11}, {-y10, -y11}};             \
                for (int i = 0; i < 4; i++) {                                   \
                    qb[(4 * i + 0) * S + tw] = r[i][0];                         \
                    qb[(4 * i + 1) * S + tw] = r[i][0] + r[i][1];               \
                    qb[(4 * i + 2) * S + tw] = r[i][0] - r[i][1];               \
                    qb[(4 * i + 3) * S + tw] = -r[i][1];                        \
                }                                                               \
            }                                                                   \
        }                                                                       \
    }                                                                           \
}
FASTNN_WINO_DOUT(double, d)
FASTNN_WINO_DOUT(float, f)

/* dw[f][c] (3x3, dw given as (FN, C, 3, 3)) = Gᵀ dU[f][c] G, dU[ξ][f][c]. */
#define FASTNN_WINO_FILTER_GRAD(T, SUF)                                         \
static void fastnn_wino_filter_grad_##SUF(const T *restrict dU, ptrdiff_t FN,   \
                                          ptrdiff_t C, T *restrict dw)          \
{                                                                               \
    for (ptrdiff_t f = 0; f < FN; f++)                                          \
    for (ptrdiff_t c = 0; c < C; c++) {                                         \
        T d[4][4], e[3][4];                                                     \
        for (int k = 0; k < 16; k++)                                            \
            d[k / 4][k % 4] = dU[(ptrdiff_t)k * FN * C + f * C + c];            \
        for (int j = 0; j < 4; j++) {                                           \
            e[0][j] = d[0][j] + (d[1][j] + d[2][j]) * (T)0.5;                   \
            e[1][j] = (d[1][j] - d[2][j]) * (T)0.5;                             \
            e[2][j] = (d[1][j] + d[2][j]) * (T)0.5 + d[3][j];                   \
        }                                                                       \
        T *g = dw + (f * C + c) * 9;                                            \
        for (int i = 0; i < 3; i++) {                                           \
            g[i * 3 + 0] = e[i][0] + (e[i][1] + e[i][2]) * (T)0.5;              \
            g[i * 3 + 1] = (e[i][1] - e[i][2]) * (T)0.5;                        \
            g[i * 3 + 2] = (e[i][1] + e[i][2]) * (T)0.5 + e[i][3];              \
        }                                                                       \
    }                                                                           \
}
FASTNN_WINO_FILTER_GRAD(double, d)
FASTNN_WINO_FILTER_GRAD(float, f)

/* The dtype-generic names (fastnn_common.h): name(f32, args...) */
#define fastnn_wino_filter(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_wino_filter, __VA_ARGS__)
#define fastnn_wino_filter_grad(f32, ...) \
    FASTNN_BY_DTYPE(f32, fastnn_wino_filter_grad, __VA_ARGS__)
#define fastnn_wino_pad(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_wino_pad, __VA_ARGS__)
#define fastnn_wino_input(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_wino_input, __VA_ARGS__)
#define fastnn_wino_output(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_wino_output, __VA_ARGS__)
#define fastnn_wino_dout(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_wino_dout, __VA_ARGS__)

#endif
