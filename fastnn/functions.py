"""The book's ``common/functions.py`` (activations and losses on NumPy arrays)."""
import numpy as np  # noqa: F401  (book scripts star-import np from here)

from .reference.functions import *  # noqa: F401,F403
from .reference.functions import __all__ as _ref_all

__all__ = ["np"] + list(_ref_all)
