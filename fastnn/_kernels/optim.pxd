from cython cimport floating

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
