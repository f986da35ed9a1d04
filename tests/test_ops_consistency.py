"""Every override of CompiledOps matches NumPyOps's method (issue 19, as
thinc's test of its ops backends): each method a mixin of CompiledOps
defines -- the compiled override classes of fastnn/_kernels/*.pyx and the
Python wrappers of fastnn/backends/compiled.py -- exists on NumpyOps with the
same parameters (names, order, kinds, defaults), so that a call written
against the oracle runs unchanged on the compiled backend and a caller's
keyword or default never goes to the wrong argument."""
import inspect

import pytest

from fastnn.backends.compiled import CompiledOps
from fastnn.backends.numpy_ops import NumpyOps


def _mixins():
    return [cls for cls in CompiledOps.__mro__[1:]
            if cls is not object and not issubclass(NumpyOps, cls)]


def _overrides():
    for cls in _mixins():
        for name, attr in vars(cls).items():
            if not name.startswith("_") and callable(attr):
                yield cls, name


def _params(fn):
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def test_the_compiled_mixins_are_all_found():
    names = {cls.__name__ for cls in _mixins()}
    assert {"ActivationOps", "AffineOps", "BatchNormOps", "ConvOps", "DropoutOps",
            "MaxPoolOps", "OptimOps", "SoftmaxOps"} <= names
    assert len(list(_overrides())) >= 20


@pytest.mark.parametrize("cls, name", list(_overrides()),
                         ids=lambda v: getattr(v, "__name__", v))
def test_override_has_numpy_ops_signature(cls, name):
    assert hasattr(NumpyOps, name), "%s.%s overrides nothing on NumpyOps" % (cls.__name__, name)
    assert _params(vars(cls)[name]) == _params(getattr(NumpyOps, name))


@pytest.mark.parametrize("name", sorted({name for _, name in _overrides()}))
def test_compiled_ops_method_has_numpy_ops_signature(name):
    """What a caller of CompiledOps sees (the first override in the MRO)."""
    assert _params(getattr(CompiledOps, name)) == _params(getattr(NumpyOps, name))
