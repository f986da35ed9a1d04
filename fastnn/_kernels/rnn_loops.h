/* A template (fastnn_common.h: loop templates): included by rnn_simd.h once
 * per element type, with T and FASTNN_SUF(name) bound, and EXP/TANH (the
 * fastnn_umath fields of NumPy's float or double exp/tanh loops) and
 * EXPD/TANHD (their data pointers); no include guard. */

FASTNN_CLONES static void FASTNN_SUF(fastnn_lstm_fwd_rows)(const fastnn_umath *um, ptrdiff_t n0, ptrdiff_t n1,
        ptrdiff_t H, T *a, ptrdiff_t lda, const T *hw, const T *b,
        const T *cp, ptrdiff_t ldcp, T *c, T *tc, ptrdiff_t ldc,
        T *h, ptrdiff_t ldh, T *h2, ptrdiff_t ldh2)
{
    for (ptrdiff_t n = n0; n < n1; n++) {
        T *g = a + n * lda;
        const T *hr = hw + n * 4 * H;
        for (ptrdiff_t j = 0; j < H; j++)
            g[j] = -((g[j] + hr[j]) + b[j]);
        for (ptrdiff_t j = H; j < 2 * H; j++)
            g[j] = (g[j] + hr[j]) + b[j];
        for (ptrdiff_t j = 2 * H; j < 4 * H; j++)
            g[j] = -((g[j] + hr[j]) + b[j]);
        fastnn_ucall(um->EXP, um->EXPD, g, g, H, sizeof(T));
        fastnn_ucall(um->TANH, um->TANHD, g + H, g + H, H, sizeof(T));
        fastnn_ucall(um->EXP, um->EXPD, g + 2 * H, g + 2 * H, 2 * H, sizeof(T));
        for (ptrdiff_t j = 0; j < H; j++)
            g[j] = (T)1 / ((T)1 + g[j]);
        for (ptrdiff_t j = 2 * H; j < 4 * H; j++)
            g[j] = (T)1 / ((T)1 + g[j]);
        const T *cpr = cp + n * ldcp;
        T *cr = c + n * ldc, *tcr = tc + n * ldc;
        for (ptrdiff_t j = 0; j < H; j++)
            cr[j] = g[j] * cpr[j] + g[H + j] * g[2 * H + j];
        fastnn_ucall(um->TANH, um->TANHD, cr, tcr, H, sizeof(T));
        T *hrow = h + n * ldh;
        for (ptrdiff_t j = 0; j < H; j++)
            hrow[j] = g[3 * H + j] * tcr[j];
        if (h2)
            memcpy(h2 + n * ldh2, hrow, H * sizeof(T));
    }
}

/* The LSTM step's backward, rows [n0, n1): dh = dhs_t + dhc (dhc NULL: 0),
   dc the carried dc (NULL: 0); writes da (stride ldda) and dc_prev into dco
   (may be dc). */
