"""Build policy for fastnn's compiled kernels, kept in one place.

Every ``fastnn/_kernels/*.pyx`` is cythonized with the same directives and
compiled with the same flags:

* ``-O3 -fno-math-errno``: without the second flag GCC must keep ``sqrt``
  scalar (it may set errno), which halves the speed of the optimizer loops.
* never ``-march=native``: a wheel must run on any x86-64/arm64 CPU.  Wider
  vector units are reached by runtime dispatch inside the kernels.
* OpenMP when the compiler supports it (``FASTNN_OPENMP=0`` turns it off);
  without it ``prange`` degrades to a plain loop.
* ``FASTNN_DEBUG=1`` turns bounds checks, wraparound and ``-O0 -g`` back on.
"""
import os
import sys
import glob
import shutil
import tempfile
import subprocess

import numpy as np
from setuptools import setup, Extension
from Cython.Build import cythonize


def _env_flag(name, default):
    val = os.environ.get(name)
    if val is None or val == "":
        return default
    return val.strip().lower() not in ("0", "false", "no", "off")


DEBUG = _env_flag("FASTNN_DEBUG", False)


def _compiler_accepts(flag):
    """Try to compile and link a tiny OpenMP program with ``flag``."""
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc.split()[0]) is None:
        return False
    src = "#include <omp.h>\nint main(void){return omp_get_max_threads() < 1;}\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.c")
        with open(path, "w") as fh:
            fh.write(src)
        try:
            res = subprocess.run(cc.split() + [flag, path, "-o", os.path.join(tmp, "t")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            return False
        return res.returncode == 0


if sys.platform == "win32":
    OPENMP_FLAGS = ["/openmp"] if _env_flag("FASTNN_OPENMP", True) else []
    OPENMP_LINK = []
    COMPILE_ARGS = ["/O2"] if not DEBUG else ["/Od"]
else:
    use_omp = _env_flag("FASTNN_OPENMP", True) and _compiler_accepts("-fopenmp")
    OPENMP_FLAGS = ["-fopenmp"] if use_omp else []
    OPENMP_LINK = ["-fopenmp"] if use_omp else []
    COMPILE_ARGS = (["-O0", "-g"] if DEBUG else ["-O3"]) + ["-fno-math-errno"]

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": not DEBUG,
    "embedsignature": True,
}

MACROS = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
          ("FASTNN_HAVE_OPENMP", "1" if OPENMP_FLAGS else "0")]

# FASTNN_KERNELS=affine,optim builds only those families (for development).
_only = {k.strip() for k in os.environ.get("FASTNN_KERNELS", "").split(",") if k.strip()}
_sources = [p for p in sorted(glob.glob(os.path.join("fastnn", "_kernels", "*.pyx")))
            if not _only or os.path.splitext(os.path.basename(p))[0] in _only]

extensions = [
    Extension(
        "fastnn._kernels." + os.path.splitext(os.path.basename(pyx))[0],
        [pyx],
        include_dirs=[np.get_include(), "fastnn/_kernels"],
        define_macros=MACROS,
        extra_compile_args=COMPILE_ARGS + OPENMP_FLAGS,
        extra_link_args=OPENMP_LINK,
    )
    for pyx in _sources
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=DIRECTIVES,
        compile_time_env={"FASTNN_OPENMP": bool(OPENMP_FLAGS)},
    ),
)
