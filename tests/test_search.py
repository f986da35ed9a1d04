"""fastnn.search: sampling, pruning, coarse to fine, workers sharing a study, resume, CLI.

Everything but one small training test uses synthetic objectives (no training) so the
file runs in seconds; the multi-process tests use Optuna's journal file storage.
"""
import collections
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from scipy import stats

import fastnn
from fastnn.search import (SearchError, SearchResult, TrialPruned, choice, coarse_to_fine,
                           intloguniform, loguniform, mlp_objective, optuna_available,
                           random_search, sample_space, stratified_kfold, uniform,
                           validation_split)
from fastnn.search._space import check_space, space_from_spec, space_to_spec
from fastnn.search.synthetic import LogPeak

needs_optuna = pytest.mark.skipif(not optuna_available(),
                                  reason="Optuna is not installed (pip install optuna)")

# subprocesses import the same fastnn as the tests (the source tree or the installed one)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))
BOOK_SPACE = {"lr": loguniform(1e-6, 1e-2), "weight_decay": loguniform(1e-8, 1e-4)}


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in env.get("PYTHONPATH", "").split(
        os.pathsep) if p])
    return env


def _execs(log_path):
    """slot -> (number of starts, number of ends) from a LogPeak log."""
    starts, ends = collections.Counter(), collections.Counter()
    if os.path.exists(log_path):
        for line in open(log_path):
            parts = line.split()
            (ends if parts[-1] == "end" else starts)[int(parts[0])] += 1
    return starts, ends


def _study_trials(storage_path, name):
    import optuna
    from fastnn.search._storage import open_storage, storage_spec
    st = open_storage(storage_spec(storage_path))
    return optuna.load_study(study_name=name, storage=st).get_trials(deepcopy=False)


# -- sampling -------------------------------------------------------------------------------
def test_loguniform_is_uniform_in_log_space():
    rng = np.random.RandomState(12345)
    d = loguniform(1e-6, 1e-2)
    x = np.array([d.sample(rng) for _ in range(4000)])
    assert x.min() >= 1e-6 and x.max() <= 1e-2
    # uniform in log10: a KS test does not reject U(-6, -2) ...
    assert stats.kstest(np.log10(x), stats.uniform(loc=-6, scale=4).cdf).pvalue > 0.01
    # ... and has the power to reject a uniform-in-value distribution on the same samples
    assert stats.kstest(x, stats.uniform(loc=1e-6, scale=1e-2 - 1e-6).cdf).pvalue < 1e-6
    # every decade gets about a quarter of the samples
    counts = np.histogram(np.log10(x), bins=[-6, -5, -4, -3, -2])[0]
    assert stats.chisquare(counts).pvalue > 0.01


def test_uniform_intloguniform_choice_samples():
    rng = np.random.RandomState(7)
    u = np.array([uniform(-2.0, 3.0).sample(rng) for _ in range(3000)])
    assert stats.kstest(u, stats.uniform(loc=-2, scale=5).cdf).pvalue > 0.01
    n = [intloguniform(1, 1000).sample(rng) for _ in range(3000)]
    assert all(isinstance(v, int) and 1 <= v <= 1000 for v in n)
    small = sum(v <= 31 for v in n) / len(n)          # half of the log range: 1..~31.6
    assert 0.42 < small < 0.58
    c = collections.Counter(choice(["a", "b", "c"]).sample(rng) for _ in range(3000))
    assert set(c) == {"a", "b", "c"}
    assert stats.chisquare(list(c.values())).pvalue > 0.01


def test_seeded_sampling_is_the_books_formula():
    got = sample_space({"lr": loguniform(1e-6, 1e-2)}, 6, seed=7)
    rs = np.random.RandomState(7)
    want = [10 ** rs.uniform(-6, -2) for _ in range(6)]
    assert [g["lr"] for g in got] == pytest.approx(want, rel=1e-12)
    # trial i's draw does not depend on how many trials there are
    assert sample_space(BOOK_SPACE, 3, seed=1) == sample_space(BOOK_SPACE, 10, seed=1)[:3]
    assert sample_space(BOOK_SPACE, 3, seed=1) != sample_space(BOOK_SPACE, 3, seed=2)


