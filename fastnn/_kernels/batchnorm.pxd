cimport numpy as cnp

# The drivers (trusted arguments, see batchnorm.pyx), called by
# batchnorm_ops.pyx.  The kernels are C (batchnorm_simd.h): per column
# block, Welford's statistics and the normalizing pass (training), one pass
# (inference), the column sums and dx (backward).
cpdef _train_into(cnp.ndarray x, cnp.ndarray gamma, cnp.ndarray beta, running_mean,
                  running_var, double momentum, double eps, cnp.ndarray out,
                  cnp.ndarray xc, cnp.ndarray xn, cnp.ndarray std, num_threads=*)
cpdef _infer_into(cnp.ndarray x, cnp.ndarray gamma, cnp.ndarray beta,
                  cnp.ndarray running_mean, cnp.ndarray running_var, double eps,
                  cnp.ndarray out, num_threads=*)
cpdef _backward_into(cnp.ndarray dout, cnp.ndarray xn, cnp.ndarray std, cnp.ndarray gamma,
                     cnp.ndarray dx, cnp.ndarray dgamma, cnp.ndarray dbeta, num_threads=*)