FASTNN_CLONES static void FASTNN_SUF(fastnn_lstm_bwd_rows)(ptrdiff_t n0, ptrdiff_t n1, ptrdiff_t H,
        const T *dhs, ptrdiff_t lddh, const T *dhc, const T *dc, T *dco,
        const T *g, ptrdiff_t ldg, const T *tc, ptrdiff_t ldc, const T *cp, ptrdiff_t ldcp,
        T *da, ptrdiff_t ldda)
{
    for (ptrdiff_t n = n0; n < n1; n++) {
        const T *gr = g + n * ldg, *tcr = tc + n * ldc, *cpr = cp + n * ldcp;
        const T *dhr = dhs + n * lddh;
        T *dar = da + n * ldda;
        ptrdiff_t j = 0;
#if defined(__GNUC__)
        /* The same arithmetic on vectors of lanes, element by element (dco
           may be dc itself: each lane reads its dc before writing it).  GCC
           left the loop below scalar: the optional dhc/dc and a dozen
           streams that might alias. */
        typedef T vec __attribute__((vector_size(32)));
        enum { L = 32 / sizeof(T) };
        const vec one = (vec){0} + (T)1;
        for (; j + L <= H; j += L) {
            vec f, gg, i, o, t, dh, ds, cpv, x;
            memcpy(&f, gr + j, sizeof f);
            memcpy(&gg, gr + H + j, sizeof gg);
            memcpy(&i, gr + 2 * H + j, sizeof i);
            memcpy(&o, gr + 3 * H + j, sizeof o);
            memcpy(&t, tcr + j, sizeof t);
            memcpy(&dh, dhr + j, sizeof dh);
            memcpy(&cpv, cpr + j, sizeof cpv);
            if (dhc) {
                memcpy(&x, dhc + n * H + j, sizeof x);
                dh = dh + x;
            } else {
                dh = dh + (T)0;
            }
            if (dc)
                memcpy(&x, dc + n * H + j, sizeof x);
            else
                x = (vec){0};
            ds = x + (dh * o) * (one - t * t);
            x = ds * f;
            memcpy(dco + n * H + j, &x, sizeof x);
            vec di = ds * gg, df = ds * cpv, dout = dh * t, dg = ds * i;
            x = df * (f * (one - f));
            memcpy(dar + j, &x, sizeof x);
            x = dg * (one - gg * gg);
            memcpy(dar + H + j, &x, sizeof x);
            x = di * (i * (one - i));
            memcpy(dar + 2 * H + j, &x, sizeof x);
            x = dout * (o * (one - o));
            memcpy(dar + 3 * H + j, &x, sizeof x);
        }
#endif
        for (; j < H; j++) {
            T f = gr[j], gg = gr[H + j], i = gr[2 * H + j], o = gr[3 * H + j];
            T t = tcr[j];
            T dh = dhr[j] + (dhc ? dhc[n * H + j] : (T)0);
            T ds = (dc ? dc[n * H + j] : (T)0) + (dh * o) * ((T)1 - t * t);
            dco[n * H + j] = ds * f;
            T di = ds * gg, df = ds * cpr[j], dout = dh * t, dg = ds * i;
            dar[j] = df * (f * ((T)1 - f));
            dar[H + j] = dg * ((T)1 - gg * gg);
            dar[2 * H + j] = di * (i * ((T)1 - i));
            dar[3 * H + j] = dout * (o * ((T)1 - o));
        }
    }
}

/* One tanh-RNN step, rows [n0, n1): h = tanh((hw + xw) + b) (the book's
   h_prev·Wh + x·Wx + b), written into h (stride ldh) and h2 (or NULL). */
FASTNN_CLONES static void FASTNN_SUF(fastnn_rnn_fwd_rows)(const fastnn_umath *um, ptrdiff_t n0, ptrdiff_t n1,
        ptrdiff_t H, const T *xw, ptrdiff_t ldx, const T *hw, const T *b,
        T *h, ptrdiff_t ldh, T *h2, ptrdiff_t ldh2)
{
    for (ptrdiff_t n = n0; n < n1; n++) {
        const T *xr = xw + n * ldx, *hr = hw + n * H;
        T *out = h + n * ldh;
        for (ptrdiff_t j = 0; j < H; j++)
            out[j] = (hr[j] + xr[j]) + b[j];
        fastnn_ucall(um->TANH, um->TANHD, out, out, H, sizeof(T));
        if (h2)
            memcpy(h2 + n * ldh2, out, H * sizeof(T));
    }
}

/* Its backward: dt = (dhs_t + dhc) * (1 - h²) into dt (stride lddt). */
FASTNN_CLONES static void FASTNN_SUF(fastnn_rnn_bwd_rows)(ptrdiff_t n0, ptrdiff_t n1, ptrdiff_t H,
        const T *dhs, ptrdiff_t lddh, const T *dhc, const T *h, ptrdiff_t ldh,
        T *dt, ptrdiff_t lddt)
{
    for (ptrdiff_t n = n0; n < n1; n++)
        for (ptrdiff_t j = 0; j < H; j++) {
            T hv = h[n * ldh + j];
            T dh = dhs[n * lddh + j] + (dhc ? dhc[n * H + j] : (T)0);
            dt[n * lddt + j] = dh * ((T)1 - hv * hv);
        }
}

/* GRU step, first pass, rows [n0, n1): z, r = sigmoid((x·Wx + h·Wh) + b) of
   the first 2H columns (a: x·Wx of the step, stride lda, overwritten by the
   gates; hw: h·Wh[:, :2H], rows 2H), and rh = r·h_prev (rows H). */
FASTNN_CLONES static void FASTNN_SUF(fastnn_gru_fwd1_rows)(const fastnn_umath *um, ptrdiff_t n0, ptrdiff_t n1,
        ptrdiff_t H, T *a, ptrdiff_t lda, const T *hw, const T *b,
        const T *hp, ptrdiff_t ldhp, T *rh, ptrdiff_t ldrh)
{
    for (ptrdiff_t n = n0; n < n1; n++) {
        T *g = a + n * lda;
        const T *hr = hw + n * 2 * H, *h = hp + n * ldhp;
        for (ptrdiff_t j = 0; j < 2 * H; j++)
            g[j] = -((g[j] + hr[j]) + b[j]);
        fastnn_ucall(um->EXP, um->EXPD, g, g, 2 * H, sizeof(T));
        for (ptrdiff_t j = 0; j < 2 * H; j++)
            g[j] = (T)1 / ((T)1 + g[j]);
        for (ptrdiff_t j = 0; j < H; j++)
            rh[n * ldrh + j] = g[H + j] * h[j];
    }
}