@pytest.mark.parametrize("make, match", [
    (lambda: loguniform(1e-2, 1e-6), "low < high"),
    (lambda: loguniform(1e-3, 1e-3), "low < high"),
    (lambda: loguniform(0.0, 1.0), "log scale"),
    (lambda: loguniform(-1.0, 1.0), "log scale"),
    (lambda: uniform(2.0, 1.0), "low < high"),
    (lambda: uniform(0.0, float("nan")), "finite"),
    (lambda: intloguniform(0, 10), "log scale"),
    (lambda: intloguniform(5, 5), "low < high"),
    (lambda: choice([]), "at least one"),
    (lambda: choice([1, 1]), "distinct"),
])
def test_ranges_are_validated(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_types_are_validated():
    with pytest.raises(TypeError, match="real number"):
        loguniform("1e-6", 1e-2)
    with pytest.raises(TypeError, match="int"):
        intloguniform(1.5, 10)
    with pytest.raises(TypeError, match="list of options"):
        choice("abc")
    with pytest.raises(TypeError, match="space"):
        check_space({"lr": (1e-6, 1e-2)})
    with pytest.raises(TypeError, match="space"):
        random_search(LogPeak(), [], 3)
    with pytest.raises(ValueError, match="n_trials"):
        random_search(LogPeak(), BOOK_SPACE, 0)
    with pytest.raises(ValueError, match="sampler"):
        random_search(LogPeak(), BOOK_SPACE, 3, sampler="grid")
    with pytest.raises(ValueError, match="pruner"):
        random_search(LogPeak(), BOOK_SPACE, 3, pruner="mean")


def test_space_spec_round_trip_and_narrowing():
    space = {"lr": loguniform(1e-6, 1e-2), "u": uniform(0.0, 1.0), "n": intloguniform(1, 512),
             "c": choice(["sgd", "adam", None])}
    assert space_from_spec(json.loads(json.dumps(space_to_spec(space)))) == space
    lr = loguniform(1e-6, 1e-2)
    n = lr.narrow([1e-4, 1e-3], margin=0.5)
    assert n.low == pytest.approx(10 ** -4.5) and n.high == pytest.approx(10 ** -2.5)
    # clipped to the old range, never outside it
    e = lr.narrow([5e-3, 1e-2], margin=1.0)
    assert e.high == 1e-2 and e.low >= 1e-6 and e.low < 5e-3
    # one value: a window of min_fraction of the old width around it
    one = lr.narrow([1e-4, 1e-4], min_fraction=0.1)
    assert math.log10(one.high) - math.log10(one.low) == pytest.approx(0.4)
    assert intloguniform(1, 512).narrow([8, 16]).low <= 8
    assert choice(["a", "b", "c"]).narrow(["c", "a"]).options == ["a", "c"]


# -- the search, in one process -------------------------------------------------------------
def test_random_search_records_every_trial_reproducibly():
    obj = LogPeak(epochs=4)
    r1 = random_search(obj, BOOK_SPACE, 25, seed=3, pruner=None)
    r2 = random_search(obj, BOOK_SPACE, 25, seed=3, pruner=None)
    assert [t.slot for t in r1.trials] == list(range(25))
    assert all(t.state == "complete" and len(t.curve) == 4 for t in r1.trials)
    assert [t.value for t in r1.trials] == [t.value for t in r2.trials]
    assert [t.params for t in r1.trials] == sample_space(BOOK_SPACE, 25, 3)
    assert r1.best.value == max(t.value for t in r1.trials)
    assert r1.best.value == pytest.approx(obj.score(r1.best.params) * (1 - 0.5 ** 4))
    assert len({t.seed for t in r1.trials}) == 25
    r3 = random_search(obj, BOOK_SPACE, 25, seed=4, pruner=None)
    assert [t.params for t in r3.trials] != [t.params for t in r1.trials]


@pytest.mark.parametrize("pruner", ["median", "halving"])
def test_pruning_stops_bad_trials_and_keeps_the_best(pruner):
    obj = LogPeak(epochs=16)
    full = random_search(obj, BOOK_SPACE, 40, seed=5, pruner=None)
    pruned = random_search(obj, BOOK_SPACE, 40, seed=5, pruner=pruner)
    n_pruned = pruned.count("pruned")
    assert n_pruned >= 10
    assert pruned.epochs_trained() < 0.75 * full.epochs_trained()
    assert all(len(t.curve) < 16 for t in pruned.trials if t.state == "pruned")
    assert pruned.best.params == full.best.params


def test_objective_that_returns_after_should_prune_is_recorded_as_pruned():
    def objective(params, trial):
        value = 0.0
        for epoch in range(1, 6):
            value = LogPeak().score(params) * epoch / 5
            trial.report(value, epoch)
            if trial.should_prune():
                return value          # no exception
        return value
    r = random_search(objective, BOOK_SPACE, 20, seed=0, pruner="median")
    assert r.count("pruned") > 0
    assert all(len(t.curve) < 5 for t in r.trials if t.state == "pruned")


def test_trial_pruned_is_exported_and_failures_are_recorded_or_raised():
    def objective(params, trial):
        trial.report(0.5, 1)
        if trial.number == 1:
            raise TrialPruned()
        if trial.number == 2:
            raise RuntimeError("boom")
        return 0.5
    r = random_search(objective, BOOK_SPACE, 4, seed=0, pruner=None, catch=(RuntimeError,))
    assert [t.state for t in r.trials] == ["complete", "pruned", "failed", "complete"]
    assert "boom" in r.trials[2].error
    with pytest.raises(RuntimeError, match="boom"):
        random_search(objective, BOOK_SPACE, 4, seed=0, pruner=None)
    with pytest.raises(TypeError, match="must return a number"):
        random_search(lambda p, t: "x", BOOK_SPACE, 2, seed=0)


def test_coarse_to_fine_narrows_toward_the_known_optimum():
    best = {"lr": 10 ** -2.7, "weight_decay": 10 ** -7.2}
    obj = LogPeak(optimum=best, width=0.8, epochs=3)
    res = coarse_to_fine(obj, BOOK_SPACE, n_trials=[40, 30, 30], top_k=5, seed=11, pruner=None)
    assert [r["round"] for r in res.rounds] == [1, 2, 3]
    assert [r["n_trials"] for r in res.rounds] == [40, 30, 30]
    assert len(res.trials) == 100 and sorted(t.number for t in res.trials) == list(range(100))
    widths = []
    for r in res.rounds:
        spec = dict(r["space"])
        for name, opt in best.items():    # every round's range still holds the optimum
            assert spec[name]["low"] <= opt <= spec[name]["high"]
        widths.append(sum(math.log10(spec[n]["high"] / spec[n]["low"]) for n in best))
    assert widths[0] > widths[1] > widths[2]
    assert widths[2] < 0.5 * widths[0]
    # trials of a later round lie in that round's (narrower) ranges
    r3 = dict(res.rounds[2]["space"])
    assert all(r3["lr"]["low"] <= t.params["lr"] <= r3["lr"]["high"]
               for t in res.trials if t.round == 3)
    # and the search ends closer to the optimum than its coarse round did
    dist = lambda t: math.hypot(*(math.log10(t.params[n] / best[n]) for n in best))  # noqa
    coarse = max((t for t in res.trials if t.round == 1), key=lambda t: t.value)
    assert dist(res.best) < dist(coarse)
    assert res.best.value > coarse.value


@needs_optuna
def test_tpe_sampler_runs_and_starts_from_the_random_draws():
    obj = LogPeak(epochs=2)
    r = random_search(obj, BOOK_SPACE, 20, seed=2, sampler="tpe", tpe_startup=6, pruner=None)
    rnd = sample_space(BOOK_SPACE, 6, 2)
    assert [t.params for t in r.trials[:6]] == rnd
    assert len(r.trials) == 20 and all(t.state == "complete" for t in r.trials)
    assert len({tuple(t.params.values()) for t in r.trials}) == 20


@needs_optuna
def test_compare_samplers_on_the_same_budget():
    from fastnn.search import compare_samplers
    obj = LogPeak(optimum={"lr": 10 ** -2.5, "weight_decay": 10 ** -7.5}, width=0.5, epochs=2)
    res = compare_samplers(obj, BOOK_SPACE, 40, seed=1, pruner=None)
    assert set(res) == {"random", "tpe"}
    assert all(len(r.trials) == 40 for r in res.values())
    # same start (TPE's start-up trials are the random search's first draws) ...
    assert [t.params for t in res["tpe"].trials[:10]] == \
        [t.params for t in res["random"].trials[:10]]
    # ... and on a smooth peak the Bayesian sampler concentrates its later trials near it
    def spread(r):
        return np.median([math.hypot(*(math.log10(t.params[n] / obj.optimum[n])
                                       for n in obj.optimum)) for t in r.trials[20:]])
    assert spread(res["tpe"]) < spread(res["random"])


def test_result_json_csv_round_trip(tmp_path):
    r = coarse_to_fine(LogPeak(epochs=3), BOOK_SPACE, 12, 2, seed=0)
    r.to_json(tmp_path / "r.json")
    back = SearchResult.from_json(tmp_path / "r.json")
    assert [t.to_dict() for t in back.trials] == [t.to_dict() for t in r.trials]
    # every field survives the file, the epochs and durations included
    assert [(t.steps, t.duration) for t in back.trials] == \
        [(t.steps, t.duration) for t in r.trials]
    assert all(t.steps == list(range(1, len(t.curve) + 1)) and t.duration is not None
               for t in back.trials)
    assert back.rounds == json.loads(json.dumps(r.rounds))
    r.to_csv(tmp_path / "r.csv")
    rows = (tmp_path / "r.csv").read_text().strip().splitlines()
    assert rows[0].startswith("number,round,slot,state,value,lr,weight_decay")
    assert len(rows) == 13


@needs_optuna
def test_interrupted_search_resumes_in_the_same_process(tmp_path):
    storage = str(tmp_path / "s.journal")
    log = str(tmp_path / "exec.log")
    base = LogPeak(epochs=2, log_path=log)
    state = {"n": 0}

    def objective(params, trial):
        state["n"] += 1
        if state["n"] == 4:
            raise KeyboardInterrupt
        return base(params, trial)
    with pytest.raises(KeyboardInterrupt):
        random_search(objective, BOOK_SPACE, 8, seed=0, storage=storage, study_name="s",
                      pruner=None)
    res = random_search(objective, BOOK_SPACE, 8, seed=0, storage=storage, study_name="s",
                        pruner=None)
    assert [t.slot for t in res.trials] == list(range(8))
    assert all(t.state == "complete" for t in res.trials)
    starts, ends = _execs(log)
    assert all(ends[s] == 1 for s in range(8))        # every trial finished exactly once
    # a study set up with other settings is not silently mixed in
    with pytest.raises(ValueError, match="n_trials"):
        random_search(objective, BOOK_SPACE, 9, seed=0, storage=storage, study_name="s")
    with pytest.raises(ValueError, match="seed"):
        random_search(objective, BOOK_SPACE, 8, seed=1, storage=storage, study_name="s")


@pytest.mark.e2e
@needs_optuna
def test_trials_of_silent_or_dead_workers_elsewhere_are_rerun(tmp_path):
    import optuna
    from fastnn.search._optuna_store import OptunaStore
    from fastnn.search._slots import A_DISCARD, A_OWNER
    from fastnn.search._storage import storage_spec
    from fastnn.search._space import space_to_spec
    storage = storage_spec(str(tmp_path / "s.journal"))
    config = {"n_trials": 6, "seed": 0, "sampler": "random", "space": space_to_spec(BOOK_SPACE),
              "round": 1, "tpe_startup": 0}
    store = OptunaStore(storage, "silent")
    store.setup(config, BOOK_SPACE)
    # slot 0: claimed by a worker on another machine that then went silent (no heartbeat);
    # slot 1: claimed by a worker that died before writing who it is
    st = store.storage
    for number, owner in ((0, {"host": "elsewhere", "pid": 1, "worker": "elsewhere:1"}),
                          (1, None)):
        tid = st.get_trial_id_from_study_id_trial_number(store.study_id, number)
        assert st.set_trial_state_values(tid, optuna.trial.TrialState.RUNNING)
        if owner:
            st.set_trial_user_attr(tid, A_OWNER, owner)
    # slot 2: failed as stale by a worker that died before requeueing it
    tid = st.get_trial_id_from_study_id_trial_number(store.study_id, 2)
    assert st.set_trial_state_values(tid, optuna.trial.TrialState.RUNNING)
    st.set_trial_user_attr(tid, A_DISCARD, "stale")
    st.set_trial_state_values(tid, optuna.trial.TrialState.FAIL)
    log = str(tmp_path / "exec.log")
    t0 = time.monotonic()
    res = random_search(LogPeak(epochs=2, log_path=log), BOOK_SPACE, 6, seed=0,
                        storage=str(tmp_path / "s.journal"), study_name="silent", pruner=None,
                        heartbeat_interval=0.2, grace_period=1.0)
    assert time.monotonic() - t0 >= 1.0          # they were given the grace period
    assert sorted(t.slot for t in res.trials) == list(range(6))
    assert sorted(res.info["discarded"]) == [(0, "stale"), (1, "stale"), (2, "stale")]
    starts, ends = _execs(log)
    assert all(starts[s] == 1 and ends[s] == 1 for s in range(6))
    with pytest.raises(ValueError, match="grace_period"):
        random_search(LogPeak(), BOOK_SPACE, 2, heartbeat_interval=5.0, grace_period=6.0)


# -- without Optuna -----------------------------------------------------------------------------
_NO_OPTUNA = textwrap.dedent("""
    import json, sys
    if sys.argv[1] == "block":
        sys.modules["optuna"] = None
    from fastnn.search import random_search, coarse_to_fine, loguniform, optuna_available
    from fastnn.search.synthetic import LogPeak
    space = {"lr": loguniform(1e-6, 1e-2), "weight_decay": loguniform(1e-8, 1e-4)}


    def main():
        out = {"optuna": optuna_available()}
        for pruner in ("median", "halving", None):
            r = random_search(LogPeak(epochs=8), space, 30, seed=3, pruner=pruner)
            out[str(pruner)] = [[t.state, t.value, t.params, t.curve] for t in r.trials]
        c = coarse_to_fine(LogPeak(epochs=4), space, 30, 2, seed=3)
        out["c2f"] = [[t.round, t.state, t.value, t.params] for t in c.trials]
        errors = []
        for kw in ({"sampler": "tpe"}, {"workers": 2}, {"storage": "x.journal"}):
            try:
                random_search(LogPeak(), space, 3, seed=0, **kw)
            except ImportError as exc:
                errors.append(str(exc))
        out["errors"] = errors
        print(json.dumps(out))

    if __name__ == "__main__":
        main()
""")


@pytest.mark.e2e
@needs_optuna
def test_without_optuna_the_single_process_search_is_the_same(tmp_path):
    script = tmp_path / "no_optuna.py"
    script.write_text(_NO_OPTUNA)
    runs = {}
    for mode in ("block", "optuna"):
        p = subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True,
                           env=_env(), cwd=str(tmp_path), timeout=120)
        assert p.returncode == 0, p.stderr
        runs[mode] = json.loads(p.stdout)
    blocked, with_optuna = runs["block"], runs["optuna"]
    assert blocked["optuna"] is False and with_optuna["optuna"] is True
    assert sum(t[0] == "pruned" for t in blocked["median"]) > 0
    for key in ("median", "halving", "None", "c2f"):
        assert blocked[key] == with_optuna[key], key
    assert len(blocked["errors"]) == 3
    assert all("pip install" in e for e in blocked["errors"])
    assert with_optuna["errors"] == []


