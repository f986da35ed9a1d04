from cython cimport floating

# Batch normalization over the rows of a row-major (n, d) block with row
# stride ld (elements): statistics per column.  Each function handles the
# columns [j0, j1) only, so callers can split columns between threads; the
# per-column arrays (gamma, beta, running statistics, std, outputs) are
# indexed by the absolute column j.  Outputs (out, xc, xn, dx) are
# C-contiguous (row stride d).  Return 0, or -1 when scratch memory could
# not be allocated.

# Training: mean and biased variance of each column (Welford's update, in
# double), then out = gamma·xn + beta with xc = x - mean,
# xn = xc/std, std = sqrt(var + eps); running statistics (if not NULL)
# become momentum·running + (1-momentum)·batch, in place.
cdef int bn_forward_train(const floating* x, Py_ssize_t n, Py_ssize_t d, Py_ssize_t ld,
                          const floating* gamma, const floating* beta,
                          floating* running_mean, floating* running_var,
                          double momentum, double eps,
                          floating* out, floating* xc, floating* xn, floating* std,
                          Py_ssize_t j0, Py_ssize_t j1) noexcept nogil

# Inference: out = gamma·(x - running_mean)/sqrt(running_var + eps) + beta.
cdef int bn_forward_infer(const floating* x, Py_ssize_t n, Py_ssize_t d, Py_ssize_t ld,
                          const floating* gamma, const floating* beta,
                          const floating* running_mean, const floating* running_var,
                          double eps, floating* out,
                          Py_ssize_t j0, Py_ssize_t j1) noexcept nogil

# Backward (dout and xn C-contiguous (n, d)): dbeta = Σ dout,
# dgamma = Σ xn·dout, dx = (gamma/std)·(dout - dbeta/n - xn·dgamma/n).
cdef int bn_backward(const floating* dout, const floating* xn, const floating* std,
                     const floating* gamma, Py_ssize_t n, Py_ssize_t d,
                     floating* dx, floating* dgamma, floating* dbeta,
                     Py_ssize_t j0, Py_ssize_t j1) noexcept nogil
