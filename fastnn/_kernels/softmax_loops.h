/* A template (fastnn_common.h: loop templates): included by softmax_simd.h once
 * per element type, with T and FASTNN_SUF(name) bound; no include guard. */

/* NumPy's @TYPE@_pairwise_sum (loops_utils.h): 8 accumulators up to 128
   elements, halves (rounded to a multiple of 8) above. */
static T FASTNN_SUF(fastnn_pairwise_sum)(const T *a, ptrdiff_t n)
{
    if (n < 8) {
        T res = 0;
        for (ptrdiff_t i = 0; i < n; i++)
            res = res + a[i];
        return res;
    }
    if (n <= 128) {
        T r[8];
        ptrdiff_t i;
        for (int k = 0; k < 8; k++)
            r[k] = a[k];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int k = 0; k < 8; k++)
                r[k] = r[k] + a[i + k];
        T res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            res = res + a[i];
        return res;
    }
    ptrdiff_t n2 = n / 2;
    n2 -= n2 % 8;
    return FASTNN_SUF(fastnn_pairwise_sum)(a, n2) + FASTNN_SUF(fastnn_pairwise_sum)(a + n2, n - n2);
}
/* y = x - max of its row (np.max propagates NaN: once m is NaN it stays). */
static void FASTNN_SUF(fastnn_softmax_shift)(const T *x, T *y, ptrdiff_t n, ptrdiff_t c)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        const T *xr = x + i * c;
        T *yr = y + i * c;
        T m = xr[0];
        for (ptrdiff_t j = 1; j < c; j++)
            if (xr[j] > m || xr[j] != xr[j])
                m = xr[j];
        for (ptrdiff_t j = 0; j < c; j++)
            yr[j] = xr[j] - m;
    }
}
/* np.argmax of a row: the first maximum; a NaN counts as the maximum (the
   first NaN wins). */
static ptrdiff_t FASTNN_SUF(fastnn_argmax_row)(const T *r, ptrdiff_t c)
{
    T best = r[0];
    ptrdiff_t idx = 0;
    if (best != best)
        return 0;
    for (ptrdiff_t j = 1; j < c; j++) {
        if (r[j] > best) {
            best = r[j];
            idx = j;
        } else if (r[j] != r[j]) {
            return j;
        }
    }
    return idx;
}
/* y holds exp(x - max) per row: normalize it to the softmax, then the mean
   loss -sum(log(y[i, t_i] + 1e-7)) / N, or with smoothing eps > 0
   -sum(target * log(y + 1e-7)) / N, target = (1-eps)*onehot + eps/C formed in
   T.  Returns 0, or -1 when out of memory. */
static int FASTNN_SUF(fastnn_sce_loss)(T *y, ptrdiff_t n, ptrdiff_t c, const void *t,
                                 int code, double smoothing, double *loss)
{
    const T tiny = (T)1e-7, *onehot = (const T *)t;
    ptrdiff_t nterms = smoothing == 0.0 ? n : n * c;
    T *terms = (T *)malloc((nterms > 1 ? nterms : 1) * sizeof(T));
    if (terms == NULL)
        return -1;
    for (ptrdiff_t i = 0; i < n; i++) {
        T *yr = y + i * c, s = FASTNN_SUF(fastnn_pairwise_sum)(yr, c);
        for (ptrdiff_t j = 0; j < c; j++)
            yr[j] = yr[j] / s;
    }
    if (smoothing == 0.0 && code == FASTNN_T_ONEHOT) {
        for (ptrdiff_t i = 0; i < n; i++)
            terms[i] = LOG(y[i * c + FASTNN_SUF(fastnn_argmax_row)(onehot + i * c, c)] + tiny);
    } else if (smoothing == 0.0) {
        FASTNN_BY_LABEL(code, t, labels,
            for (ptrdiff_t i = 0; i < n; i++)
                terms[i] = LOG(y[i * c + (ptrdiff_t)labels[i]] + tiny););
    } else if (code == FASTNN_T_ONEHOT) {
        const T a = (T)(1.0 - smoothing), b = (T)(smoothing / c);
        for (ptrdiff_t i = 0; i < n * c; i++) {
            T target = a * onehot[i] + b;
            terms[i] = target * LOG(y[i] + tiny);
        }
    } else {
        const T a = (T)(1.0 - smoothing), b = (T)(smoothing / c), hi = a + b;
        FASTNN_BY_LABEL(code, t, labels,
            for (ptrdiff_t i = 0; i < n; i++)
                for (ptrdiff_t j = 0; j < c; j++) {
                    T target = j == (ptrdiff_t)labels[i] ? hi : b;
                    terms[i * c + j] = target * LOG(y[i * c + j] + tiny);
                });
    }
    *loss = (double)(-FASTNN_SUF(fastnn_pairwise_sum)(terms, nterms) / (T)n);
    free(terms);
    return 0;
}
/* dx = (y - target) / N (dx may be y itself); without smoothing and with
   class indices as the reference: dx = y.copy(); dx[i, t_i] -= 1; dx / N. */
static void FASTNN_SUF(fastnn_sce_backward)(const T *y, T *dx, ptrdiff_t n, ptrdiff_t c,
                                      const void *t, int code, double smoothing)
{
    const T fn = (T)n, *onehot = (const T *)t;
    const T a = (T)(1.0 - smoothing), b = (T)(smoothing / c), hi = a + b;
    if (code == FASTNN_T_ONEHOT) {
        for (ptrdiff_t i = 0; i < n * c; i++)
            dx[i] = smoothing == 0.0 ? (y[i] - onehot[i]) / fn
                                     : (y[i] - (a * onehot[i] + b)) / fn;
    } else if (smoothing == 0.0) {
        FASTNN_BY_LABEL(code, t, labels,
            for (ptrdiff_t i = 0; i < n; i++) {
                ptrdiff_t l = (ptrdiff_t)labels[i];
                T at_label = y[i * c + l] - (T)1;
                for (ptrdiff_t j = 0; j < c; j++)
                    dx[i * c + j] = y[i * c + j] / fn;
                dx[i * c + l] = at_label / fn;
            });
    } else {
        FASTNN_BY_LABEL(code, t, labels,
            for (ptrdiff_t i = 0; i < n; i++)
                for (ptrdiff_t j = 0; j < c; j++)
                    dx[i * c + j] = (y[i * c + j] - (j == (ptrdiff_t)labels[i] ? hi : b)) / fn;);
    }
}
