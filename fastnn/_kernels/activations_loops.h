/* A template (fastnn_common.h: loop templates): included by activations_simd.h once
 * per element type, with T and FASTNN_SUF(name) bound; no include guard. */

/* mask = x <= 0;  out = mask ? 0 : x   (NaN: not masked, passes through) */
FASTNN_CLONES static void FASTNN_SUF(fastnn_relu_fwd)(const T *x, T *out,
                                                    uint8_t *mask, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        T xi = x[i];
        int m = xi <= (T)0;
        mask[i] = (uint8_t)m;
        out[i] = m ? (T)0 : xi;
    }
}
FASTNN_CLONES static void FASTNN_SUF(fastnn_relu_bwd)(const T *dout,
                                                    const uint8_t *mask, T *out,
                                                    ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        T di = dout[i];
        out[i] = mask[i] ? (T)0 : di;
    }
}
/* out = 1 / (1 + e), e = exp(-x) computed by NumPy (its SIMD exp, so the  */
/* result is the reference's to the bit); out may be e itself            */
FASTNN_CLONES static void FASTNN_SUF(fastnn_sigmoid_from_exp)(const T *e, T *out,
                                                            ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++)
        out[i] = (T)1 / ((T)1 + e[i]);
}
/* dout * (1 - y) * y, left to right as the reference */
FASTNN_CLONES static void FASTNN_SUF(fastnn_sigmoid_bwd)(const T *dout, const T *y,
                                                       T *out, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        T yi = y[i];
        out[i] = dout[i] * ((T)1 - yi) * yi;
    }
}
