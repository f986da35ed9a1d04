cimport numpy as cnp

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
