"""The chapter's experiments in --quick mode: each shows what the book's figure shows.

They run on the real Fashion-MNIST (Debian's dataset-fashion-mnist package)
and are skipped without it; BLAS is limited to one thread (the machine is
shared, and a spinning pool costs more than it gains at these sizes).
"""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from fastnn.experiments import names, run_all, run_experiment

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
needs_fashion = pytest.mark.skipif(
    not os.path.exists(os.path.join(FASHION_DIR, "train-images-idx3-ubyte.gz")),
    reason="real Fashion-MNIST not installed in %s (apt install dataset-fashion-mnist)"
           % FASHION_DIR)
pytest.importorskip("matplotlib", reason="the experiments' figures need matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def one_blas_thread():
    pytest.importorskip("threadpoolctl")
    from fastnn.experiments._common import limit_blas_threads
    with limit_blas_threads(1):
        yield


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("experiments")


_cache = {}


def quick(name, out_dir, dataset="fashion-mnist"):
    """Run ``name`` once per test session (quick mode, seed 0)."""
    if name not in _cache:
        _cache[name] = run_experiment(name, dataset=dataset, quick=True, seed=0,
                                      out=str(out_dir), stream=open(os.devnull, "w"))
    return _cache[name]


def check_outputs(res, n_figures):
    assert len(res.figures) == n_figures
    for path in res.figures:
        with open(path, "rb") as fh:
            data = fh.read()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, path
    with open(res.json_path) as fh:
        saved = json.load(fh)
    assert saved["name"] == res.name and saved["settings"]["quick"] is True
    assert len(res.lines) >= 1 and all(line.startswith(res.name + ": ") for line in res.lines)


# --- 1. optimizers on f(x, y) = x²/20 + y² (Figure 6-8) --------------------------

@pytest.mark.e2e
def test_optimizers_2d_shows_figure_6_8(out_dir, one_blas_thread):
    res = quick("optimizers-2d", out_dir)
    n = res.numbers
    steps = res.settings["params"]["steps"]
    assert steps == 30
    assert n["SGD"]["lr"] == 0.95 and n["Momentum"]["lr"] == 0.1
    assert n["AdaGrad"]["lr"] == 1.5 and n["Adam"]["lr"] == 0.3
    # SGD zig-zags: y flips sign at (nearly) every step; AdaGrad's never does.
    assert n["SGD"]["y_sign_flips"] >= steps - 2
    assert n["AdaGrad"]["y_sign_flips"] == 0
    # Momentum swings back and forth along the valley, but far less often than SGD.
    assert 1 <= n["Momentum"]["y_sign_flips"] <= steps // 3
    # AdaGrad ends nearest the minimum.
    dist = {k: n[k]["distance"] for k in ("SGD", "Momentum", "AdaGrad", "Adam",
                                          "Nesterov", "RMSprop")}
    assert min(dist, key=dist.get) == "AdaGrad"
    assert all(d < 7.3 for d in dist.values())       # all moved toward (0, 0) from (-7, 2)
    path = np.array(n["SGD_path"])
    assert path.shape == (steps + 1, 2) and tuple(path[0]) == (-7.0, 2.0)
    check_outputs(res, 1)


# --- 2. optimizers on a 5-layer net (Figure 6-9) ---------------------------------

@pytest.mark.e2e
@needs_fashion
def test_optimizers_shows_figure_6_9(out_dir, one_blas_thread):
    res = quick("optimizers", out_dir)
    final = {k: v["final_loss"] for k, v in res.numbers.items() if k != "losses"}
    assert set(final) == {"SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"}
    # SGD is the slowest; the adaptive and momentum methods are well below it.
    assert max(final, key=final.get) == "SGD"
    for name in ("Momentum", "AdaGrad", "Adam", "Nesterov"):
        assert final[name] < 0.85 * final["SGD"], name
    assert final["SGD"] < res.numbers["SGD"]["first_loss"] - 0.5     # SGD learns, slowly
    assert len(res.numbers["losses"]["Adam"]) == res.settings["params"]["iterations"]
    check_outputs(res, 1)


# --- 3. activation histograms (Figures 6-10 to 6-14) -----------------------------

@pytest.mark.e2e
def test_init_histograms_show_figures_6_10_to_6_14(out_dir, one_blas_thread):
    res = quick("init-histograms", out_dir)
    n = res.numbers
    std = {k: [row["std"] for row in v] for k, v in n.items()}
    # std 1 with sigmoid: activations pile up at 0 and 1 in every layer.
    assert all(row["saturated"] > 0.5 for row in n["sigmoid std=1"])
    # std 0.01 with sigmoid: everything near 0.5 (all units alike).
    assert all(abs(row["mean"] - 0.5) < 0.02 for row in n["sigmoid std=0.01"])
    assert max(std["sigmoid std=0.01"]) < 0.03
    # Xavier with sigmoid: spread out, neither saturated nor collapsed.
    assert min(std["sigmoid Xavier"]) > 4 * max(std["sigmoid std=0.01"])
    assert all(row["saturated"] < 0.1 for row in n["sigmoid Xavier"])
    # tanh with Xavier: centred on 0.
    assert all(abs(row["mean"]) < 0.05 for row in n["tanh Xavier"])
    # ReLU: std 0.01 vanishes layer by layer, Xavier shrinks, He keeps the spread.
    assert std["relu std=0.01"][-1] < 1e-3 * std["relu std=0.01"][0]
    assert std["relu Xavier"][-1] < 0.5 * std["relu Xavier"][0]
    he = std["relu He"]
    assert 0.5 < he[-1] / he[0] < 2 and min(he) > 0.5
    check_outputs(res, 3)


# --- 4. initial weights and learning (Figure 6-15) -------------------------------

@pytest.mark.e2e
@needs_fashion
def test_init_shows_figure_6_15(out_dir, one_blas_thread):
    res = quick("init", out_dir)
    final = {k: res.numbers[k]["final_loss"] for k in ("std=0.01", "Xavier", "He")}
    # std 0.01 does not learn: the loss stays at ln 10.
    assert abs(final["std=0.01"] - math.log(10)) < 0.02
    # He learns, faster than Xavier.
    assert final["He"] < 1.0
    assert final["He"] < final["Xavier"] < final["std=0.01"] - 0.3
    check_outputs(res, 1)


# --- 5. batch normalization (Figures 6-18, 6-19) ----------------------------------

@pytest.mark.e2e
@needs_fashion
def test_batchnorm_shows_figures_6_18_and_6_19(out_dir, one_blas_thread):
    res = quick("batchnorm", out_dir)
    n = res.numbers
    sweep = n["sweep"]
    assert len(sweep) == 16
    assert sweep[0]["scale"] == 1.0 and sweep[-1]["scale"] == pytest.approx(1e-4)
    wins = sum(s["bn"][-1] > s["no_bn"][-1] for s in sweep)
    assert n["bn_wins"] == wins
    assert wins >= 11                       # BN beats no-BN at most of the 16 scales
    # Without BN the network stays at chance at the small scales; with BN it learns.
    small = [s for s in sweep if s["scale"] < 0.01]
    assert all(s["no_bn"][-1] < 0.2 for s in small)
    assert all(s["bn"][-1] > s["no_bn"][-1] + 0.1 for s in small)
    # Figure 6-18: BN learns faster.
    speed = n["speed"]
    assert speed["bn"][-1] > speed["no_bn"][-1] + 0.2
    assert np.mean(speed["bn"]) > np.mean(speed["no_bn"])
    check_outputs(res, 2)


# --- 6. overfitting, weight decay, dropout (Figures 6-20, 6-21, 6-23) -----------

@pytest.mark.e2e
def test_overfit_shows_figures_6_20_to_6_23(out_dir, one_blas_thread):
    # on the bundled sample: what `fastnn run all --quick` shows a new user
    res = quick("overfit", out_dir, dataset="sample")
    n = res.numbers
    base, wd, drop = n["baseline"], n["weight decay"], n["dropout"]
    # The baseline overfits: near-perfect on its 300 samples, far worse on the test set.
    assert base["train_acc"] > 0.95 and base["gap"] > 0.15
    # Weight decay and dropout shrink the gap ...
    assert wd["gap"] < 0.9 * base["gap"]
    assert drop["gap"] < 0.8 * base["gap"]
    # ... by fitting the training set less, not by learning less: test accuracy holds.
    assert wd["train_acc"] < base["train_acc"] and drop["train_acc"] < base["train_acc"]
    assert wd["test_acc"] > base["test_acc"] - 0.025
    assert drop["test_acc"] > base["test_acc"] - 0.025
    curves = n["curves"]["baseline"]
    assert len(curves["train"]) == res.settings["params"]["epochs"]
    check_outputs(res, 4)


# --- 7. hyperparameter search (Figure 6-24) --------------------------------------

@pytest.mark.e2e
def test_hyperparams_shows_figure_6_24(out_dir, one_blas_thread):
    res = quick("hyperparams", out_dir, dataset="sample")   # what a new user sees first
    n = res.numbers
    trials = n["trials"]
    p = res.settings["params"]
    assert len(trials) == p["trials"]
    for tr in trials:
        assert p["lr_range"][0] <= tr["lr"] <= p["lr_range"][1]
        assert p["weight_decay_range"][0] <= tr["weight_decay"] <= p["weight_decay_range"][1]
        assert len(tr["val_curve"]) == len(tr["train_curve"]) == p["epochs"]
    vals = [tr["val_acc"] for tr in trials]
    assert vals == sorted(vals, reverse=True)
    # Learning goes well only with a large enough learning rate (1e-3 to 1e-2).
    assert trials[0]["lr"] >= 1e-3
    assert trials[0]["val_acc"] > np.median(vals) + 0.15
    # Most of the curves in the figure learn, and those have a large learning rate.
    top = trials[:p["top_k"]]
    learned = [tr for tr in top if tr["val_acc"] > 0.4]
    assert len(learned) >= p["top_k"] // 2
    assert all(tr["lr"] > 5e-4 for tr in learned)
    # The text names the trials the figure shows.
    assert sum(line.startswith("hyperparams: Best-") for line in res.lines) == p["top_k"]
    assert any("the best %d trials" % p["top_k"] in line for line in res.lines)
    check_outputs(res, 2)


# --- the command, 'all' and the report -------------------------------------------

@pytest.mark.e2e
def test_cli_run_writes_figures_and_takes_settings(tmp_path, capsys):
    from fastnn.cli import main
    assert main(["run", "optimizers-2d", "--out", str(tmp_path), "--set", "steps=5",
                 "--backend", "reference"]) == 0
    out = capsys.readouterr().out
    assert out.count("optimizers-2d: ") >= 6 and "of 5 steps" in out
    data = json.loads((tmp_path / "optimizers-2d" / "optimizers-2d.json").read_text())
    assert data["settings"]["params"]["steps"] == 5
    assert data["settings"]["backend"] == "reference"
    assert len(data["numbers"]["SGD_path"]) == 6
    assert (tmp_path / "optimizers-2d" / "optimizers-2d.png").read_bytes().startswith(PNG_MAGIC)
    assert main(["run", "optimizers-2d", "--out", str(tmp_path), "--set", "nope=1"]) == 2
    assert "no setting 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "no-such-experiment"])


@pytest.mark.e2e
def test_run_all_writes_a_self_contained_report(tmp_path, one_blas_thread):
    log = tmp_path / "log.txt"
    with open(log, "w") as fh:
        summary = run_all(dataset="sample", quick=True, out=str(tmp_path / "r"),
                          only=["optimizers-2d", "init"],
                          overrides={"init": {"iterations": 20, "tail": 5}}, stream=fh)
    text = log.read_text()
    html = (tmp_path / "r" / "report.html").read_text()
    assert summary["report"] == str(tmp_path / "r" / "report.html")
    assert html.count("data:image/png;base64,") == 2          # 1 + 1 figures, embedded
    assert "<img" in html and "src='optimizers-2d" not in html
    assert "speedup" in html and "optimizers-2d" in html and "Figure 6-15" in html
    for name in ("optimizers-2d", "init"):
        t = summary["timings"][name]
        assert t["fast"] > 0 and t["reference"] > 0
    tot = summary["totals"]
    assert tot["ratio"] == pytest.approx(tot["fast"] / tot["reference"])
    assert "speedup" in text and "report" in text
    saved = json.loads((tmp_path / "r" / "all.json").read_text())
    assert set(saved["experiments"]) == {"optimizers-2d", "init"}
    assert saved["experiments"]["init"]["settings"]["dataset"] == "sample"
    # the timing twin writes nothing: only the primary backend's files exist
    assert sorted(os.listdir(tmp_path / "r" / "optimizers-2d")) == [
        "optimizers-2d.json", "optimizers-2d.png"]


def test_sample_dataset_and_overrides(tmp_path, one_blas_thread):
    res = run_experiment("init", dataset="sample", quick=True, out=str(tmp_path),
                         overrides={"iterations": 30, "tail": 5}, figures=False,
                         stream=open(os.devnull, "w"))
    assert res.settings["dataset"] == "sample"
    assert len(res.numbers["losses"]["He"]) == 30 and res.figures == []
    assert res.compute_time <= res.wall_time
    with pytest.raises(ValueError, match="unknown experiment"):
        run_experiment("optimisers")


def test_every_experiment_is_registered_and_documented():
    from fastnn.experiments import get
    assert names() == ["optimizers-2d", "optimizers", "init-histograms", "init",
                       "batchnorm", "overfit", "hyperparams", "babysit",
                       "convnet", "word2vec", "rnnlm", "seq2seq", "attention"]
    for name in names():
        mod = get(name)
        assert mod.NAME == name and mod.TITLE and mod.__doc__
        # babysit: the course, not the book; the sequel's name their chapter
        assert mod.BOOK_FIGURES or name == "babysit" or mod.SEQUEL_CHAPTER
        assert set(getattr(mod, "QUICK", {})) <= set(mod.DEFAULTS)


def _python_without_matplotlib(code, cwd):
    """Run ``code`` in a fresh interpreter where matplotlib (and tqdm) cannot be imported,
    importing the fastnn under test; returns the CompletedProcess."""
    shim = "import sys; sys.modules['matplotlib'] = None; sys.modules['tqdm'] = None\n"
    env = dict(os.environ)
    import fastnn
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    # cwd elsewhere: `-c` puts the cwd first on sys.path, and a checkout there would shadow
    # the fastnn under test (an unbuilt one fails to import, by design)
    return subprocess.run([sys.executable, "-c", shim + code], capture_output=True, text=True,
                          env=env, timeout=120, cwd=str(cwd))


def test_package_imports_without_matplotlib(tmp_path):
    code = ("import fastnn, fastnn.trainer, fastnn.serialization, fastnn.experiments\n"
            "from fastnn.cli import build_parser; build_parser()\n"
            "from fastnn.experiments import get\n"
            "[get(n) for n in fastnn.experiments.names()]\n"
            "print('ok')")
    proc = _python_without_matplotlib(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


@pytest.mark.e2e
def test_run_without_matplotlib_keeps_the_numbers_and_says_so_in_one_line(tmp_path):
    code = ("import sys; from fastnn.cli import main\n"
            "sys.exit(main(['run', 'optimizers-2d', '--quick', '--set', 'steps=5', "
            "'--out', 'res']))")
    proc = _python_without_matplotlib(code, tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == ("no figures: the experiments' figures need matplotlib: "
                         "pip install 'fastnn-scratch[plot]'")
    assert "0 figures, numbers in" in lines[-2]
    saved = json.loads((tmp_path / "res" / "optimizers-2d" / "optimizers-2d.json").read_text())
    assert len(saved["numbers"]["SGD_path"]) == 6 and saved["figures"] == []
    assert "matplotlib" in saved["figures_skipped"]
    assert os.listdir(tmp_path / "res" / "optimizers-2d") == ["optimizers-2d.json"]


def test_run_all_without_matplotlib_writes_the_report_and_says_so_once(tmp_path, monkeypatch):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    log = tmp_path / "log.txt"
    with open(log, "w") as fh:
        summary = run_all(dataset="sample", quick=True, out=str(tmp_path / "r"),
                          only=["optimizers-2d", "init"], compare=False,
                          overrides={"optimizers-2d": {"steps": 5},
                                     "init": {"iterations": 5, "tail": 2}}, stream=fh)
    assert log.read_text().count("no figures:") == 1
    assert os.path.exists(summary["report"])
    assert sorted(os.listdir(tmp_path / "r" / "init")) == ["init.json"]


def test_report_shows_a_dash_for_times_too_small_to_measure(tmp_path):
    from fastnn.experiments.report import _totals, write_report
    timings = {"optimizers-2d": {"fast": 0.0012, "reference": 0.0009, "wall": 0.3},
               "init": {"fast": 1.5, "reference": 3.0, "wall": 2.0}}
    summary = {"dataset": "sample", "backend": "fast", "seed": 0, "quick": True,
               "compare": True, "timings": timings,
               "totals": _totals(timings, "fast", True), "environment": {"date": "today"}}
    html = open(write_report(summary, {}, str(tmp_path / "report.html"))).read()
    row = html.split("href='#optimizers-2d'>optimizers-2d</a></td>")[1].split("</tr>")[0]
    assert row == "<td>—</td><td>—</td><td>—</td>"
    row = html.split("href='#init'>init</a></td>")[1].split("</tr>")[0]
    assert row == "<td>1.50</td><td>3.00</td><td>2.00×</td>"
    assert "0.00" not in html
    from fastnn.experiments.report import _secs
    assert (_secs(0.004), _secs(1.234)) == ("—", "1.23s")     # the lines run_all prints
    tiny = {"a": {"fast": 0.001, "reference": 0.002, "wall": 0.1}}
    assert _totals(tiny, "fast", True)["speedup"] is None


def test_batchnorm_speed_legend_is_outside_the_plotting_area():
    from fastnn.experiments import batchnorm
    curves = {True: list(np.linspace(0.1, 0.95, 8)), False: [0.1] * 8}
    fig = batchnorm._speed_figure(curves, dict(batchnorm.DEFAULTS), "sample")
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    assert not legend.overlaps(ax.get_window_extent())   # it can cover no point of either curve
