"""Compiled kernels (Cython).  One extension module per kernel family.

Use them through :mod:`fastnn.ops` (checked, documented wrappers) or through
the layer and optimizer classes; the modules here are an implementation
detail.
"""