/* Second pass: h_hat = tanh((x·Wxh + rh·Whh) + bh) into the gates' last H,
   h_next = (1 - z)·h_prev + z·h_hat into h (and h2). */
FASTNN_CLONES static void FASTNN_SUF(fastnn_gru_fwd2_rows)(const fastnn_umath *um, ptrdiff_t n0, ptrdiff_t n1,
        ptrdiff_t H, T *a, ptrdiff_t lda, const T *hh, const T *b,
        const T *hp, ptrdiff_t ldhp, T *h, ptrdiff_t ldh, T *h2)
{
    for (ptrdiff_t n = n0; n < n1; n++) {
        T *g = a + n * lda, *hat = g + 2 * H;
        const T *q = hh + n * H, *hpr = hp + n * ldhp;
        for (ptrdiff_t j = 0; j < H; j++)
            hat[j] = (hat[j] + q[j]) + b[2 * H + j];
        fastnn_ucall(um->TANH, um->TANHD, hat, hat, H, sizeof(T));
        T *out = h + n * ldh;
        for (ptrdiff_t j = 0; j < H; j++)
            out[j] = ((T)1 - g[j]) * hpr[j] + g[j] * hat[j];
        if (h2)
            memcpy(h2 + n * ldh, out, H * sizeof(T));
    }
}

/* Backward, first pass: dh = dhs_t + dhc (NULL: 0) kept in dhn; dh_prev =
   dh·(1 - z) into dhp; dt = dh·z·(1 - h_hat²) into da's last H. */
FASTNN_CLONES static void FASTNN_SUF(fastnn_gru_bwd1_rows)(ptrdiff_t n0, ptrdiff_t n1,
        ptrdiff_t H, const T *dhs, ptrdiff_t lddh, const T *dhc, const T *g,
        ptrdiff_t ldg, T *dhn, T *dhp, T *da, ptrdiff_t ldda)
{
    for (ptrdiff_t n = n0; n < n1; n++) {
        const T *gr = g + n * ldg;
        T *dar = da + n * ldda;
        for (ptrdiff_t j = 0; j < H; j++) {
            T z = gr[j], hat = gr[2 * H + j];
            T dh = dhs[n * lddh + j] + (dhc ? dhc[n * H + j] : (T)0);
            dhn[n * H + j] = dh;
            dhp[n * H + j] = dh * ((T)1 - z);
            dar[2 * H + j] = (dh * z) * ((T)1 - hat * hat);
        }
    }
}

/* Second pass, with dhr = dt·Whhᵀ: dh_prev += r·dhr; the z and r gates'
   pre-activation gradients into da's first 2H. */
FASTNN_CLONES static void FASTNN_SUF(fastnn_gru_bwd2_rows)(ptrdiff_t n0, ptrdiff_t n1,
        ptrdiff_t H, const T *dhr, const T *dhn, T *dhp, const T *g, ptrdiff_t ldg,
        const T *hp, ptrdiff_t ldhp, T *da, ptrdiff_t ldda)
{
    for (ptrdiff_t n = n0; n < n1; n++) {
        const T *gr = g + n * ldg, *h = hp + n * ldhp;
        T *dar = da + n * ldda;
        for (ptrdiff_t j = 0; j < H; j++) {
            T z = gr[j], r = gr[H + j], hat = gr[2 * H + j];
            T q = dhr[n * H + j], dh = dhn[n * H + j];
            dhp[n * H + j] += r * q;
            T dz = dh * hat - dh * h[j];
            dar[j] = dz * z * ((T)1 - z);
            dar[H + j] = (q * h[j]) * r * ((T)1 - r);
        }
    }
}

/* db = Σ_t (Σ_n da[n, t]) with the steps added from the last, each step's
   rows in n order: the book's per-step dA.sum(axis=0) accumulated in its
   reversed time loop.  da is (N, T, G); columns [j0, j1).
   The sums run along the rows, a block of columns at a time (NumPy's own
   order for a sum over axis 0): a row's loads are contiguous and the adds of
   its columns independent, where a column at a time walked down the rows
   with a stride and waited on each add.  Every column still adds its rows in
   n order and then the steps from the last, so the sums are the same. */
