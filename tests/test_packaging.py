"""Packaging: importing an unbuilt source tree fails with one clear message."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _copy_tree(dest, with_setup=True):
    """The package (and setup.py) copied to ``dest`` without any compiled file."""
    shutil.copytree(os.path.join(ROOT, "fastnn"), os.path.join(dest, "fastnn"),
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "*.c", "__pycache__"))
    if with_setup:
        for name in ("setup.py", "pyproject.toml"):
            shutil.copy(os.path.join(ROOT, name), dest)


def _import_in(cwd, code="import fastnn"):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", code], cwd=str(cwd), env=env,
                          capture_output=True, text=True, timeout=120)


def test_unbuilt_source_tree_raises_one_clear_import_error(tmp_path):
    _copy_tree(tmp_path)
    res = _import_in(tmp_path, "import fastnn; fastnn.show_config()")
    assert res.returncode != 0
    err = res.stderr
    last = err.strip().splitlines()[-1]
    assert last.startswith("ImportError: fastnn is being imported from its source tree")
    assert str(tmp_path) in last
    for what in ("activations", "affine", "optim", "pip install -e .",
                 "python setup.py build_ext --inplace", "outside the source tree"):
        assert what in last, what
    # one error, not a chain of them, and nothing about pytest's "valid Python names"
    assert err.count("Traceback") == 1 and "During handling" not in err
    assert "ModuleNotFoundError" not in err


def test_one_missing_kernel_is_named(tmp_path):
    _copy_tree(tmp_path)
    kdir = os.path.join(ROOT, "fastnn", "_kernels")
    built = [f for f in os.listdir(kdir) if f.endswith((".so", ".pyd"))]
    if not built:
        pytest.skip("fastnn is not imported from a built source tree")
    for f in built:
        if not f.startswith("optim."):
            shutil.copy(os.path.join(kdir, f), os.path.join(tmp_path, "fastnn", "_kernels"))
    res = _import_in(tmp_path)
    last = res.stderr.strip().splitlines()[-1]
    assert res.returncode != 0 and "compiled kernels (optim) are not built" in last


def test_incomplete_installation_says_reinstall(tmp_path):
    _copy_tree(tmp_path, with_setup=False)
    res = _import_in(tmp_path)
    last = res.stderr.strip().splitlines()[-1]
    assert res.returncode != 0
    assert last.startswith("ImportError: fastnn's compiled kernels")
    assert "reinstall" in last and "source tree" not in last
