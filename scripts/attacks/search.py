"""search: ``fastnn search`` options and the ``fastnn.search`` API, hostile.

Hostile options must be refused in one line before any work (the objective
is a tripwire); odd but legal ones run for real with tiny budgets and at
most 2 workers.  The API must refuse bad spaces, budgets and splits, and
never report a NaN or failed trial as the best.
"""
import math

import numpy as np

from ._common import Registry, Wrong, error_lines, judge_refusal, one_line, run_fastnn
from .cli import refused
from ._files import Paths

REGISTRY = Registry("search")

BASE = ["search", "--dataset", "sample", "--out", "{new}", "--workers", "1"]
HOSTILE = {
    "--train-size": ["-1", "abc", "1.5"],
    "--val-ratio": ["0", "1", "1.5", "nan", "-0.1"],
    "--cv": ["1", "0", "-2", "abc"],
    "--epochs": ["0", "-1"],
    "--batch-size": ["0", "-3"],
    "--hidden": ["0", "-1", "1000000000000"],
    "--lr": ["1e-2 1e-6", "0 1", "-1 1", "nan 1", "1e-3 inf", "0.1", "1e-3 1e-3", "a b"],
    "--weight-decay": ["0 0", "1e-4 1e-8", "nan nan"],
    "--tune": ["foo", "beta beta foo"],
    "--trials": ["0", "-1", "1e3"],
    "--rounds": ["0", "-2"],
    "--top-k": ["0", "-1"],
    "--margin": ["-1", "nan", "inf"],
    "--warmup": ["-1"], "--prune-rounds": ["-1"], "--startup": ["-1"],
    "--seed": ["-1", "4294967296", "abc"],
    "--split-seed": ["-1", "4294967296"],
    "--workers": ["-1", "1025", "abc"],
    "--top": ["0", "-1"],
    "--live": ["foo"], "--sampler": ["foo"], "--pruner": ["foo"],
    "--dataset": ["foo"], "--optimizer": ["foo"], "--dtype": ["float16"],
    "--out": ["{fifo}", "{devnull}", "{garbage}", "{unwritable}", "{under-file}", ""],
    "--storage": ["sqlite://", "sqlite:///{dir}", "sqlite:///{fifo}", "{fifo}", "{devnull}",
                  "{dir}", "journal:", "mysql://u@127.0.0.1:1/db", "redis://x",
                  "sqlite:///{unwritable}", ""],
    "--study": ["a" * 300],
}
for _opt, _values in HOSTILE.items():
    for _v in _values:
        _argv = BASE + [_opt] + _v.split() if " " in _v else BASE + [_opt, _v]
        if _opt == "--storage" and _v == "sqlite://":
            _argv = _argv[:-4] + ["--workers", "2", _opt, _v]
        if _opt == "--study":           # the default --out is fastnn-search/STUDY
            _argv = ["search", "--dataset", "sample", "--workers", "1", _opt, _v]
        _shown = repr(_v) if len(_v) < 40 else "%d-chars" % len(_v)
        REGISTRY.add("cli%s=%s" % (_opt, _shown), refused(_argv),
                     quick=(_opt, _v) in (("--lr", "0 1"), ("--storage", "{fifo}"),
                                          ("--workers", "1025"), ("--trials", "0")))

for _name, _extra in (
        ("trials-fewer-than-rounds", ["--trials", "2", "--rounds", "3"]),
        ("tune-beta-with-sgd", ["--tune", "beta", "--optimizer", "sgd"]),
        ("beta-without-tune", ["--beta", "0.9", "0.99"]),
        ("beta-1-1", ["--tune", "beta", "--optimizer", "adam", "--beta", "1", "1"]),
        ("beta-reversed", ["--tune", "beta", "--optimizer", "adam", "--beta", "0.99", "0.9"]),
        ("beta-zero", ["--tune", "beta", "--optimizer", "adam", "--beta", "0", "0.5"]),
        ("beta2-with-momentum", ["--tune", "beta", "--optimizer", "momentum",
                                 "--beta2", "0.99", "0.999"]),
        ("hidden-range-0", ["--tune", "hidden", "--hidden-range", "0", "10"]),
        ("hidden-range-reversed", ["--tune", "hidden", "--hidden-range", "10", "5"]),
        ("hidden-range-10**12", ["--tune", "hidden", "--hidden-range", "1", "1000000000000"]),
        ("batch-sizes-3", ["--tune", "batch-size", "--batch-sizes", "3"]),
        ("batch-sizes-0", ["--tune", "batch-size", "--batch-sizes", "0"]),
        ("layers-range-0", ["--tune", "layers", "--layers-range", "0", "2"]),
        ("layers-range-reversed", ["--tune", "layers", "--layers-range", "5", "2"]),
        ("layers-range-101", ["--tune", "layers", "--layers-range", "1", "101"]),
):
    REGISTRY.add("cli/" + _name, refused(BASE + _extra), quick=_name == "beta-reversed")

