# Helpers for the layers' fast paths written in Cython (``_layer_*``
# functions of the kernel modules), inlined into each module that cimports
# them.  They replace per-call Python checks (an attribute and a comparison
# cost ~50 ns each in Python, a few ns here): the layer methods cost 2-3.5 us
# per call in Python, most of it checks.
cimport numpy as cnp

cdef inline bint is_float_array(object a) noexcept:
    """An exact ndarray of native float32/float64 (NumPy's ``dtype in
    (float32, float64)``: a byte-swapped dtype compares unequal)."""
    cdef int t
    if type(a) is not cnp.ndarray:
        return False
    t = cnp.PyArray_TYPE(<cnp.ndarray>a)
    return ((t == cnp.NPY_DOUBLE or t == cnp.NPY_FLOAT)
            and not cnp.PyArray_ISBYTESWAPPED(<cnp.ndarray>a))


cdef inline bint is_c_float(object a, int nd) noexcept:
    """A native, aligned, C-contiguous float32/float64 array of ``nd`` dimensions."""
    return (is_float_array(a) and cnp.PyArray_NDIM(<cnp.ndarray>a) == nd
            and cnp.PyArray_ISCARRAY_RO(<cnp.ndarray>a))


cdef inline object kernel_input(object a):
    """``a`` as the kernels read it: a native-order, aligned, C-contiguous
    float32/float64 ndarray (``a`` itself, or one converted copy when its
    byte order or layout needs it), or None for anything else (other dtypes,
    ndarray subclasses, non-arrays): the one dispatch test of the ops
    overrides."""
    cdef cnp.ndarray arr
    cdef int t
    if type(a) is not cnp.ndarray:
        return None
    arr = <cnp.ndarray>a
    t = cnp.PyArray_TYPE(arr)
    if t != cnp.NPY_FLOAT and t != cnp.NPY_DOUBLE:
        return None
    if cnp.PyArray_ISBYTESWAPPED(arr) or not cnp.PyArray_ISCARRAY_RO(arr):
        return arr.astype(arr.dtype.newbyteorder("="), order="C")
    return arr


cdef inline bint same_dtype(cnp.ndarray a, cnp.ndarray b) noexcept:
    """``a.dtype == b.dtype`` for arrays already known to be native floats."""
    return (cnp.PyArray_TYPE(a) == cnp.PyArray_TYPE(b)
            and not cnp.PyArray_ISBYTESWAPPED(b))


cdef inline bint is_vector(object a, int typenum, Py_ssize_t d) noexcept:
    """An exact ndarray of shape (d,) and native dtype ``typenum``."""
    if type(a) is not cnp.ndarray:
        return False
    return (cnp.PyArray_NDIM(<cnp.ndarray>a) == 1
            and cnp.PyArray_DIMS(<cnp.ndarray>a)[0] == d
            and cnp.PyArray_TYPE(<cnp.ndarray>a) == typenum
            and not cnp.PyArray_ISBYTESWAPPED(<cnp.ndarray>a))


cdef inline bint same_shape(cnp.ndarray a, cnp.ndarray b) noexcept:
    cdef int nd = cnp.PyArray_NDIM(a), i
    if cnp.PyArray_NDIM(b) != nd:
        return False
    for i in range(nd):
        if cnp.PyArray_DIMS(a)[i] != cnp.PyArray_DIMS(b)[i]:
            return False
    return True


cdef inline bint may_overlap(cnp.ndarray a, cnp.ndarray b) noexcept:
    """``np.may_share_memory(a, b)`` (bounds only) for arrays of any strides:
    the byte extents [lowest, highest element end) intersect."""
    cdef char* lo[2]
    cdef char* hi[2]
    cdef cnp.ndarray arr
    cdef int k, i
    cdef Py_ssize_t s, m
    for k in range(2):
        arr = a if k == 0 else b
        if cnp.PyArray_SIZE(arr) == 0:
            return False
        lo[k] = hi[k] = <char*>cnp.PyArray_DATA(arr)
        for i in range(cnp.PyArray_NDIM(arr)):
            s = cnp.PyArray_STRIDES(arr)[i]
            m = cnp.PyArray_DIMS(arr)[i] - 1
            if s < 0:
                lo[k] += s * m
            else:
                hi[k] += s * m
        hi[k] += cnp.PyArray_ITEMSIZE(arr)
    return lo[0] < hi[1] and lo[1] < hi[0]
