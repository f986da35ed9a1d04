"""The book's ``common/base_model.py``: BaseModel with save_params/load_params.

Files are the book's: a pickle of the list of parameters as float16 arrays
(``<ClassName>.pkl`` by default), so a file saved here loads in the book's
code and the book's (its shipped ``ch06/Rnnlm.pkl``) loads here.  Saving is
atomic (a temporary file, then a rename).  Loading runs no code: the pickle
is read by :mod:`fastnn.nlp._safe_pickle`, which builds only NumPy arrays,
dtypes, lists, tuples and dicts; the arrays are checked against the model's
parameters (count and shapes) before any is written, and anything else
raises a ValueError naming the file.
"""
import os
import pickle

import numpy as np

from .._fileio import atomic_write
from . import _safe_pickle
from .config import require_cpu

__all__ = ["BaseModel"]


class BaseModel:
    def __init__(self):
        require_cpu()
        self.params, self.grads = None, None

    def forward(self, *args):
        raise NotImplementedError

    def backward(self, *args):
        raise NotImplementedError

    def _file_name(self, file_name):
        if file_name is None:
            file_name = self.__class__.__name__ + '.pkl'
        return os.fspath(file_name)

    def save_params(self, file_name=None):
        file_name = self._file_name(file_name)
        params = [np.asarray(p).astype(np.float16) for p in self.params]
        with atomic_write(file_name, "wb") as fh:
            # Protocol 3, as the book's files: readable by any Python 3.
            pickle.dump(params, fh, protocol=3)

    def load_params(self, file_name=None):
        file_name = self._file_name(file_name)
        if '/' in file_name:
            file_name = file_name.replace('/', os.sep)
        if not os.path.exists(file_name):
            raise IOError('No file: ' + file_name)
        loaded = _safe_pickle.load(file_name)
        arrays = _check_params(loaded, self.params, file_name)
        for param, value in zip(self.params, arrays):
            param[...] = value


def _check_params(loaded, params, where):
    """The loaded arrays as float32 (the book's ``astype('f')``), checked to
    be one per parameter of the right shape."""
    if not isinstance(loaded, (list, tuple)):
        raise ValueError("%s holds a %s, not the list of parameter arrays "
                         "save_params writes" % (where, type(loaded).__name__))
    if len(loaded) != len(params):
        raise ValueError("%s holds %d arrays but the model has %d parameters"
                         % (where, len(loaded), len(params)))
    out = []
    for i, (value, param) in enumerate(zip(loaded, params)):
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
            raise ValueError("%s: item %d is a %s, not a numeric array"
                             % (where, i, getattr(value, "dtype", type(value).__name__)))
        if value.shape != np.shape(param):
            raise ValueError("%s: array %d has shape %s but the model's parameter %d has "
                             "shape %s" % (where, i, value.shape, i, np.shape(param)))
        out.append(value.astype('f'))
    return out