# -- worker processes sharing a study -------------------------------------------------------------
@pytest.mark.e2e
@needs_optuna
def test_two_workers_share_one_file_storage(tmp_path):
    storage = str(tmp_path / "study.journal")
    log = str(tmp_path / "exec.log")
    n = 24
    res = random_search(LogPeak(epochs=3, sleep=0.03, log_path=log), BOOK_SPACE, n, seed=8,
                        workers=2, storage=storage, study_name="two", pruner=None)
    assert sorted(t.slot for t in res.trials) == list(range(n))
    assert all(t.state == "complete" for t in res.trials)
    starts, ends = _execs(log)
    assert set(starts) == set(range(n)) and max(starts.values()) == 1   # none twice, none lost
    assert set(ends) == set(range(n)) and max(ends.values()) == 1
    assert len({t.worker for t in res.trials}) == 2                     # both workers worked
    assert [t.params for t in sorted(res.trials, key=lambda t: t.slot)] == \
        sample_space(BOOK_SPACE, n, 8)                                   # same as 1 worker
    study = _study_trials(storage, "two")
    assert len(study) == n and res.info["discarded"] == []


_KILL_SCRIPT = textwrap.dedent("""
    import sys
    from fastnn.search import random_search, loguniform
    from fastnn.search.synthetic import LogPeak
    if __name__ == "__main__":
        d, workers, sleep = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
        space = {"lr": loguniform(1e-6, 1e-2), "weight_decay": loguniform(1e-8, 1e-4)}
        r = random_search(LogPeak(epochs=4, sleep=sleep, log_path=d + "/exec.log"), space, 20,
                          seed=1, workers=workers, storage=d + "/s.journal", study_name="kill",
                          pruner="median", heartbeat_interval=1.0, grace_period=3.0)
        print("DONE", len(r.trials), r.info["discarded"])
""")


