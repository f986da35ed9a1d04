"""The book's ``common/np.py``: ``np`` is NumPy (there is no CuPy mode).

``from fastnn.nlp.np import *`` gives ``np`` and ``GPU`` as the book's does.
"""
from .config import GPU, require_cpu

require_cpu()

import numpy as np  # noqa: E402

__all__ = ["np", "GPU"]
