/* A template (fastnn_common.h: loop templates): included by winograd_simd.h once
 * per element type, with T and FASTNN_SUF(name) bound; no include guard. */

/* U[ξ][f][c] = (G g Gᵀ)[ξ] for g = w[f][c] (3x3, row-major), w given as
   (FN, C, 3, 3); with flip, g = w[c][f] rotated 180 degrees, w given as
   (C, FN, 3, 3) -- the filter of the input gradient. */
static void FASTNN_SUF(fastnn_wino_filter)(const T *restrict w, ptrdiff_t FN, ptrdiff_t C,
                                     int flip, T *restrict U)
{
    for (ptrdiff_t f = 0; f < FN; f++)
    for (ptrdiff_t c = 0; c < C; c++) {
        T g[3][3], t[4][3];
        const T *src = flip ? w + (c * FN + f) * 9 : w + (f * C + c) * 9;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                g[i][j] = flip ? src[(2 - i) * 3 + (2 - j)] : src[i * 3 + j];
        for (int j = 0; j < 3; j++) {
            t[0][j] = g[0][j];
            t[1][j] = (g[0][j] + g[1][j] + g[2][j]) * (T)0.5;
            t[2][j] = (g[0][j] - g[1][j] + g[2][j]) * (T)0.5;
            t[3][j] = g[2][j];
        }
        for (int i = 0; i < 4; i++) {
            T *u = U + (ptrdiff_t)(i * 4) * FN * C + f * C + c;
            ptrdiff_t s = FN * C;
            u[0] = t[i][0];
            u[s] = (t[i][0] + t[i][1] + t[i][2]) * (T)0.5;
            u[2 * s] = (t[i][0] - t[i][1] + t[i][2]) * (T)0.5;
            u[3 * s] = t[i][2];
        }
    }
}

/* One sample x (C, H, W) zero-padded by pad on the top/left into xp
   (C, HP, WP), zeros filling the rest. */
FASTNN_CLONES FASTNN_NOLIBCALL static void FASTNN_SUF(fastnn_wino_pad)(const T *restrict x, ptrdiff_t C,
        ptrdiff_t H, ptrdiff_t W, ptrdiff_t pad, ptrdiff_t HP, ptrdiff_t WP,
        T *restrict xp)
{
    for (ptrdiff_t c = 0; c < C; c++)
        for (ptrdiff_t r = 0; r < HP; r++) {
            T *restrict dst = xp + (c * HP + r) * WP;
            ptrdiff_t ih = r - pad;
            if (ih < 0 || ih >= H) {
                for (ptrdiff_t j = 0; j < WP; j++)
                    dst[j] = 0;
                continue;
            }
            const T *restrict src = x + (c * H + ih) * W;
            ptrdiff_t lo = pad < WP ? pad : WP;
            ptrdiff_t hi = pad + W < WP ? pad + W : WP;
            for (ptrdiff_t j = 0; j < lo; j++)
                dst[j] = 0;
            for (ptrdiff_t j = lo; j < hi; j++)
                dst[j] = src[j - pad];
            for (ptrdiff_t j = hi; j < WP; j++)
                dst[j] = 0;
        }
}

/* V[ξ][c][t0 + th·TW + tw] = (Bᵀ d B)[ξ] for the patch of xp at (2th, 2tw);
   S is the distance between two ξ planes of V (C · tiles of the chunk). */
FASTNN_CLONES static void FASTNN_SUF(fastnn_wino_input)(const T *restrict xp, ptrdiff_t C,
        ptrdiff_t HP, ptrdiff_t WP, ptrdiff_t TH, ptrdiff_t TW, ptrdiff_t S,
        ptrdiff_t ldv, T *restrict V)
{
    for (ptrdiff_t c = 0; c < C; c++)
    for (ptrdiff_t th = 0; th < TH; th++) {
        const T *r0 = xp + (c * HP + 2 * th) * WP;
        const T *r1 = r0 + WP, *r2 = r1 + WP, *r3 = r2 + WP;
        T *restrict v = V + c * ldv + th * TW;
        FASTNN_IVDEP
        for (ptrdiff_t tw = 0; tw < TW; tw++) {
            ptrdiff_t j = 2 * tw;
            T a[4], b[4], e[4], h[4];
            for (int k = 0; k < 4; k++) {
                a[k] = r0[j + k] - r2[j + k];
                b[k] = r1[j + k] + r2[j + k];
                e[k] = r2[j + k] - r1[j + k];
                h[k] = r1[j + k] - r3[j + k];
            }
            FASTNN_WINO_B_ROW(v, 0, S, tw, a);
            FASTNN_WINO_B_ROW(v, 4, S, tw, b);
            FASTNN_WINO_B_ROW(v, 8, S, tw, e);
            FASTNN_WINO_B_ROW(v, 12, S, tw, h);
        }
    }
}

/* out[f] (OH x OW) = Aᵀ m A + bias[f] for the tiles of one sample: m[ξ] at
   M + ξ·S + f·ldm + th·TW + tw.  Aᵀ down the planes into eight rows of
   sums, then A along them straight into the two output rows; a tile past
   an odd OH or OW writes only its inside entries. */