def _wait_for(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.e2e
@needs_optuna
def test_killed_search_resumes_with_no_trial_lost_or_run_twice(tmp_path):
    script = tmp_path / "kill.py"
    script.write_text(_KILL_SCRIPT)
    log = str(tmp_path / "exec.log")
    p = subprocess.Popen([sys.executable, str(script), str(tmp_path), "2", "0.04"], env=_env(),
                         start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # kill the whole search (parent and both workers) while trials are running
        ok = _wait_for(lambda: sum(_execs(log)[1].values()) >= 5 and
                       len(_execs(log)[0]) > sum(_execs(log)[1].values()), 60)
        assert ok, "the search did not get going"
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    starts1, ends1 = _execs(log)
    # What the study had settled when it was killed.  (A trial whose objective had returned
    # -- its "end" is in the log -- but whose result was not yet stored is not settled: it
    # is interrupted like the others and runs again.)
    settled1 = {t.user_attrs["fastnn:slot"] for t in
                _study_trials(str(tmp_path / "s.journal"), "kill")
                if t.state.name in ("COMPLETE", "PRUNED")}
    interrupted = set(starts1) - settled1
    assert interrupted and len(settled1) < 20 and settled1 <= set(ends1)
    q = subprocess.run([sys.executable, str(script), str(tmp_path), "2", "0.04"], env=_env(),
                       capture_output=True, text=True, timeout=120)
    assert q.returncode == 0, q.stderr
    assert q.stdout.startswith("DONE 20")
    starts, ends = _execs(log)
    # the trials settled before the kill were not run again ...
    for s in settled1:
        assert starts[s] == 1 and ends[s] == 1
    # ... the interrupted ones ran again, once
    res_trials = _study_trials(str(tmp_path / "s.journal"), "kill")
    settled = [t for t in res_trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert sorted(t.user_attrs["fastnn:slot"] for t in settled) == list(range(20))
    stale = {t.user_attrs["fastnn:slot"] for t in res_trials
             if t.user_attrs.get("fastnn:discarded") == "stale"}
    # (a worker may also have been killed between claiming a trial and starting it)
    assert interrupted <= stale
    for s in stale:
        assert starts[s] == starts1[s] + 1
    # every slot ended once after the resume, or not at all when it had settled before
    assert sorted(ends) == list(range(20))
    assert all(ends[s] - ends1.get(s, 0) == (0 if s in settled1 else 1) for s in range(20))


@pytest.mark.e2e
@needs_optuna
def test_a_killed_worker_is_replaced_by_the_other(tmp_path):
    script = tmp_path / "kill.py"
    script.write_text(_KILL_SCRIPT)
    log = str(tmp_path / "exec.log")
    p = subprocess.Popen([sys.executable, str(script), str(tmp_path), "2", "0.08"], env=_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def lines():
        return [ln.split() for ln in open(log)] if os.path.exists(log) else []

    def busy_worker():
        seen = lines()
        last = {}
        for ln in seen:
            last[ln[1]] = ln
        busy = [pid for pid, ln in last.items() if ln[-1] != "end"]   # inside a trial
        if sum(1 for ln in seen if ln[-1] == "end") >= 3 and len(last) == 2 and busy:
            return busy[0]
        return None
    try:
        found = []
        assert _wait_for(lambda: found.append(busy_worker()) or found[-1], 60), \
            "the search did not get going"
        victim = found[-1]
        os.kill(int(victim), signal.SIGKILL)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert out.startswith("DONE 20")
    by_victim = collections.Counter()
    for ln in lines():
        if ln[1] == victim:
            by_victim[ln[0]] += 1 if ln[-1] != "end" else -1
    killed = [int(slot) for slot, open_ in by_victim.items() if open_ > 0]
    assert len(killed) == 1                   # it died inside a trial ...
    starts, ends = _execs(log)
    assert starts[killed[0]] == 2             # ... which the surviving worker ran again
    assert sorted(set(starts)) == list(range(20))
    assert sorted(ends) == list(range(20)) and all(n == 1 for n in ends.values())
    assert "killed" in err


# -- the book's objective -------------------------------------------------------------------------
def test_validation_split_and_stratified_folds():
    x = np.arange(100, dtype=float).reshape(50, 2)
    t = np.repeat(np.arange(5), 10)
    (xt, tt), (xv, tv) = validation_split(x, t, 0.2, seed=3)
    assert len(xv) == 10 and len(xt) == 40
    assert not set(xv[:, 0]) & set(xt[:, 0])
    (xt2, _), (xv2, _) = validation_split(x, t, 0.2, seed=3)
    assert np.array_equal(xv, xv2) and np.array_equal(xt, xt2)
    assert not np.array_equal(validation_split(x, t, 0.2, seed=4)[1][0], xv)
    with pytest.raises(ValueError):
        validation_split(x, t, 1.5)
    folds = stratified_kfold(t, 5, seed=1)
    seen = np.concatenate([va for _, va in folds])
    assert sorted(seen) == list(range(50))
    for tr, va in folds:
        assert len(set(tr) & set(va)) == 0 and len(tr) + len(va) == 50
        assert collections.Counter(t[va].tolist()) == {c: 2 for c in range(5)}
    with pytest.raises(ValueError, match="cv"):
        stratified_kfold(t, 1)


def test_mlp_objective_trains_on_a_small_sample():
    from fastnn.datasets import load_dataset
    (x, t), _ = load_dataset("sample")
    (x_tr, t_tr), (x_val, t_val) = validation_split(x[:300], t[:300], 0.2, seed=0)
    obj = mlp_objective(x_tr, t_tr, x_val, t_val, epochs=2, hidden=[30, 30], optimizer="adam",
                        batch_size=50)
    space = {"lr": loguniform(3e-3, 1e-2), "weight_decay": loguniform(1e-8, 1e-4)}
    r = random_search(obj, space, 3, seed=0, pruner=None)
    assert all(t.state == "complete" and len(t.curve) == 2 for t in r.trials)
    assert r.best.value > 0.3          # well above chance (0.1) after 2 epochs
    again = random_search(obj, space, 3, seed=0, pruner=None)
    assert [t.curve for t in again.trials] == [t.curve for t in r.trials]
    cv = mlp_objective(x[:300], t[:300], epochs=1, hidden=[30], cv=3)
    rc = random_search(cv, space, 2, seed=0, pruner=None)
    for trial in rc.trials:
        scores = trial.user_attrs["cv_scores"]
        assert len(scores) == 3
        assert trial.value == pytest.approx(np.mean(scores))
        assert trial.user_attrs["cv_std"] == pytest.approx(np.std(scores))


# -- the command line -------------------------------------------------------------------------
@pytest.mark.e2e
@needs_optuna
def test_cli_search_writes_results_and_resumes(tmp_path, capsys):
    from fastnn.cli import main
    out = tmp_path / "out"
    argv = ["search", "--dataset", "sample", "--train-size", "200", "--epochs", "2",
            "--hidden", "20", "--trials", "8", "--rounds", "2", "--workers", "1",
            "--out", str(out), "--seed", "3"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "== round 1/2" in text and "== round 2/2" in text and "best" in text
    data = json.loads((out / "results.json").read_text())
    assert len(data["trials"]) == 8 and [r["round"] for r in data["rounds"]] == [1, 2]
    assert (out / "results.csv").read_text().count("\n") == 9
    assert (out / "search.png").stat().st_size > 10000
    # the same command again finds the finished study and runs nothing
    assert main(argv) == 0
    again = json.loads((out / "results.json").read_text())
    assert [t["value"] for t in again["trials"]] == [t["value"] for t in data["trials"]]
    assert [t["study_trial"] for t in again["trials"]] == \
        [t["study_trial"] for t in data["trials"]]
    assert main(argv[:-2] + ["--seed", "4", "--study", again["info"]["study_name"]]) == 2
    assert "seed" in capsys.readouterr().err
    assert main(["search", "--lr", "1e-2", "1e-6", "--out", str(tmp_path / "x")]) == 2
    assert "low < high" in capsys.readouterr().err


@needs_optuna
def test_cli_compares_samplers(tmp_path, capsys):
    from fastnn.cli import main
    out = tmp_path / "cmp"
    assert main(["search", "--dataset", "sample", "--train-size", "150", "--epochs", "1",
                 "--hidden", "10", "--trials", "4", "--rounds", "1", "--workers", "1",
                 "--compare-samplers", "--no-plot", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "samplers on the same budget (4 trials" in text
    rows = json.loads((out / "compare.json").read_text())
    assert set(rows) == {"random", "tpe"}
    assert all(len(r["best_so_far"]) == 4 for r in rows.values())
    for s in ("random", "tpe"):
        assert len(json.loads((out / s / "results.json").read_text())["trials"]) == 4


@needs_optuna
def test_parallel_objective_must_pickle():
    with pytest.raises(TypeError, match="picklable"):
        random_search(lambda p, t: 0.0, BOOK_SPACE, 2, workers=2)


@pytest.mark.e2e
@needs_optuna
def test_worker_error_is_raised_with_its_message(tmp_path):
    obj = LogPeak(epochs=1, fail_slots=(2,))
    with pytest.raises(SearchError, match="synthetic failure"):
        random_search(obj, BOOK_SPACE, 6, seed=0, workers=2, pruner=None)
    r = random_search(obj, BOOK_SPACE, 6, seed=0, workers=2, pruner=None,
                      catch=(RuntimeError,))
    assert [t.state for t in r.trials].count("failed") == 1 and r.trials[2].state == "failed"
