/* The recurrent family's elementwise kernels (rnn.pyx drives them): one
 * time step of an RNN/LSTM's gates, forward and backward, fused into one
 * pass over a block of batch rows; the embedding's scatter-add; the
 * softmax of the time loss.
 *
 * Transcendentals are NumPy's own: exp and tanh are the inner loops of the
 * np.exp/np.tanh ufuncs (their SIMD loops, looked up once by rnn.pyx and
 * called here on a row at a time), so every gate rounds exactly as the
 * book's `1 / (1 + np.exp(-a))` and `np.tanh(a)` do, at NumPy's speed.
 * The other operations are the book's, in its order, in the array's own
 * precision (no FMA: see fastnn_common.h).
 */
#ifndef FASTNN_RNN_SIMD_H
#define FASTNN_RNN_SIMD_H

#include "fastnn_common.h"
#if defined(__GNUC__)
#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include "softmax_simd.h"
#if defined(__GNUC__)
#  pragma GCC diagnostic pop
#endif

/* A ufunc inner loop: NumPy's PyUFuncGenericFunction. */
typedef void (*fastnn_uloop)(char **args, const ptrdiff_t *dims, const ptrdiff_t *steps,
                             void *data);

typedef struct {
    fastnn_uloop exp_f, tanh_f, exp_d, tanh_d;
    void *exp_f_data, *tanh_f_data, *exp_d_data, *tanh_d_data;
} fastnn_umath;

/* out[0:n] = fn(in[0:n]) through a unary ufunc loop (out may be in). */
static inline void fastnn_ucall(fastnn_uloop fn, void *data, const void *in, void *out,
                                ptrdiff_t n, ptrdiff_t item)
{
    char *args[2] = {(char *)in, (char *)out};
    ptrdiff_t dims[1] = {n};
    ptrdiff_t steps[2] = {item, item};
    if (n > 0)
        fn(args, dims, steps, data);
}

/* One LSTM step, batch rows [n0, n1).
 *   a:    x·Wx of the step, row stride lda (4H wide); overwritten by the
 *         activated gates [f g i o] (the cache);
 *   hw:   h_prev·Wh, rows 4H contiguous;  b: 4H;
 *   cp:   c_prev rows (stride ldcp);  c: c_next out (stride ldc);
 *   tc:   tanh(c_next) out (stride ldc);  h: h_next out (stride ldh);
 *   h2:   a second copy of h_next (the next step's h_prev slot), or NULL. */
/* The loops, once per element type (fastnn_common.h: loop templates). */
#define T double
#define FASTNN_SUFFIX d
#define EXP exp_d
#define TANH tanh_d
#define EXPD exp_d_data
#define TANHD tanh_d_data
#include "rnn_loops.h"
#undef T
#undef FASTNN_SUFFIX
#undef EXP
#undef TANH
#undef EXPD
#undef TANHD
#define T float
#define FASTNN_SUFFIX f
#define EXP exp_f
#define TANH tanh_f
#define EXPD exp_f_data
#define TANHD tanh_f_data
#include "rnn_loops.h"
#undef T
#undef FASTNN_SUFFIX
#undef EXP
#undef TANH
#undef EXPD
#undef TANHD

/* For ids (N, T): first[n, t] = 1 where id[n, t] has not occurred earlier in
   step t; nxt[n, t] = the next batch row of step t with the same id, or -1. */
static void fastnn_embed_links(const int64_t *idx, ptrdiff_t N, ptrdiff_t Tn,
                               uint8_t *first, int32_t *nxt)
{
    for (ptrdiff_t k = 0; k < N * Tn; k++)
        first[k] = 1;
    for (ptrdiff_t t = 0; t < Tn; t++)
        for (ptrdiff_t n = 0; n < N; n++) {
            ptrdiff_t k = n * Tn + t, prev = k;
            if (!first[k])
                continue;
            for (ptrdiff_t m = n + 1; m < N; m++)
                if (idx[m * Tn + t] == idx[k]) {
                    first[m * Tn + t] = 0;
                    nxt[prev] = (int32_t)m;
                    prev = m * Tn + t;
                }
            nxt[prev] = -1;
        }
}


#define fastnn_lstm_fwd_rows(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_lstm_fwd_rows, __VA_ARGS__)
#define fastnn_lstm_bwd_rows(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_lstm_bwd_rows, __VA_ARGS__)
#define fastnn_rnn_fwd_rows(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_rnn_fwd_rows, __VA_ARGS__)
#define fastnn_rnn_bwd_rows(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_rnn_bwd_rows, __VA_ARGS__)
#define fastnn_gru_fwd1_rows(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_gru_fwd1_rows, __VA_ARGS__)
#define fastnn_gru_fwd2_rows(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_gru_fwd2_rows, __VA_ARGS__)
#define fastnn_gru_bwd1_rows(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_gru_bwd1_rows, __VA_ARGS__)
#define fastnn_gru_bwd2_rows(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_gru_bwd2_rows, __VA_ARGS__)
#define fastnn_time_bias_grad(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_time_bias_grad, __VA_ARGS__)
#define fastnn_embed_scatter(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_embed_scatter, __VA_ARGS__)
#define fastnn_softmax_rows(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_softmax_rows, __VA_ARGS__)
#define fastnn_tsl_bwd_rows(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_tsl_bwd_rows, __VA_ARGS__)
#define fastnn_tsl_bwd_cols(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_tsl_bwd_cols, __VA_ARGS__)

#endif /* FASTNN_RNN_SIMD_H */
