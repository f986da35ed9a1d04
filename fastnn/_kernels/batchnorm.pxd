from cython cimport floating
cimport numpy as cnp

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


# The drivers (the one float32/float64 dispatch; trusted arguments, see
# batchnorm.pyx), called by batchnorm_ops.pyx.
cpdef _train_into(cnp.ndarray x, cnp.ndarray gamma, cnp.ndarray beta, running_mean,
                  running_var, double momentum, double eps, cnp.ndarray out,
                  cnp.ndarray xc, cnp.ndarray xn, cnp.ndarray std, num_threads=*)
cpdef _infer_into(cnp.ndarray x, cnp.ndarray gamma, cnp.ndarray beta,
                  cnp.ndarray running_mean, cnp.ndarray running_var, double eps,
                  cnp.ndarray out, num_threads=*)
cpdef _backward_into(cnp.ndarray dout, cnp.ndarray xn, cnp.ndarray std, cnp.ndarray gamma,
                     cnp.ndarray dx, cnp.ndarray dgamma, cnp.ndarray dbeta, num_threads=*)
