"""The release wheel: built by scripts/build-wheels, installed into a fresh venv, run.

Building the sdist and the wheel from it and installing takes a few minutes,
so this runs only with FASTNN_TEST_WHEEL=1 (``.ci/run`` sets it in a step of
its own); FASTNN_WHEELHOUSE=DIR tests the wheels already built into DIR.
"""
import ast
import glob
import os
import re
import subprocess
import sys
import tarfile
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "build-wheels")
LICENSES = ["LICENSE", "LICENSES/deep-learning-from-scratch.txt", "LICENSES/fashion-mnist.txt"]
# fastnn's own kernels. Issue 10 wanted 1.5 MB; with the conv family and the
# families split by job the first book's were 1.72 MB at -O3 (-O2 would bring them to
# about 1.5 MB, unmeasured for speed on a quiet machine); the sequel's four families
# (rnn 0.38 MB, nlp 0.19, word2vec 0.17, attention 0.13) bring the 18 modules to
# 2.54 MB. So this cap catches what matters most: debug info or symbols left in (the
# same modules unstripped are several times larger), or a family that balloons.
# Raised from 3.0 MB when word2vec's fused CBOW ops and the row-tracked gradient sums
# came (2026-12-07: the modules 3.15 MB in a local release build; word2vec 0.33, nlp
# 0.39, rnn 0.43; Cython's typed memoryviews kept out of word2vec, 0.13 MB of runtime).
MAX_NATIVE_BYTES = 3_400_000

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not os.environ.get("FASTNN_TEST_WHEEL")
                       and not os.environ.get("FASTNN_WHEELHOUSE"),
                       reason="builds and installs the release wheel (minutes): "
                              "set FASTNN_TEST_WHEEL=1"),
    pytest.mark.skipif(not sys.platform.startswith("linux"),
                       reason="manylinux repair is Linux-only"),
]


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory):
    given = os.environ.get("FASTNN_WHEELHOUSE")
    if given:
        return given
    if not os.path.exists(SCRIPT):
        pytest.skip("scripts/build-wheels is not in this tree")
    out = str(tmp_path_factory.mktemp("wheelhouse"))
    res = subprocess.run(["bash", SCRIPT, out], env=dict(os.environ, PYTHON=sys.executable),
                         capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return out


def _one(pattern):
    found = glob.glob(pattern)
    assert len(found) == 1, (pattern, found)
    return found[0]


def test_wheel_is_manylinux_small_carries_only_its_kernels_and_licenses(wheelhouse):
    whl = _one(os.path.join(wheelhouse, "fastnn_scratch-*manylinux*.whl"))
    with zipfile.ZipFile(whl) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    native = {i.filename: i.file_size for i in infos
              if i.filename.endswith(".so") or ".so." in i.filename}
    # no OpenMP runtime any more (fastnn's pool is its own); its BLAS is the
    # scipy-openblas32 dependency, not a copy inside the wheel
    assert not any(n.startswith("fastnn_scratch.libs/") for n in native), sorted(native)
    assert "Requires-Dist: scipy-openblas32" in metadata
    kernels = [n for n in native if n.startswith("fastnn/_kernels/")]
    assert len(kernels) == len(glob.glob(os.path.join(ROOT, "fastnn", "_kernels", "*.pyx")))
    own = sum(size for name, size in native.items() if name.startswith("fastnn/"))
    assert own <= MAX_NATIVE_BYTES, native
    assert sum(native.values()) == own, native
    for lic in LICENSES:
        assert any(n.endswith(".dist-info/licenses/" + lic) for n in names), lic
    assert "License-Expression: MIT" in metadata
    assert not any(n.endswith(".c") for n in names)


def test_sdist_carries_licenses_and_kernel_sources(wheelhouse):
    sdist = _one(os.path.join(wheelhouse, "fastnn_scratch-*.tar.gz"))
    with tarfile.open(sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    for lic in LICENSES:
        assert lic in names, lic
    pyx = {os.path.relpath(p, ROOT).replace(os.sep, "/")
           for p in glob.glob(os.path.join(ROOT, "fastnn", "_kernels", "*.[ph]*"))
           if p.endswith((".pyx", ".pxd", ".h"))}
    assert pyx <= names, sorted(pyx - names)


def test_wheel_installs_into_a_fresh_venv_and_runs_outside_the_source_tree(wheelhouse, tmp_path):
    whl = _one(os.path.join(wheelhouse, "fastnn_scratch-*manylinux*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    res = subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", whl],
                         env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import fastnn, fastnn.ops, numpy as np\n"
            "print('FILE', fastnn.__file__)\n"
            "fastnn.show_config()\n"
            "fastnn.ops.relu_forward(np.ones((4, 3)))\n"
            "maps = open('/proc/self/maps').read().split()\n"
            "print('LIBS', sorted({m for m in maps if 'libgomp' in m or 'openblas' in m}))\n")
    res = subprocess.run([py, "-c", code], cwd=str(elsewhere), env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert out.split("FILE ")[1].split()[0].startswith(str(venv))
    assert "not importable" not in out and "compiled kernels:" in out
    libs = ast.literal_eval(out.split("LIBS ")[1].strip())   # OpenMP and BLAS files mapped
    assert not any("libgomp" in p for p in libs), libs
    assert any(p.startswith(str(venv)) and "scipy_openblas32" in p for p in libs), libs
    res = subprocess.run([str(venv / "bin" / "fastnn"), "train", "--epochs", "1"],
                         cwd=str(elsewhere), env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert re.search(r"epoch\s+1\b", res.stdout, re.I) and "acc" in res.stdout, res.stdout
