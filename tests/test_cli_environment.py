"""The ``fastnn`` command started with a bad FASTNN_NUM_THREADS or FASTNN_BACKEND:
one line naming the variable and exit status 2, as for a bad option; the
library's import still raises the ValueError (found by scripts/attack, where
the command printed a 20-line traceback)."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args, env):
    full = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for key in ("FASTNN_NUM_THREADS", "OMP_NUM_THREADS", "FASTNN_BACKEND"):
        full.pop(key, None)
    full.update(env)
    proc = subprocess.run([sys.executable] + args, capture_output=True, text=True, env=full,
                          cwd=ROOT, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


BAD = [({"FASTNN_NUM_THREADS": "abc"}, "FASTNN_NUM_THREADS must be"),
       ({"FASTNN_NUM_THREADS": "0"}, "FASTNN_NUM_THREADS must be"),
       ({"FASTNN_NUM_THREADS": "2,3"}, "FASTNN_NUM_THREADS must be"),
       ({"FASTNN_BACKEND": "foo"}, "FASTNN_BACKEND must be one of")]


@pytest.mark.parametrize("env,message", BAD, ids=["%s=%s" % next(iter(e.items())) for e, _ in BAD])
def test_command_with_a_bad_variable_says_so_in_one_line(env, message):
    rc, out, err = _run(["-m", "fastnn", "config"], env)
    assert rc == 2, err
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastnn: error: " + message), err


@pytest.mark.parametrize("env,message", BAD[::3], ids=["threads", "backend"])
def test_library_import_with_a_bad_variable_still_raises(env, message):
    rc, out, err = _run(["-c", "import fastnn"], env)
    assert rc == 1
    assert err.splitlines()[-1].startswith("ValueError: " + message), err
