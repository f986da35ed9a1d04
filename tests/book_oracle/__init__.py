"""The book's ``common/layers.py`` and ``common/optimizer.py``, transcribed
statement for statement (plus the two extras fastnn documents: label
smoothing and inverted dropout), kept apart from the package as an
independent oracle: nothing in ``fastnn`` imports it.  tests/test_reference_oracle.py
checks :mod:`fastnn.reference` (the package's layers on NumpyOps) against it.
"""
