from cython cimport floating
cimport numpy as cnp

# In-place updates of n contiguous elements.  Hyperparameters arrive as
# doubles (Python floats) and are rounded to the array's precision the way
# NumPy 2 rounds a Python float operand; compound scalars such as (1+mu)*lr
# are formed in double first, as the reference's Python expressions are.

cdef void sgd_kernel(floating* p, const floating* g, Py_ssize_t n,
                     double lr) noexcept nogil

cdef void momentum_kernel(floating* p, const floating* g, floating* v, Py_ssize_t n,
                          double lr, double momentum) noexcept nogil

cdef void nesterov_kernel(floating* p, const floating* g, floating* v, Py_ssize_t n,
                          double lr, double momentum) noexcept nogil

cdef void adagrad_kernel(floating* p, const floating* g, floating* h, Py_ssize_t n,
                         double lr, double eps) noexcept nogil

cdef void rmsprop_kernel(floating* p, const floating* g, floating* h, Py_ssize_t n,
                         double lr, double decay_rate, double eps) noexcept nogil

cdef void adam_kernel(floating* p, const floating* g, floating* m, floating* v,
                      Py_ssize_t n, double lr_t, double beta1, double beta2,
                      double eps) noexcept nogil


# The rules, as _update_all and _run_one number them.
cdef enum:
    KIND_SGD = 0
    KIND_MOMENTUM = 1
    KIND_NESTEROV = 2
    KIND_ADAGRAD = 3
    KIND_RMSPROP = 4
    KIND_ADAM = 5

# Every key of ``keys`` (of ``params`` when None) the kernels take, in one
# pass; the others appended to ``skipped`` (see optim.pyx).
cdef _update_all(int kind, params, grads, keys, state1, state2, double a, double b,
                 double c, double d, bint allow_f32, bint allow_f64, list skipped)

# One checked, C-contiguous array (the fastnn.ops functions).
cdef _run_one(int kind, cnp.ndarray p, cnp.ndarray g, s1, s2, double a, double b,
              double c, double d, num_threads)