# odd but legal: parsed, and work may start (the real runs below show what follows)
for _name, _extra in (("workers-1000", ["--workers", "1000"]),
                      ("trials-10**9", ["--trials", "1000000000"]),
                      ("study-with-slash", ["--study", "a/b"]), ("study-empty", ["--study", ""]),
                      ("study-dot-dot", ["--study", "../../escape"]),
                      ("storage-file-url", ["--storage", "file:///x"]),
                      ("storage-javascript", ["--storage", "javascript:alert(1)"]),
                      ("batch-sizes-2**40", ["--tune", "batch-size", "--batch-sizes",
                                             "1099511627776"]),
                      ("compare-samplers-with-sampler", ["--compare-samplers", "--sampler",
                                                         "tpe"]),
                      ("cv-with-val-ratio", ["--cv", "3", "--val-ratio", "0.5"])):
    REGISTRY.add("cli-accepted/" + _name, refused(BASE + _extra, accept=True))


# -- real searches, tiny budgets ------------------------------------------------------

TINY = ["search", "--dataset", "sample", "--train-size", "100", "--epochs", "2", "--hidden",
        "8", "--trials", "2", "--rounds", "1", "--workers", "1", "--no-plot", "--live",
        "lines", "--out", "{new}"]


def real_search(extra, expect_ok=True, twice=False, timeout=150):
    def run(ctx):
        paths = Paths(ctx.tmp)
        argv = [paths.format(a) for a in TINY + extra]
        note = ""
        for _attempt in range(2 if twice else 1):
            rc, out, err = run_fastnn(argv, timeout=timeout, cwd=ctx.tmp)
            lines = error_lines(err)
            if rc == 0 and "Traceback" not in err:
                note = one_line([line for line in out.splitlines() if line.strip()][-1], 140)
                if "nan" in out.lower().split("best", 1)[-1][:80]:
                    raise Wrong("the search reports a NaN best: %s" % note)
                continue
            if rc == 1 and lines and len(lines) == 1 and "Traceback" not in err:
                return "exit 1: %s" % one_line(lines[0])
            judge_refusal(rc, out, err, " ".join(argv[len(TINY) - 1:]), accepted_is_wrong=False)
        return note + (" (run twice: resumed)" if twice else "")
    return run


for _name, _extra, _twice in (
        ("baseline", [], False),
        ("resumed", [], True),
        ("cv-2", ["--cv", "2"], False),
        ("cv-more-folds-than-samples", ["--cv", "1000"], False),
        ("train-size-10**9", ["--train-size", "1000000000"], False),
        ("batch-size-above-train-size", ["--tune", "batch-size", "--batch-sizes", "1024"], False),
        ("lr-1e-300", ["--lr", "1e-300", "1e-299"], False),
        ("lr-huge", ["--lr", "1e30", "1e31"], False),
        ("two-workers-sqlite", ["--workers", "2", "--trials", "3", "--storage",
                                "sqlite:///{new}.db"], False),
        ("compare-samplers", ["--compare-samplers"], False),
        ("postgres-unreachable", ["--storage", "postgresql://u:secret@127.0.0.1:1/db"], False),
        ("top-k-above-trials", ["--rounds", "2", "--trials", "4", "--top-k", "100"], False),
        ("batch-size-2**40", ["--batch-size", "1099511627776"], False),
        ("margin-huge", ["--rounds", "2", "--trials", "4", "--margin", "1e300"], False)):
    REGISTRY.add("real/" + _name, real_search(_extra, twice=_twice), timeout=200,
                 quick=_name == "baseline")


# -- the API -----------------------------------------------------------------------------------

def _space_case(make, args):
    def run(ctx):
        import fastnn.search as s
        dist = getattr(s, make)(*args)
        draws = s.sample_space({"p": dist}, 200, seed=0)
        values = [d["p"] for d in draws]
        if make == "choice":
            if any(v not in list(args[0]) for v in values):
                raise Wrong("choice drew a value outside its options")
            return "ok"
        bad = [v for v in values if not (isinstance(v, (int, float)) and math.isfinite(v))]
        if bad:
            raise Wrong("%s%r drew %r" % (make, args, bad[:3]))
        low, high = min(args), max(args)
        if any(v < low or v > high for v in values):
            raise Wrong("%s%r drew values outside its range: %r" % (make, args,
                                                                    (min(values), max(values))))
        return "drew values in [%g, %g]" % (min(values), max(values))
    return run


for _make, _args in (("loguniform", (0, 1)), ("loguniform", (-1, 1)), ("loguniform", (1, 0.1)),
                     ("loguniform", (float("nan"), 1)), ("loguniform", (1e-3, float("inf"))),
                     ("loguniform", (1e-3, 1e-3)), ("loguniform", (1e-300, 1e300)),
                     ("loguniform", ("0.1", 1)), ("loguniform", (True, 2)),
                     ("uniform", (1, 0)), ("uniform", (float("-inf"), 0)),
                     ("beta", (1, 1)), ("beta", (0, 0.5)), ("beta", (0.9, 0.5)),
                     ("beta", (0.5, 1.0)), ("beta", (0.9, 0.9)), ("beta", (-0.5, 0.5)),
                     ("intloguniform", (0, 10)), ("intloguniform", (10, 5)),
                     ("intloguniform", (1, 10 ** 30)), ("intloguniform", (1.5, 10)),
                     ("intloguniform", (3, 3)),
                     ("choice", ([],)), ("choice", ([1, 1],)), ("choice", (None,)),
                     ("choice", ("abc",)), ("choice", ([float("nan"), 1],))):
    REGISTRY.add("api/%s%r" % (_make, _args), _space_case(_make, _args),
                 quick=_args == (0, 1))