FASTNN_CLONES static void FASTNN_SUF(fastnn_wino_output)(
        const T *restrict M, ptrdiff_t FN, ptrdiff_t TH, ptrdiff_t TW,
        ptrdiff_t S, ptrdiff_t ldm, const T *restrict bias, ptrdiff_t OH,
        ptrdiff_t OW, T *restrict out)
{
    T s[8][256];
    for (ptrdiff_t f = 0; f < FN; f++)
    for (ptrdiff_t th = 0; th < TH; th++) {
        const T *m = M + f * ldm + th * TW;
        T bf = bias ? bias[f] : (T)0;
        T *restrict o0 = out + (f * OH + 2 * th) * OW;
        T *restrict o1 = o0 + OW;
        int second = 2 * th + 1 < OH;
        for (ptrdiff_t base = 0; base < TW; base += 256) {
            ptrdiff_t n = TW - base < 256 ? TW - base : 256;
            ptrdiff_t full = (OW - 2 * base) / 2 < n ? (OW - 2 * base) / 2 : n;
            const T *mb = m + base;
            FASTNN_IVDEP
            for (ptrdiff_t tw = 0; tw < n; tw++)
                for (int k = 0; k < 4; k++) {
                    T m0 = mb[k * S + tw], m1 = mb[(4 + k) * S + tw];
                    T m2 = mb[(8 + k) * S + tw], m3 = mb[(12 + k) * S + tw];
                    s[k][tw] = m0 + m1 + m2;
                    s[4 + k][tw] = m1 - m2 - m3;
                }
            FASTNN_WINO_A_ROW(o0 + 2 * base, s[0], s[1], s[2], s[3], full, n, bf);
            if (second)
                FASTNN_WINO_A_ROW(o1 + 2 * base, s[4], s[5], s[6], s[7], full, n, bf);
        }
    }
}

/* The weight gradient, by the same algebra run backwards: with
   Z = U ⊙ V and Y = Aᵀ Z A, dZ = A dY Aᵀ, dU[f][c] = Σ_t dZ[f][t] ⊙ V[c][t]
   (16 GEMMs over the tiles) and dg = Gᵀ dU G.  This one writes
   Q[ξ][f][t0 + th·TW + tw] = (A dY Aᵀ)[ξ] for the 2x2 tiles of one sample's
   dout (FN, OH, OW), entries past an odd edge read as 0. */
FASTNN_CLONES FASTNN_NOLIBCALL static void FASTNN_SUF(fastnn_wino_dout)(
        const T *restrict dout, ptrdiff_t FN, ptrdiff_t OH, ptrdiff_t OW,
        ptrdiff_t TH, ptrdiff_t TW, ptrdiff_t S, ptrdiff_t ldq, T *restrict Q)
{
    T a[512 + 2], b[512 + 2];
    for (ptrdiff_t f = 0; f < FN; f++)
    for (ptrdiff_t th = 0; th < TH; th++) {
        const T *r0 = dout + (f * OH + 2 * th) * OW;
        int second = 2 * th + 1 < OH;
        T *restrict q = Q + f * ldq + th * TW;
        for (ptrdiff_t base = 0; base < TW; base += 256) {
            ptrdiff_t n = TW - base < 256 ? TW - base : 256;
            ptrdiff_t w0 = 2 * base, w = OW - w0 < 2 * n ? OW - w0 : 2 * n;
            for (ptrdiff_t j = 0; j < w; j++) {
                a[j] = r0[w0 + j];
                b[j] = second ? r0[OW + w0 + j] : (T)0;
            }
            for (ptrdiff_t j = w; j < 2 * n; j++) {
                a[j] = 0;
                b[j] = 0;
            }
            T *restrict qb = q + base;
            FASTNN_IVDEP
            for (ptrdiff_t tw = 0; tw < n; tw++) {
                T y00 = a[2 * tw], y01 = a[2 * tw + 1];
                T y10 = b[2 * tw], y11 = b[2 * tw + 1];
                T r[4][2] = {{y00, y01}, {y00 + y10, y01 + y11},
                             {y00 - y10, y01 - y11}, {-y10, -y11}};
                for (int i = 0; i < 4; i++) {
                    qb[(4 * i + 0) * S + tw] = r[i][0];
                    qb[(4 * i + 1) * S + tw] = r[i][0] + r[i][1];
                    qb[(4 * i + 2) * S + tw] = r[i][0] - r[i][1];
                    qb[(4 * i + 3) * S + tw] = -r[i][1];
                }
            }
        }
    }
}

/* dw[f][c] (3x3, dw given as (FN, C, 3, 3)) = Gᵀ dU[f][c] G, dU[ξ][f][c]. */
static void FASTNN_SUF(fastnn_wino_filter_grad)(const T *restrict dU, ptrdiff_t FN,
                                          ptrdiff_t C, T *restrict dw)
{
    for (ptrdiff_t f = 0; f < FN; f++)
    for (ptrdiff_t c = 0; c < C; c++) {
        T d[4][4], e[3][4];
        for (int k = 0; k < 16; k++)
            d[k / 4][k % 4] = dU[(ptrdiff_t)k * FN * C + f * C + c];
        for (int j = 0; j < 4; j++) {
            e[0][j] = d[0][j] + (d[1][j] + d[2][j]) * (T)0.5;
            e[1][j] = (d[1][j] - d[2][j]) * (T)0.5;
            e[2][j] = (d[1][j] + d[2][j]) * (T)0.5 + d[3][j];
        }
        T *g = dw + (f * C + c) * 9;
        for (int i = 0; i < 3; i++) {
            g[i * 3 + 0] = e[i][0] + (e[i][1] + e[i][2]) * (T)0.5;
            g[i * 3 + 1] = (e[i][1] - e[i][2]) * (T)0.5;
            g[i * 3 + 2] = (e[i][1] + e[i][2]) * (T)0.5 + e[i][3];
        }
    }
}
