"""Plain-NumPy implementation of the book's chapter-6 math.

Written to be read, and used as the oracle that every compiled kernel is
tested against.  Module and class names follow the book's ``common``
package: :mod:`functions`, :mod:`layers`, :mod:`optimizer`, :mod:`gradient`.
"""
from . import functions, layers, optimizer, gradient, util  # noqa: F401
