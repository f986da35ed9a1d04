# Argument handling shared by the kernel modules (the checked ``fastnn.ops``
# functions of the activations and softmax families; optim's overlap test),
# inlined into each module that cimports it.  Fast paths test flags in C; the Python helpers of fastnn._checks run
# only to raise their message (a call of ~2 us checked in Python was most of
# a 100x100 ReLU's time), so they are imported where they are needed.
cimport numpy as cnp
from libc.limits cimport INT_MAX


cdef inline int _ftype(object a) noexcept:
    """NPY_FLOAT/NPY_DOUBLE for a native-order float32/float64 ndarray, else -1."""
    if not cnp.PyArray_Check(a):
        return -1
    cdef int t = cnp.PyArray_TYPE(<cnp.ndarray>a)
    if (t != cnp.NPY_FLOAT and t != cnp.NPY_DOUBLE) or not cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>a):
        return -1
    return t


cdef inline bint is_f32(cnp.ndarray a) noexcept:
    """The flag of the kernels' one float32/float64 dispatch (FASTNN_BY_DTYPE,
    fastnn_common.h) for an array already known to be float32 or float64."""
    return cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT


cdef inline bint check_kernel_arrays(tuple arrays) except -1:
    """``arrays``: (name, array or None, ndim, written) of a kernel's trusted
    entry point; each array present must be native, C-contiguous and of the
    first one's dtype (float32 or float64) and rank ndim, and writeable if
    written.  Returns the f32 flag; a TypeError or ValueError names the
    first array that is not."""
    cdef cnp.ndarray a
    cdef int t = -1
    for name, arr, ndim, written in arrays:
        if arr is None:
            continue
        if not cnp.PyArray_Check(arr):
            raise TypeError("%s must be a numpy.ndarray, got %s" % (name, type(arr).__name__))
        a = <cnp.ndarray>arr
        if t < 0:
            t = _ftype(a)
            if t < 0:
                raise TypeError("%s must be native float32 or float64, got %s" % (name, a.dtype))
        if cnp.PyArray_TYPE(a) != t or not cnp.PyArray_ISNOTSWAPPED(a):
            raise TypeError("%s must have the dtype of %s, got %s"
                            % (name, arrays[0][0], a.dtype))
        if cnp.PyArray_NDIM(a) != ndim:
            raise ValueError("%s must be %d-D, got %d-D" % (name, ndim, cnp.PyArray_NDIM(a)))
        if not cnp.PyArray_ISCARRAY_RO(a):
            raise ValueError("%s must be C-contiguous and aligned" % name)
        if written and not cnp.PyArray_ISWRITEABLE(a):
            raise ValueError("%s must be writeable" % name)
    return t == cnp.NPY_FLOAT


cdef inline int check_shape(str name, object a, tuple shape) except -1:
    """A kernel's trusted entry point: ``a`` (an ndarray, or None: skipped)
    has exactly ``shape``."""
    if a is not None and a.shape != shape:
        raise ValueError("%s has shape %s, expected %s" % (name, a.shape, shape))
    return 0


cdef inline Py_ssize_t window_count(Py_ssize_t size, Py_ssize_t window, Py_ssize_t stride,
                                    Py_ssize_t pad) except -1:
    """Windows of ``window`` entries, ``stride`` apart, over ``size`` padded
    by ``pad`` on each side (0 when none fits), for the kernels' checks;
    raises unless window >= 0, stride >= 1 and pad >= 0."""
    if window < 0 or stride < 1 or pad < 0:
        raise ValueError("window %d, stride %d, pad %d: need window >= 0, stride >= 1, "
                         "pad >= 0" % (window, stride, pad))
    if size + 2 * pad < window:
        return 0
    return (size + 2 * pad - window) // stride + 1


cdef inline int check_blas_sizes(Py_ssize_t a, Py_ssize_t b, Py_ssize_t c) except -1:
    """GEMM sizes that fit BLAS's int."""
    if a > INT_MAX or b > INT_MAX or c > INT_MAX:
        raise ValueError("a GEMM size (%d, %d, %d) exceeds BLAS's int" % (a, b, c))
    return 0


