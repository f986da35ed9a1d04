"""Build policy for fastnn's compiled kernels, kept in one place.

Every ``fastnn/_kernels/*.pyx`` is cythonized with the same directives and
compiled with the same flags:

* ``-O3 -fno-math-errno``: without the second flag GCC must keep ``sqrt``
  scalar (it may set errno), which halves the speed of the optimizer loops.
* never ``-march=native``: a wheel must run on any x86-64/arm64 CPU.  Wider
  vector units are reached by runtime dispatch inside the kernels.
* POSIX threads for fastnn's own thread pool (``parallel.h``);
  ``FASTNN_THREADS=0`` (and Windows, for now) builds it serial.
* release builds carry no debug info (``-g0`` overrides the ``-g`` in
  Python's own CFLAGS): it would make the installed kernels five times larger.
* ``FASTNN_DEBUG=1`` turns bounds checks, wraparound and ``-O0 -g`` back on.
* ``FASTNN_SANITIZE=address,undefined`` builds with those sanitizers
  (``-O1 -g -fno-omit-frame-pointer``, every report fatal); ``scripts/sanitize``
  runs the kernel tests against such a build.
* Cython output is cached (``FASTNN_CYTHON_CACHE``, default
  ``~/.cache/fastnn-cython``; ``0`` turns it off), so a build in a fresh
  directory re-cythonizes only the kernels that changed (it still compiles
  every module: setuptools keeps no objects outside ``build/``).
* What rebuilds (``build_ext --inplace``): a module whose .pyx, a .pxd it
  cimports (transitively), or a header it compiles in (``cdef extern from``
  and ``#include "..."``, transitively) is newer than its build; and every
  module when the flags, directives or compiler changed
  (``build/fastnn-build-config.txt``).
"""
import os
import re
import sys
import glob

import numpy as np
from setuptools import setup, Extension
from Cython.Build import cythonize


def _env_flag(name, default):
    val = os.environ.get(name)
    if val is None or val == "":
        return default
    return val.strip().lower() not in ("0", "false", "no", "off")


DEBUG = _env_flag("FASTNN_DEBUG", False)
_SANITIZERS = ("address", "undefined", "leak", "thread")
SANITIZE = [k.strip() for k in os.environ.get("FASTNN_SANITIZE", "").split(",") if k.strip()]
for _name in SANITIZE:
    if _name not in _SANITIZERS:
        sys.exit("FASTNN_SANITIZE must be a comma-separated list of %s, got %r"
                 % ("/".join(_SANITIZERS), os.environ["FASTNN_SANITIZE"]))
if SANITIZE and sys.platform == "win32":
    sys.exit("FASTNN_SANITIZE is supported with GCC and Clang only")


# The thread pool (fastnn/_kernels/parallel.h) is POSIX threads; elsewhere,
# or with FASTNN_THREADS=0, the kernels run on the calling thread.
THREADS = _env_flag("FASTNN_THREADS", True) and sys.platform != "win32"
if sys.platform == "win32":
    THREAD_FLAGS = []
    LINK_ARGS = []
    COMPILE_ARGS = ["/O2"] if not DEBUG else ["/Od"]
else:
    THREAD_FLAGS = ["-pthread"] if THREADS else []
    LINK_ARGS = list(THREAD_FLAGS)
    if SANITIZE:
        _san = "-fsanitize=" + ",".join(SANITIZE)
        COMPILE_ARGS = ["-O1", "-g", "-fno-omit-frame-pointer", _san, "-fno-sanitize-recover=all"]
        LINK_ARGS = LINK_ARGS + [_san]
    elif DEBUG:
        COMPILE_ARGS = ["-O0", "-g"]
    else:
        COMPILE_ARGS = ["-O3", "-g0"]
        if sys.platform.startswith("linux"):
            LINK_ARGS = LINK_ARGS + ["-s"]     # no symbol table either: 10% smaller
    COMPILE_ARGS = COMPILE_ARGS + ["-fno-math-errno"]

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": not DEBUG,
    "embedsignature": True,
    # Cython 3's default, made explicit: the override classes' methods are
    # cyfunctions that inspect.signature reads (tests/test_ops_consistency.py
    # compares them with NumpyOps's).
    "binding": True,
}

