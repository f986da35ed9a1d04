"""The sequel's ``common/`` package ("Deep Learning from Scratch 2") on fastnn.

Module for module as the book's: changing ``from common.X import ...`` to
``from fastnn.nlp.X import ...`` (and ``from common import config`` to
``from fastnn.nlp import config``) is the whole migration.  Submodules are
imported on demand, as the book's are.

fastnn runs on the CPU: ``config.GPU = True`` raises
:class:`fastnn.nlp.config.GPUNotSupportedError`.
"""
