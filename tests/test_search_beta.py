"""Beta searched on the scale of 1 - beta, and ``fastnn search --tune``.

An exponentially weighted average with coefficient beta averages over about 1/(1-beta)
steps: 0.9 -> 10, 0.99 -> 100, 0.999 -> 1000.  So beta is drawn with 1 - beta log-uniform,
and [0.9, 0.99] gets as many trials as [0.99, 0.999].
"""
import json
import math

import numpy as np
import pytest
from scipy import stats

from fastnn.search import (beta, loguniform, optuna_available, random_search, sample_space,
                           uniform)
from fastnn.search._space import (from_optuna_params, space_from_spec, space_to_spec,
                                  to_optuna_params)
from fastnn.search.synthetic import LogPeak

needs_optuna = pytest.mark.skipif(not optuna_available(),
                                  reason="Optuna is not installed (pip install optuna)")

N = 20000


def _halves(x):
    """(samples in [0.9, 0.99), samples in [0.99, 0.999])."""
    x = np.asarray(x)
    return int(np.sum((x >= 0.9) & (x < 0.99))), int(np.sum((x >= 0.99) & (x <= 0.999)))


def test_beta_puts_as_many_samples_in_0_9_to_0_99_as_in_0_99_to_0_999():
    rng = np.random.RandomState(2024)
    x = np.array([beta(0.9, 0.999).sample(rng) for _ in range(N)])
    assert x.min() >= 0.9 and x.max() <= 0.999
    low, high = _halves(x)
    assert low + high == N
    # Each sample falls in either half with probability 1/2, so low ~ Binomial(N, 1/2): an
    # exact two-sided binomial test rejects a correct sampler with probability 0.001
    # (|low - N/2| beyond about 3.3 sigma = 232 samples of 20,000).
    assert stats.binomtest(low, N, 0.5).pvalue > 1e-3, (low, high)
    # 1 - beta is log-uniform: -log10(1 - beta) is uniform on [1, 3]
    assert stats.kstest(-np.log10(1 - x), stats.uniform(loc=1, scale=2).cdf).pvalue > 1e-3
    # the same test has the power to reject beta drawn uniformly (91% in [0.9, 0.99])
    u = np.array([uniform(0.9, 0.999).sample(rng) for _ in range(N)])
    assert stats.binomtest(_halves(u)[0], N, 0.5).pvalue < 1e-12


def test_beta_range_spec_narrowing_and_optuna_names():
    with pytest.raises(ValueError, match="0 <= low < high < 1"):
        beta(0.9, 1.0)
    with pytest.raises(ValueError, match="0 <= low < high < 1"):
        beta(0.999, 0.9)
    with pytest.raises(ValueError, match="0 <= low < high < 1"):
        beta(-0.1, 0.9)
    with pytest.raises(TypeError, match="real number"):
        beta("0.9", 0.99)
    assert beta(0.0, 0.9).sample(np.random.RandomState(0)) >= 0.0
    space = {"lr": loguniform(1e-4, 1e-1), "momentum": beta(0.9, 0.999)}
    assert space_from_spec(json.loads(json.dumps(space_to_spec(space)))) == space
    assert repr(space["momentum"]) == "beta(0.9, 0.999)"
    # narrowed on the 1 - beta log scale: 0.99 and 0.999 span decades 2..3 of 1/(1-beta)
    n = beta(0.9, 0.9999).narrow([0.99, 0.999], margin=0.5)
    assert -math.log10(1 - n.low) == pytest.approx(1.5) and \
        -math.log10(1 - n.high) == pytest.approx(3.5)
    assert beta(0.9, 0.999).narrow([0.998, 0.999], margin=1.0).high == 0.999
    # Optuna stores 1 - beta, under '1-NAME'; the round trip gives back the same floats
    p = sample_space(space, 50, seed=3)
    stored = [to_optuna_params(space, q) for q in p]
    assert set(stored[0]) == {"lr", "1-momentum"}
    assert [from_optuna_params(space, q) for q in stored] == p


@needs_optuna
@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_beta_through_optuna_is_sampled_on_the_1_minus_beta_scale(sampler, tmp_path):
    import optuna
    space = {"lr": loguniform(1e-6, 1e-2), "weight_decay": loguniform(1e-8, 1e-4),
             "beta1": beta(0.9, 0.999)}
    journal = str(tmp_path / "s.journal")
    r = random_search(LogPeak(epochs=1), space, 24, seed=5, sampler=sampler, tpe_startup=4,
                      pruner=None, storage=journal, study_name="b")
    assert all(0.9 <= t.params["beta1"] <= 0.999 for t in r.trials)
    if sampler == "random":      # the same draws as without Optuna, to the last bit
        assert [t.params for t in r.trials] == sample_space(space, 24, seed=5)
    from fastnn.search._storage import open_storage, storage_spec
    study = optuna.load_study(study_name="b", storage=open_storage(storage_spec(journal)))
    trials = study.get_trials(deepcopy=False)
    dist = trials[-1].distributions["1-beta1"]
    assert dist.log and dist.low == pytest.approx(0.001) and dist.high == pytest.approx(0.1)
    by_number = {t.study_trial: t.params["beta1"] for t in r.trials}
    assert all(by_number[t.number] == 1 - t.params["1-beta1"] for t in trials)