cdef inline void* elem_at(const void* base, Py_ssize_t i, bint f32) noexcept nogil:
    """The address of element i of a float32 (f32) or float64 buffer (NULL
    stays NULL), for the kernels' dtype-generic calls."""
    if base == NULL:
        return NULL
    return <char*>base + i * (4 if f32 else 8)


cdef inline bint _disjoint(cnp.ndarray x, cnp.ndarray y) noexcept:
    """Memory of two C-contiguous arrays does not overlap."""
    cdef char* x0 = <char*>cnp.PyArray_DATA(x)
    cdef char* y0 = <char*>cnp.PyArray_DATA(y)
    return x0 + cnp.PyArray_NBYTES(x) <= y0 or y0 + cnp.PyArray_NBYTES(y) <= x0


cdef inline bint _same_or_disjoint(cnp.ndarray x, cnp.ndarray y) noexcept:
    return (cnp.PyArray_DATA(x) == cnp.PyArray_DATA(y)
            and cnp.PyArray_NBYTES(x) == cnp.PyArray_NBYTES(y)) or _disjoint(x, y)


cdef inline cnp.ndarray _contiguous(cnp.ndarray a):
    """``a`` itself when C-contiguous and aligned, else a C-ordered copy."""
    if cnp.PyArray_ISCARRAY_RO(a):
        return a
    return a.copy(order="C")


cdef inline cnp.ndarray _input(str name, object a, int ndim=-1):
    """A float32/float64 input (of rank ``ndim`` if >= 0), C-contiguous."""
    if _ftype(a) < 0:
        from fastnn._checks import native
        a = native(a)
    if _ftype(a) < 0 or (ndim >= 0 and cnp.PyArray_NDIM(<cnp.ndarray>a) != ndim):
        from fastnn._checks import check_float_array
        check_float_array(name, a, None if ndim < 0 else ndim)
        raise TypeError("%s must be a native-byte-order float32 or float64 array" % name)
    return _contiguous(<cnp.ndarray>a)


cdef inline cnp.ndarray _output(str name, object out, str like_name, cnp.ndarray like):
    """A new C-contiguous array shaped and typed like ``like``, or ``out``
    checked for that."""
    if out is None:
        return cnp.PyArray_EMPTY(cnp.PyArray_NDIM(like), cnp.PyArray_DIMS(like),
                                 cnp.PyArray_TYPE(like), 0)
    if (_ftype(out) == cnp.PyArray_TYPE(like)
            and cnp.PyArray_SAMESHAPE(<cnp.ndarray>out, like)
            and cnp.PyArray_ISCARRAY(<cnp.ndarray>out)):
        return out
    from fastnn._checks import (check_float_array, check_same_dtype, check_same_shape,
                                check_writeable_contiguous)
    check_float_array(name, out)
    check_same_dtype(like_name, like, **{name: out})
    check_same_shape(like_name, like, **{name: out})
    check_writeable_contiguous(name, out)
    raise TypeError("%s must be a native-byte-order, aligned array" % name)


cdef inline _no_overlap(str out_name, cnp.ndarray out, str in_name, cnp.ndarray a,
                        bint same_ok):
    # A test of two pointers in C; fastnn._checks decides (and names) the rest.
    if not (_same_or_disjoint(out, a) if same_ok else _disjoint(out, a)):
        from fastnn._checks import check_no_overlap
        check_no_overlap({out_name: out}, {in_name: a}, [(out_name, in_name)] if same_ok else ())



# Kernels on fewer elements than NOGIL_MIN keep the GIL: releasing and
# retaking it costs about 0.1 us, a noticeable share of a 100x100 layer
# call, and would let other threads in for only a microsecond or two.
#     cdef PyThreadState* ts = release_gil_if(n >= NOGIL_MIN)
#     ...C only: no Python object, no exception...
#     retake_gil(ts)
# (Cython's ``with nogil(cond)`` takes compile-time conditions only.)
cdef enum:
    NOGIL_MIN = 32768

cdef extern from "Python.h":
    ctypedef struct PyThreadState
    PyThreadState* PyEval_SaveThread() noexcept
    void PyEval_RestoreThread(PyThreadState* state) noexcept


cdef inline PyThreadState* release_gil_if(bint large) noexcept:
    return PyEval_SaveThread() if large else NULL


cdef inline void retake_gil(PyThreadState* state) noexcept:
    if state != NULL:
        PyEval_RestoreThread(state)