MACROS = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
if not THREADS:
    MACROS.append(("FASTNN_NO_THREADS", "1"))

# FASTNN_KERNELS=affine,optim builds only those families (for development).
_only = {k.strip() for k in os.environ.get("FASTNN_KERNELS", "").split(",") if k.strip()}
_sources = [p for p in sorted(glob.glob(os.path.join("fastnn", "_kernels", "*.pyx")))
            if not _only or os.path.splitext(os.path.basename(p))[0] in _only]

_KERNELS = os.path.join("fastnn", "_kernels")


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def _kernel_depends(pyx):
    """The files in fastnn/_kernels that the extension built from ``pyx``
    compiles in: the .pxd files it cimports (transitively), every header
    they or it name in ``cdef extern from``, and every header those
    ``#include "..."`` (transitively: fastnn_common.h, the <family>_loops.h
    templates).  Given to setuptools as ``depends``, so that touching a
    header recompiles exactly the modules that include it; Cython's own
    list holds only the headers named in ``cdef extern from``, so a change
    to fastnn_common.h or to a loop template rebuilt nothing at all."""
    seen, todo = set(), [pyx]
    own_pxd = pyx[:-4] + ".pxd"
    if os.path.exists(own_pxd):
        todo.append(own_pxd)
    while todo:
        path = todo.pop()
        if path in seen or not os.path.exists(path):
            continue
        seen.add(path)
        text = _read(path)
        if path.endswith((".pyx", ".pxd")):
            modules = re.findall(r"^\s*from\s+fastnn\._kernels\.(\w+)\s+cimport", text, re.M)
            modules += re.findall(r"^\s*cimport\s+fastnn\._kernels\.(\w+)", text, re.M)
            names = [m + ".pxd" for m in modules]
            names += re.findall(r'cdef\s+extern\s+from\s+"([^"<>]+)"', text)
        else:
            names = re.findall(r'^\s*#\s*include\s+"([^"]+)"', text, re.M)
        todo.extend(os.path.join(_KERNELS, n) for n in names)
    seen.discard(pyx)
    return sorted(seen)


def _config_stamp():
    """Path of a file holding the build configuration (flags, macros, Cython
    directives, compiler), and whether that changed since the last build in
    this tree.  Neither Cython nor setuptools compares flags: a
    ``FASTNN_DEBUG=1`` build over a release build used to rebuild nothing.
    Every extension depends on the file, and a change re-cythonizes all."""
    config = repr((sorted(DIRECTIVES.items()), MACROS, COMPILE_ARGS, THREAD_FLAGS, LINK_ARGS,
                   os.environ.get("CC", ""), np.__version__))
    path = os.path.join("build", "fastnn-build-config.txt")
    try:
        if _read(path) == config:
            return path, False
    except OSError:
        pass
    os.makedirs("build", exist_ok=True)
    tmp = path + ".%d.tmp" % os.getpid()
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(config)
    os.replace(tmp, path)
    return path, True


_STAMP, _CONFIG_CHANGED = _config_stamp()

extensions = [
    Extension(
        "fastnn._kernels." + os.path.splitext(os.path.basename(pyx))[0],
        [pyx],
        depends=_kernel_depends(pyx) + [_STAMP],
        include_dirs=[np.get_include(), "fastnn/_kernels"],
        define_macros=MACROS,
        extra_compile_args=COMPILE_ARGS + THREAD_FLAGS,
        extra_link_args=LINK_ARGS,
    )
    for pyx in _sources
]

_cache = os.environ.get("FASTNN_CYTHON_CACHE", "").strip()
if _cache.lower() in ("0", "false", "no", "off"):
    _cache = False
else:
    _cache = _cache or os.path.join(os.path.expanduser("~"), ".cache", "fastnn-cython")

setup(
    ext_modules=cythonize(
        extensions,
        cache=_cache,
        compiler_directives=DIRECTIVES,
        force=_CONFIG_CHANGED,
    ),
)
