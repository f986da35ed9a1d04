"""Compiled kernels (Cython).  One extension module per kernel family.

Use them through :mod:`fastnn.ops` (checked, documented wrappers) or through
the layer and optimizer classes; the modules here are an implementation
detail.

Importing this package checks that every kernel family (a ``*.pyx`` beside
this file) has an extension module built for this Python, and otherwise
raises one ImportError that says what to do -- the usual case being a
Python started in the source tree, where ``import fastnn`` finds the
unbuilt sources before the installed package.
"""
import importlib.machinery
import os

_HERE = os.path.dirname(os.path.abspath(__file__))


def _unbuilt():
    """Kernel families whose ``.pyx`` has no extension module for this Python."""
    try:
        names = set(os.listdir(_HERE))
    except OSError:  # pragma: no cover - a zipped or odd install; let imports speak
        return []
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    return sorted(name[:-4] for name in names
                  if name.endswith(".pyx") and not any(name[:-4] + s in names for s in suffixes))


def _check_built():
    missing = _unbuilt()
    if not missing:
        return
    root = os.path.dirname(os.path.dirname(_HERE))
    what = "compiled kernels (%s) are not built for this Python" % ", ".join(missing)
    if os.path.exists(os.path.join(root, "setup.py")):
        msg = ("fastnn is being imported from its source tree (%s), whose %s. "
               "Either build them in place, from that directory: "
               "`pip install -e .` or `python setup.py build_ext --inplace`; "
               "or start Python outside the source tree to use an installed fastnn."
               % (root, what))
    else:
        msg = ("fastnn's %s in %s: the installation is incomplete; "
               "reinstall it with `pip install --force-reinstall fastnn-scratch`."
               % (what, _HERE))
    raise ImportError(msg)


_check_built()
