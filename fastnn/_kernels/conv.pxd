# ``a`` as the kernels read it (native, aligned, C-contiguous, dtype
# ``typenum``), converted once into a buffer of ``pool`` if need be, or None.
from fastnn._kernels.pool cimport Pool
cdef object _takes(object a, int typenum, Pool pool)