SEEN = []


def _objective(kind):
    def objective(params, trial):
        if kind == "checks-params":
            SEEN.append(params["x"])
            return params["x"]
        value = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf"),
                 "none": None, "string": "0.5", "numpy": np.float32(0.5),
                 "list": [0.5], "bool": True}.get(kind)
        if kind == "raises":
            raise ValueError("objective failed")
        if kind == "mixed-nan":
            return float("nan") if params["x"] > 0.5 else params["x"]
        return value
    return objective


def _search_case(kind, **kwargs):
    def run(ctx):
        from fastnn.search import coarse_to_fine, uniform
        space = {"x": uniform(0.0, 1.0)}
        opts = dict(n_trials=4, rounds=1, seed=0)
        opts.update(kwargs)
        del SEEN[:]
        result = coarse_to_fine(_objective(kind), space, **opts)
        outside = [x for x in SEEN if not (isinstance(x, float) and 0.0 <= x <= 1.0)]
        if outside:
            raise Wrong("trials were given x=%r, outside the space [0, 1]" % outside[:3])
        best = getattr(result, "best", None)
        value = getattr(best, "value", None)
        if isinstance(value, float) and math.isnan(value):
            raise Wrong("the best trial's value is NaN")
        if kind == "mixed-nan" and value is not None and value > 0.5:
            raise Wrong("best value %r comes from no finite trial" % value)
        return "best %r" % (value,)
    return run


for _kind in ("nan", "inf", "-inf", "none", "string", "numpy", "list", "bool", "raises",
              "mixed-nan"):
    REGISTRY.add("api/objective-returns-%s" % _kind, _search_case(_kind),
                 quick=_kind in ("nan", "mixed-nan"), timeout=60)
for _name, _kw in (("nan", {"margin": float("nan")}), ("negative", {"margin": -1.0}),
                   ("inf", {"margin": float("inf")}), ("huge", {"margin": 1e300}),
                   ("top-k-1", {"top_k": 1, "margin": 0.0})):
    REGISTRY.add("api/coarse_to_fine-margin-%s" % _name,
                 _search_case("checks-params", **dict(_kw, n_trials=6, rounds=2)),
                 quick=_name == "nan", timeout=60)
for _name, _kw in (("trials-0", {"n_trials": 0}), ("trials--1", {"n_trials": -1}),
                   ("trials-bool", {"n_trials": True}), ("rounds-0", {"rounds": 0}),
                   ("rounds-above-trials", {"n_trials": 2, "rounds": 5}),
                   ("top-k-0", {"top_k": 0}), ("workers--1", {"workers": -1}),
                   ("workers-0", {"workers": 0, "n_trials": 2}),
                   ("seed-negative", {"seed": -1}), ("seed-string", {"seed": "x"}),
                   ("sampler-foo", {"sampler": "foo"}), ("pruner-foo", {"pruner": "foo"}),
                   ("storage-memory-two-workers", {"storage": "sqlite://", "workers": 2}),
                   ("trial-counts-list", {"n_trials": [2, 0]})):
    REGISTRY.add("api/coarse_to_fine-%s" % _name, _search_case("numpy", **_kw), timeout=90)


def _split_case(fn, **kw):
    def run(ctx):
        from fastnn.search import stratified_kfold, validation_split
        r = np.random.default_rng(0)
        x, t = r.random((50, 4)), r.integers(0, 3, 50)
        if fn == "validation_split":
            (xa, ta), (xb, tb) = validation_split(x, t, **kw)
            if len(xa) + len(xb) != 50 or len(xa) == 0 or len(xb) == 0:
                raise Wrong("validation_split(%s) gave %d + %d samples" % (kw, len(xa), len(xb)))
            return "%d + %d" % (len(xa), len(xb))
        folds = list(stratified_kfold(t, **kw))
        return "%d folds" % len(folds)
    return run


for _fn, _kw in (("validation_split", {"val_ratio": 0}), ("validation_split", {"val_ratio": 1}),
                 ("validation_split", {"val_ratio": float("nan")}),
                 ("validation_split", {"val_ratio": 2}), ("validation_split", {"val_ratio": 0.001}),
                 ("validation_split", {"val_ratio": 0.999}),
                 ("stratified_kfold", {"k": 1}), ("stratified_kfold", {"k": 0}),
                 ("stratified_kfold", {"k": 10 ** 6}), ("stratified_kfold", {"k": 2.5}),
                 ("stratified_kfold", {"k": 51})):
    REGISTRY.add("api/%s%r" % (_fn, _kw), _split_case(_fn, **_kw))
