"""The sequel's ``simple_cbow.py``: ``SimpleCBOW``
(see :mod:`fastnn.nlp._word2vec_models`)."""
from ._word2vec_models import SimpleCBOW
from .np import *  # noqa: F401,F403

__all__ = ["SimpleCBOW"]
