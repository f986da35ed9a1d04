"""``fastnn run babysit``: one model across resumes, with lr changes and a rollback."""
import os

import numpy as np
import pytest

from fastnn.experiments import run_experiment

pytestmark = pytest.mark.e2e       # four fastnn train processes

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_babysit_session_records_resumes_lr_changes_and_the_rollback(tmp_path):
    res = run_experiment("babysit", dataset="sample", quick=True, out=str(tmp_path))
    h = res.numbers["history"]
    p = res.settings["params"]
    lrs, epochs = p["lrs"], p["epochs"]
    kinds = [e["kind"] for e in h["events"]]
    assert kinds == ["resume", "resume", "rollback", "resume"]
    changes = [e["changes"].get("lr") for e in h["events"] if e["kind"] == "resume"]
    assert changes[:2] == [[lrs[0], lrs[1]], [lrs[1], lrs[2]]]
    rollback = h["events"][2]
    # the third stage was discarded: the run went back to the best validation epoch
    stage3_end = sum(epochs[:3])
    assert rollback["from_epoch"] == stage3_end
    best = rollback["epoch"]
    assert h["val_acc"][best - 1] == max(h["val_acc"][:best] + rollback["discarded"]["val_acc"])
    assert rollback["discarded"]["epoch"] == list(range(best + 1, stage3_end + 1))
    assert h["epoch"] == list(range(1, best + epochs[3] + 1))
    assert h["lr"][-1] == lrs[3]
    # each lr in the record is the one of the command that trained that epoch
    assert h["lr"][:epochs[0]] == [lrs[0]] * epochs[0]
    assert res.numbers["commands"][0].startswith("fastnn train --dataset sample")
    assert "--rollback-best" in res.numbers["commands"][-1]
    png = tmp_path / "babysit" / "babysit.png"
    assert png.read_bytes().startswith(PNG_MAGIC)
    assert sorted(os.listdir(tmp_path / "babysit")) == ["babysit.json", "babysit.png"]
    assert np.isfinite(res.numbers["final"]["test_acc"])


def test_the_child_fastnn_is_this_one_not_a_fastnn_in_the_working_directory(tmp_path,
                                                                            monkeypatch):
    # The README's command runs from a clone's root: a fastnn/ there (an
    # unbuilt source tree) must not shadow the package this process runs.
    from fastnn.experiments.babysit import _fastnn
    shadow = tmp_path / "fastnn"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ImportError('the working directory fastnn')\n")
    monkeypatch.chdir(tmp_path)
    _fastnn(["--version"])          # raises RuntimeError when the child fails