#ifndef FASTNN_TBG_BLOCK
#define FASTNN_TBG_BLOCK 256
#endif
FASTNN_CLONES static void FASTNN_SUF(fastnn_time_bias_grad)(const T *da, ptrdiff_t N, ptrdiff_t Tn,
        ptrdiff_t G, ptrdiff_t j0, ptrdiff_t j1, T *db)
{
    T s[FASTNN_TBG_BLOCK];
    if (N <= 0 || Tn <= 0) {
        for (ptrdiff_t j = j0; j < j1; j++)
            db[j] = 0;
        return;
    }
    for (ptrdiff_t c0 = j0; c0 < j1; c0 += FASTNN_TBG_BLOCK) {
        ptrdiff_t w = j1 - c0 < FASTNN_TBG_BLOCK ? j1 - c0 : FASTNN_TBG_BLOCK;
        T *out = db + c0;
        for (ptrdiff_t t = Tn - 1; t >= 0; t--) {
            const T *row = da + t * G + c0;
            for (ptrdiff_t j = 0; j < w; j++)
                s[j] = row[j];
            for (ptrdiff_t n = 1; n < N; n++) {
                row = da + (n * Tn + t) * G + c0;
                for (ptrdiff_t j = 0; j < w; j++)
                    s[j] += row[j];
            }
            if (t == Tn - 1)
                for (ptrdiff_t j = 0; j < w; j++)
                    out[j] = s[j];
            else
                for (ptrdiff_t j = 0; j < w; j++)
                    out[j] += s[j];
        }
    }
}

/* The book's TimeEmbedding backward, columns [j0, j1) of dW (zeroed by the
   caller): for each step t, each distinct id v of the step gets the sum of
   its rows in batch order (one np.add.at into zeros), added to dW[v] (the
   steps' arrays added in t order).  first/nxt (embed_links) chain a step's
   equal ids in batch order. */
FASTNN_CLONES static void FASTNN_SUF(fastnn_embed_scatter)(const T *dout, const int64_t *idx,
        const uint8_t *first, const int32_t *nxt, ptrdiff_t N, ptrdiff_t Tn,
        ptrdiff_t D, ptrdiff_t j0, ptrdiff_t j1, T *dW)
{
    T tmp[256];
    for (ptrdiff_t t = 0; t < Tn; t++)
        for (ptrdiff_t n = 0; n < N; n++) {
            ptrdiff_t k = n * Tn + t;
            if (!first[k])
                continue;
            const T *src = dout + k * D;
            T *dst = dW + idx[k] * D;
            if (nxt[k] < 0) {
                for (ptrdiff_t j = j0; j < j1; j++)
                    dst[j] += src[j];
                continue;
            }
            for (ptrdiff_t c0 = j0; c0 < j1; c0 += 256) {
                ptrdiff_t c1 = c0 + 256 < j1 ? c0 + 256 : j1;
                for (ptrdiff_t j = c0; j < c1; j++)
                    tmp[j - c0] = src[j];
                for (ptrdiff_t m = nxt[k]; m >= 0; m = nxt[m * Tn + t]) {
                    const T *r = dout + (m * Tn + t) * D;
                    for (ptrdiff_t j = c0; j < c1; j++)
                        tmp[j - c0] += r[j];
                }
                for (ptrdiff_t j = c0; j < c1; j++)
                    dst[j] += tmp[j - c0];
            }
        }
}

/* Rows [r0, r1) of the softmax of x (R, V) into y: shift by the row max,
   NumPy's exp, divided by the pairwise row sum (the sequel's softmax). */
FASTNN_CLONES static T FASTNN_SUF(fastnn_row_max)(const T *xr, ptrdiff_t V)
{
    /* the row max, lane by lane as v > m ? v : m.  A NaN is skipped here,
       but makes its exp and so the row sum NaN: the row ends all NaN, as
       np.max's NaN makes it.  (Which zero a row of zeros keeps as its max
       does not show: x - 0 and x - -0 differ only in a zero's sign, and
       exp gives 1 for both.) */
    T mx = xr[0];
    ptrdiff_t j = 0;
#if defined(__GNUC__)
    /* two vectors of lanes: GCC leaves the select on an array of 8 scalars
       scalar (vmaxss, 12% of the loss's forward), so the select is written
       on vectors, as a compare and a blend by masks */
    typedef T vec __attribute__((vector_size(32)));
    enum { L = 32 / sizeof(T) };
    vec m0, m1;
    for (int k = 0; k < L; k++)
        m0[k] = mx;
    m1 = m0;
    for (; j + 2 * L <= V; j += 2 * L) {
        vec a, b;
        memcpy(&a, xr + j, sizeof a);
        memcpy(&b, xr + j + L, sizeof b);
        __typeof__(a > m0) ga = a > m0, gb = b > m1;
        m0 = (vec)(((__typeof__(ga))a & ga) | ((__typeof__(ga))m0 & ~ga));
        m1 = (vec)(((__typeof__(gb))b & gb) | ((__typeof__(gb))m1 & ~gb));
    }
    for (int k = 0; k < L; k++) {
        mx = m0[k] > mx ? m0[k] : mx;
        mx = m1[k] > mx ? m1[k] : mx;
    }
#endif
    for (; j < V; j++)
        mx = xr[j] > mx ? xr[j] : mx;
    return mx;
}

