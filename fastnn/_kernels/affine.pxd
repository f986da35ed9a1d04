cimport numpy as cnp

# ``buf`` if it can be overwritten as a gradient of ``like``'s shape and
# dtype (C-contiguous, writeable, native), else a new array.
cdef object _grad_buffer(object buf, cnp.ndarray like)