def test_layers_and_hidden_params_shape_the_network():
    from fastnn.search import mlp_objective
    rng = np.random.RandomState(0)
    x, t = rng.rand(40, 6), rng.randint(0, 3, 40)
    obj = mlp_objective(x[:30], t[:30], x[30:], t[30:], epochs=1, hidden=(9, 9), batch_size=8)
    assert obj._network({"lr": 0.1, "layers": 3}).hidden_size_list == [9, 9, 9]
    assert obj._network({"lr": 0.1, "hidden": 5}).hidden_size_list == [5, 5]
    assert obj._network({"lr": 0.1, "hidden": 5, "layers": 4}).hidden_size_list == [5] * 4


# -- fastnn search --tune ---------------------------------------------------------------------
TINY = ["search", "--dataset", "sample", "--train-size", "120", "--epochs", "1", "--hidden",
        "8", "--trials", "4", "--rounds", "2", "--workers", "1", "--no-plot", "--live", "lines",
        "--seed", "1"]


def _run(argv, capsys):
    from fastnn.cli import main
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@needs_optuna
@pytest.mark.parametrize("optimizer, betas", [("momentum", {"momentum": (0.8, 0.99)}),
                                               ("adam", {"beta1": (0.9, 0.999),
                                                         "beta2": (0.99, 0.9999)})])
def test_cli_tune_beta_hidden_batch_size_layers_runs(optimizer, betas, tmp_path, capsys):
    out = tmp_path / optimizer
    extra = ["--beta", "0.8", "0.99"] if optimizer == "momentum" else []
    rc, text, err = _run(TINY + ["--optimizer", optimizer, "--out", str(out), "--tune", "beta",
                                 "hidden", "batch-size", "layers", "--hidden-range", "4", "32",
                                 "--batch-sizes", "16", "32", "--layers-range", "1", "3"]
                         + extra, capsys)
    assert rc == 0, err
    assert "1-beta log" in text
    data = json.loads((out / "results.json").read_text())
    assert len(data["trials"]) == 4
    for trial in data["trials"]:
        p = trial["params"]
        assert set(p) == {"lr", "weight_decay", "hidden", "batch_size", "layers"} | set(betas)
        for name, (low, high) in betas.items():
            assert low <= p[name] <= high
        assert 4 <= p["hidden"] <= 32 and p["batch_size"] in (16, 32) and 1 <= p["layers"] <= 3
    assert "-beta-hidden-batch-size-layers" in data["info"]["study_name"]


@needs_optuna
def test_cli_without_tune_searches_lr_and_weight_decay_only(tmp_path, capsys):
    rc, text, err = _run(TINY + ["--out", str(tmp_path / "o")], capsys)
    assert rc == 0, err
    data = json.loads((tmp_path / "o" / "results.json").read_text())
    assert all(set(t["params"]) == {"lr", "weight_decay"} for t in data["trials"])


@pytest.mark.parametrize("argv, fragment", [
    (["--tune", "beta"], "--tune beta needs an optimizer with a beta"),
    (["--optimizer", "adam", "--tune", "beta", "--beta", "0.99", "0.9"],
     "--beta: beta needs 0 <= low < high < 1"),
    (["--optimizer", "adam", "--tune", "beta", "--beta2", "0.9", "1"], "argument --beta2"),
    (["--optimizer", "momentum", "--tune", "beta", "--beta2", "0.9", "0.99"],
     "--beta2 is Adam's"),
    (["--optimizer", "momentum", "--beta", "0.9", "0.99"], "--beta is only used with --tune beta"),
    (["--tune", "hidden", "--hidden-range", "64", "64"], "--hidden-range: intloguniform needs"),
    (["--tune", "hidden", "--hidden-range", "0", "64"], "argument --hidden-range"),
    (["--tune", "batch-size", "--batch-sizes", "48"], "argument --batch-sizes: must be a power"),
    (["--tune", "batch-size", "--batch-sizes", "32", "32"], "--batch-sizes: choice options must"),
    (["--tune", "layers", "--layers-range", "3", "3"], "--layers-range: needs LOW < HIGH"),
    (["--layers-range", "1", "3"], "--layers-range is only used with --tune layers"),
    (["--tune", "momentum"], "argument --tune: invalid choice"),
])
def test_cli_tune_options_are_checked(argv, fragment, capsys):
    rc, _, err = _run(TINY + argv, capsys)
    assert rc == 2
    assert "Traceback" not in err and fragment in err.strip().splitlines()[-1], err