/* yr = xr - the row's max; in place when yr is xr (the scores are the
   caller's own scratch: no second N·T·V buffer to fetch for writing) */
FASTNN_CLONES static void FASTNN_SUF(fastnn_shift_row)(const T *xr, T *yr, ptrdiff_t V)
{
    const T mx = FASTNN_SUF(fastnn_row_max)(xr, V);
    if (yr == xr) {
        for (ptrdiff_t j = 0; j < V; j++)
            yr[j] -= mx;
    } else {
        const T *restrict x = xr;
        T *restrict y = yr;
        for (ptrdiff_t j = 0; j < V; j++)
            y[j] = x[j] - mx;
    }
}

FASTNN_CLONES static void FASTNN_SUF(fastnn_div_row)(T *restrict yr, T s, ptrdiff_t V)
{
    for (ptrdiff_t j = 0; j < V; j++)
        yr[j] /= s;
}

static void FASTNN_SUF(fastnn_softmax_rows)(const fastnn_umath *um, const T *x, T *y,
        ptrdiff_t r0, ptrdiff_t r1, ptrdiff_t V)
{
    for (ptrdiff_t r = r0; r < r1; r++) {
        T *yr = y + r * V;
        FASTNN_SUF(fastnn_shift_row)(x + r * V, yr, V);
        fastnn_ucall(um->EXP, um->EXPD, yr, yr, V, sizeof(T));
        FASTNN_SUF(fastnn_div_row)(yr, FASTNN_SUF(fastnn_pairwise_sum)(yr, V), V);
    }
}

/* Columns [c0, c1) of the time loss's gradient over all R rows, in place
   over y, as fastnn_tsl_bwd_rows computes it, and db[j] = the column's sum
   of the gradient, row after row: np.sum(dx, axis=0)'s order and bits (the
   scores' TimeAffine bias gradient, in the same pass).  R >= 1. */
FASTNN_CLONES static void FASTNN_SUF(fastnn_tsl_bwd_cols)(T *y, const int64_t *ts,
        const uint8_t *mask, ptrdiff_t R, ptrdiff_t V, ptrdiff_t c0, ptrdiff_t c1,
        double dout, double count, T *db)
{
    T d = (T)dout, cnt = (T)count;
    for (ptrdiff_t r = 0; r < R; r++) {
        T *restrict yr = y + r * V, m = mask[r] ? (T)1 : (T)0;
        T *restrict acc = db;
        int64_t t = ts[r] < 0 ? ts[r] + V : ts[r];
        if (t >= c0 && t < c1)
            yr[t] -= (T)1;
        if (r == 0) {
            for (ptrdiff_t j = c0; j < c1; j++) {
                T v = ((yr[j] * d) / cnt) * m;
                yr[j] = v;
                acc[j] = v;
            }
        } else {
            for (ptrdiff_t j = c0; j < c1; j++) {
                T v = ((yr[j] * d) / cnt) * m;
                yr[j] = v;
                acc[j] = acc[j] + v;
            }
        }
    }
}

/* Rows [r0, r1) of the time loss's gradient, in place over y: y[t_r] -= 1,
   then ((y·dout) / count)·mask_r. */
FASTNN_CLONES static void FASTNN_SUF(fastnn_tsl_bwd_rows)(T *y, const int64_t *ts, const uint8_t *mask,
        ptrdiff_t r0, ptrdiff_t r1, ptrdiff_t V, double dout, double count)
{
    T d = (T)dout, cnt = (T)count;
    for (ptrdiff_t r = r0; r < r1; r++) {
        T *yr = y + r * V, m = mask[r] ? (T)1 : (T)0;
        int64_t t = ts[r] < 0 ? ts[r] + V : ts[r];
        yr[t] -= (T)1;
        for (ptrdiff_t j = 0; j < V; j++)
            yr[j] = ((yr[j] * d) / cnt) * m;
    }
}
