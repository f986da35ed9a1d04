"""``fastnn search``: the book's hyperparameter search (section 6.5), coarse to fine, in parallel.

Defaults reproduce the book's ``hyperparameter_optimization.py``: the first
500 training images, 20% of them (shuffled) for validation,
``MultiLayerNet(784, [100]*6, 10)`` trained with SGD for 50 epochs of
mini-batches of 100, lr ~ 10**U(-6, -2), weight decay ~ 10**U(-8, -4),
100 trials scored by their last validation accuracy -- here split over
coarse-to-fine rounds, run by one worker process per core, with hopeless
trials stopped early.  The search is an Optuna study (a journal file in the
output folder unless ``--storage`` says otherwise): run the same command
again to resume it, or on another machine with a shared ``--storage`` URL
to add workers.
"""
from .._text import plural
from ._args import (HelpFormatter, check_network_fits, fold_count, int_range, nonnegative_float,
                    nonnegative_int, open_fraction, path, positive_float, positive_int,
                    power_of_two, seed, thread_count)
from ._outputs import check_file, check_folder
import json
import os
import sys
import time

_DATASETS = ["fashion-mnist", "mnist", "sample"]

# --tune NAME: the option giving its range, and its default range.  The course's order of
# importance: lr first (always searched); then beta, hidden units, mini-batch size; then layers.
_TUNABLE = {"beta": ("--beta", [0.9, 0.999]), "hidden": ("--hidden-range", [16, 512]),
            "batch-size": ("--batch-sizes", [32, 64, 128, 256]),
            "layers": ("--layers-range", [2, 6])}
_MAX_LAYERS = 100       # hidden layers a trial may have (--layers-range)
_MAX_WORKERS = 1024     # worker processes on one machine (--workers)
_BETA2_RANGE = [0.99, 0.9999]   # Adam's beta2 (default 0.999) with --tune beta
# the parameter(s) each optimizer calls beta (an exponentially weighted average's coefficient)
_BETA_PARAMS = {"momentum": ["momentum"], "nesterov": ["momentum"], "rmsprop": ["decay_rate"],
                "adam": ["beta1", "beta2"]}


def add_command(sub):
    p = sub.add_parser(
        "search", formatter_class=HelpFormatter,
        help="hyperparameter search: log-scale random search, coarse to fine, "
             "parallel workers, Optuna storage",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    g = p.add_argument_group("data and model (the book's defaults)")
    g.add_argument("--dataset", default="fashion-mnist", choices=_DATASETS)
    g.add_argument("--train-size", type=nonnegative_int, default=500,
                   help="use the first N training images (default 500, as the book; 0: all)")
    g.add_argument("--val-ratio", type=open_fraction, default=0.2,
                   help="validation fraction after a seeded shuffle (default 0.2)")
    g.add_argument("--split-seed", type=seed, default=0,
                   help="seed of the validation split / folds")
    g.add_argument("--cv", type=fold_count, default=None, metavar="K",
                   help="stratified K-fold cross-validation instead of one validation split")
    g.add_argument("--epochs", type=positive_int, default=50)
    g.add_argument("--batch-size", type=positive_int, default=100)
    g.add_argument("--hidden", type=positive_int, nargs="+", default=[100] * 6,
                   help="hidden layer sizes (default: 100 x 6)")
    g.add_argument("--optimizer", default="sgd",
                   choices=["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"])
    g.add_argument("--backend", default="fast", choices=["fast", "reference"])
    g.add_argument("--dtype", default="float64", choices=["float64", "float32"])

    g = p.add_argument_group("search space and budget")
    g.add_argument("--lr", type=positive_float, nargs=2, default=[1e-6, 1e-2],
                   metavar=("LOW", "HIGH"),
                   help="learning-rate range, log scale (default 1e-6 1e-2)")
    g.add_argument("--weight-decay", type=positive_float, nargs=2, default=[1e-8, 1e-4],
                   metavar=("LOW", "HIGH"), help="weight-decay range, log scale "
                                                 "(default 1e-8 1e-4)")
    g.add_argument("--tune", nargs="+", choices=list(_TUNABLE), default=[], metavar="NAME",
                   help="also search these (off by default): beta (momentum, Adam's beta1 and "
                        "beta2, RMSprop's decay rate; 1-beta on a log scale), hidden (units per "
                        "hidden layer, integer log scale), batch-size (powers of two), layers "
                        "(number of hidden layers)")
    g.add_argument("--beta", type=open_fraction, nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="range of beta (Adam: beta1) with --tune beta, 1-beta log-uniform "
                        "(default 0.9 0.999)")
    g.add_argument("--beta2", type=open_fraction, nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="range of Adam's beta2 with --tune beta (default 0.99 0.9999)")
    g.add_argument("--hidden-range", type=positive_int, nargs=2, default=None,
                   metavar=("LOW", "HIGH"), help="units per hidden layer with --tune hidden, "
                                                 "integer log scale (default 16 512)")
    g.add_argument("--batch-sizes", type=power_of_two, nargs="+", default=None, metavar="N",
                   help="mini-batch sizes with --tune batch-size (default 32 64 128 256)")
    g.add_argument("--layers-range", type=int_range(1, _MAX_LAYERS), nargs=2, default=None,
                   metavar=("LOW", "HIGH"), help="hidden layers with --tune layers "
                                                 "(default 2 6)")
    g.add_argument("--trials", type=positive_int, default=100,
                   help="trials in all rounds together")
    g.add_argument("--rounds", type=positive_int, default=3,
                   help="coarse-to-fine rounds (1: plain random search); default 3")
    g.add_argument("--top-k", type=positive_int, default=5,
                   help="a round's ranges span the previous round's best K trials (default 5)")
    g.add_argument("--margin", type=nonnegative_float, default=0.25,
                   help="widen the narrowed ranges by this fraction of their span (default 0.25)")
    g.add_argument("--sampler", default="random", choices=["random", "tpe"],
                   help="random (the book's) or Optuna's TPE (Bayesian optimization)")
    g.add_argument("--compare-samplers", action="store_true",
                   help="run the search with each sampler on the same budget and compare")
    g.add_argument("--pruner", default="median", choices=["median", "halving", "none"],
                   help="stop hopeless trials early: median rule (default), successive halving, "
                        "or none")
    g.add_argument("--warmup", type=nonnegative_int, default=None,
                   help="epochs before the median rule may stop a trial (default: a fifth of "
                        "--epochs; validation accuracy of the first epochs is mostly noise)")
    g.add_argument("--prune-rounds", type=nonnegative_int, default=1, metavar="R",
                   help="prune only in the first R rounds (default 1: the coarse round, where "
                        "the hopeless trials are; in narrowed rounds the median rule cuts good "
                        "trials on noise); 0: all rounds")
    g.add_argument("--startup", type=nonnegative_int, default=5,
                   help="completed trials before the median rule starts (default 5)")
    g.add_argument("--seed", type=seed, default=0)

    g = p.add_argument_group("workers and storage")
    g.add_argument("--workers", type=int_range(0, _MAX_WORKERS), default=0,
                   help="worker processes on this machine (default 0: one per core)")
    g.add_argument("--threads", type=thread_count, default=1,
                   help="threads per worker, for fastnn's kernels and GEMMs and any BLAS "
                        "(default 1)")
    g.add_argument("--storage", default=None,
                   help="Optuna storage: a journal file path (default OUT/study.journal), "
                        "sqlite:///PATH, postgresql+psycopg2://USER@HOST/DB, mysql://...")
    g.add_argument("--study", default=None,
                   help="study name (default from dataset, sampler, budget and seed); the same "
                        "name and storage resume a search or join it from another machine")

    g = p.add_argument_group("output")
    g.add_argument("--out", default=None, type=path,
                   help="folder for results.json, results.csv, search.png "
                        "(default fastnn-search/STUDY)")
    g.add_argument("--top", type=positive_int, default=5, help="rows of the live table (default 5)")
    g.add_argument("--no-plot", action="store_true", help="do not draw the figure")
    g.add_argument("--live", choices=["auto", "table", "lines"], default="auto",
                   help="redraw the table in place (terminal) or print one line per trial")
    p.set_defaults(func=run_search)


def _fail(msg):
    print("fastnn search: error: %s" % msg, file=sys.stderr)
    return 2


def build_space(args):
    """The search space of ``fastnn search ARGS``: lr and weight decay, and what ``--tune``
    names.  Raises ValueError naming the option at fault."""
    from ..search import beta, choice, intloguniform, loguniform
    space = {"lr": loguniform(*args.lr), "weight_decay": loguniform(*args.weight_decay)}
    tune = list(dict.fromkeys(args.tune))
    for name, (option, _default) in _TUNABLE.items():
        given = getattr(args, option[2:].replace("-", "_"))
        if given is not None and name not in tune:
            raise ValueError("%s is only used with --tune %s" % (option, name))
    if args.beta2 is not None and args.optimizer != "adam":
        raise ValueError("--beta2 is Adam's: use it with --optimizer adam")
    if "beta" in tune:
        params = _BETA_PARAMS.get(args.optimizer)
        if params is None:
            raise ValueError("--tune beta needs an optimizer with a beta: --optimizer momentum, "
                             "nesterov, rmsprop or adam (not %s)" % args.optimizer)
        ranges = [args.beta or _TUNABLE["beta"][1], args.beta2 or _BETA2_RANGE]
        for param, option, (low, high) in zip(params, ("--beta", "--beta2"), ranges):
            try:
                space[param] = beta(low, high)
            except ValueError as exc:
                raise ValueError("%s: %s" % (option, exc)) from None
    for name, param, make in (("hidden", "hidden", intloguniform),
                              ("batch-size", "batch_size", choice),
                              ("layers", "layers", None)):
        if name not in tune:
            continue
        option, default = _TUNABLE[name]
        value = getattr(args, option[2:].replace("-", "_")) or default
        try:
            if make is None:   # a handful of layer counts, each as likely
                if not value[0] < value[1]:
                    raise ValueError("needs LOW < HIGH, got %d %d" % tuple(value))
                space[param] = choice(list(range(value[0], value[1] + 1)))
            else:
                space[param] = make(value) if make is choice else make(*value)
        except ValueError as exc:
            raise ValueError("%s: %s" % (option, exc)) from None
    return space


def _largest_network(args):
    """(option, hidden sizes) of the largest network a trial may build, and the option
    that sets its size."""
    option, hidden = "--hidden", list(args.hidden)
    if "hidden" in args.tune:
        option = "--hidden-range"
        hidden = [(args.hidden_range or _TUNABLE["hidden"][1])[1]] * len(hidden)
    if "layers" in args.tune:
        option = "--layers-range" if option == "--hidden" else option
        hidden = [max(hidden)] * (args.layers_range or _TUNABLE["layers"][1])[1]
    return option, hidden


def _describe(name, dist):
    if hasattr(dist, "options"):
        return "%s in {%s}" % (name, ", ".join(map(str, dist.options)))
    scale = {"beta": ", 1-beta log", "loguniform": ", log", "intloguniform": ", int log"}
    return "%s in [%.5g, %.5g%s]" % (name, dist.low, dist.high, scale.get(dist.kind, ""))


def run_search(args):
    import numpy as np

    from ..search import DatasetMLPObjective, SearchError, optuna_available
    from ..search._coarse import coarse_to_fine
    from ..search._storage import check_storage, display_storage, file_in_the_way, storage_spec
    from ..search._workers import _default_workers
    from ..search._report import LiveTable, plot_comparison, plot_search

    try:
        space = build_space(args)
    except (TypeError, ValueError) as exc:
        return _fail(str(exc))
    check_network_fits(*_largest_network(args), itemsize=np.dtype(args.dtype).itemsize)
    if args.trials < args.rounds:
        return _fail("--trials %d cannot be split over --rounds %d" % (args.trials, args.rounds))
    workers = _default_workers() if args.workers <= 0 else args.workers
    if args.warmup is None:
        args.warmup = args.epochs // 5
    samplers = ["random", "tpe"] if args.compare_samplers else [args.sampler]
    if not optuna_available():
        if workers > 1 or "tpe" in samplers or args.storage:
            print("fastnn search: Optuna is not installed (pip install 'fastnn-scratch[search]'):"
                  " one worker, random sampler, no storage", file=sys.stderr)
            if "tpe" in samplers or args.storage:
                return _fail("--sampler tpe, --compare-samplers and --storage need Optuna")
            workers = 1
    blocked = None if args.out is None else file_in_the_way(args.out)
    if blocked is not None:
        return _fail("--out %s: %s is a file, not a folder" % (args.out, blocked))
    if args.storage is not None:
        try:
            check_storage(storage_spec(args.storage), workers)
        except (ValueError, ImportError) as exc:
            return _fail("--storage: %s" % exc)
    base = args.study or "%s-%s-%dx%d-e%d-s%d%s" % (
        args.dataset, "%s", args.trials, args.rounds, args.epochs, args.seed,
        "".join("-" + n for n in _TUNABLE if n in args.tune))
    if "%s" not in base:
        base = base + ("-%s" if len(samplers) > 1 else "")
    out_root = args.out or os.path.join("fastnn-search", base.replace("-%s", "").replace("%s", "")
                                        .strip("-") or "search")
    check_folder("--out", out_root)
    spec = storage_spec(args.storage)      # a journal or SQLite file is an output too
    for prefix in ("journal:", "sqlite:///"):
        if isinstance(spec, str) and spec.startswith(prefix) and ":memory:" not in spec:
            check_file("--storage", spec[len(prefix):])

    objective = DatasetMLPObjective(
        args.dataset, train_size=args.train_size or None, val_ratio=args.val_ratio,
        split_seed=args.split_seed, epochs=args.epochs, hidden=args.hidden,
        batch_size=args.batch_size, optimizer=args.optimizer, backend=args.backend,
        dtype=np.dtype(args.dtype), cv=args.cv, cv_seed=args.split_seed)
    try:
        inner = objective.load()    # fail early (missing data set, bad cv) in this process
    except Exception as exc:  # noqa: BLE001 - reported to the user
        return _fail("cannot prepare the %s data: %s" % (args.dataset, exc))
    n_train = len(inner.x_train)
    n_val = 0 if inner.x_val is None else len(inner.x_val)

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print("fastnn search: %s, %d train / %s, MultiLayerNet(%d, %s, 10) %s lr, %s x "
          "batch %d, backend %s %s" % (
              args.dataset, n_train, "%d-fold CV" % args.cv if args.cv else "%d validation" % n_val,
              inner.x_train.shape[1], args.hidden, args.optimizer, plural(args.epochs, "epoch"),
              args.batch_size, args.backend, args.dtype))
    print("  space: %s; %s in %s, top-%d narrowing; pruner %s%s; sampler %s"
          % ("; ".join(_describe(n, d) for n, d in space.items()), plural(args.trials, "trial"),
             plural(args.rounds, "round"), args.top_k, args.pruner,
             (" (after %s)" % plural(args.warmup, "warm-up epoch") if args.pruner == "median"
              else "")
             + ((" in round 1" if args.prune_rounds == 1 else " in rounds 1-%d"
                 % args.prune_rounds) if args.prune_rounds and args.pruner != "none" else ""),
             ",".join(samplers)))
    print("  %d worker(s) x %d thread(s) on %d core(s), load average %.2f %.2f %.2f"
          % (workers, args.threads, _default_workers(), *load))

    live_mode = {"auto": None, "table": True, "lines": False}[args.live]
    results = {}
    start_all = time.perf_counter()
    for sampler in samplers:
        study = base % sampler if "%s" in base else base
        out = out_root if len(samplers) == 1 else os.path.join(out_root, sampler)
        storage = args.storage or (os.path.join(out, "study.journal") if optuna_available()
                                   else None)
        label = "[%s] " % sampler if len(samplers) > 1 else ""
        table = LiveTable(k=args.top, live=live_mode, label=label)
        print("%sstudy %r in %s" % (label, study, display_storage(storage)
                                      or "memory (no Optuna: no resume)"))

        def on_round_start(r, offset, count, space_r, table=table, label=label):
            print("%s== round %d/%d: %d trials, %s" % (
                label, r, args.rounds, count, "; ".join(
                    _describe(n, d) for n, d in space_r.items())))
            table.start_round(r, offset, count)

        def on_round(info, res, label=label):
            c = info["counts"]
            print("%s== round %d done in %.1fs: %d complete, %d pruned, %d failed; best %s"
                  % (label, info["round"], info["wall_time_s"] or 0.0, c["complete"],
                     c["pruned"], c["failed"],
                     "-" if info["best_value"] is None else "%.4f" % info["best_value"]))

        start = time.perf_counter()
        try:
            res = coarse_to_fine(
                objective, space, args.trials, args.rounds, top_k=args.top_k,
                margin=args.margin, seed=args.seed, study_name=study, storage=storage,
                workers=workers, threads=args.threads, sampler=sampler,
                pruner=None if args.pruner == "none" else args.pruner,
                prune_rounds=args.prune_rounds or None,
                warmup_steps=args.warmup, startup_trials=args.startup, catch=(Exception,),
                progress=table, on_round=on_round, on_round_start=on_round_start)
        except (ValueError, ImportError) as exc:
            return _fail(str(exc))
        except SearchError as exc:   # a storage that cannot be opened, a worker that died
            print("fastnn search: error: %s" % exc, file=sys.stderr)
            return 1
        wall = time.perf_counter() - start
        res.info.update(wall_time_s=wall, dataset=args.dataset, train=n_train, val=n_val,
                        cv=args.cv, epochs=args.epochs, hidden=args.hidden,
                        optimizer=args.optimizer, backend=args.backend, dtype=args.dtype,
                        storage=display_storage(storage), workers=workers, threads=args.threads,
                        load_average_start=list(load))
        results[sampler] = res
        os.makedirs(out, exist_ok=True)
        res.to_json(os.path.join(out, "results.json"))
        res.to_csv(os.path.join(out, "results.csv"))
        print("%s%s" % (label, res.summary().replace("\n", "\n" + label)))
        print(res.table(args.top))
        print("%swall time %.1fs; results in %s/results.json, results.csv"
              % (label, wall, out), end="")
        if not args.no_plot:
            try:
                plot_search(res, os.path.join(out, "search.png"), top_k=args.top_k,
                            title="%s: %s, %d trials, %d rounds, best %s" % (
                                study, sampler, args.trials, args.rounds,
                                "-" if res.best_value is None else "%.4f" % res.best_value))
                print(", search.png", end="")
            except ImportError:
                print(" (no figure: matplotlib is not installed)", end="")
        print()
        if res.trials and all(t.state == "failed" for t in res.trials):
            lines = [ln for ln in (res.trials[0].error or "").splitlines() if ln.strip()]
            print("fastnn search: error: %sall %d trials failed; the first one with: %s"
                  % (label, len(res.trials), lines[-1].strip() if lines else "no message"),
                  file=sys.stderr)
            return 1

    if len(results) > 1:
        rows = {}
        print("\nsamplers on the same budget (%d trials, %d rounds):" % (args.trials, args.rounds))
        print("%-8s %8s %9s %9s %8s %9s" % ("sampler", "best", "complete", "pruned", "epochs",
                                             "wall s"))
        for s, r in results.items():
            rows[s] = {"best": r.best_value, "best_params": r.best_params,
                       "complete": r.count("complete"), "pruned": r.count("pruned"),
                       "epochs": r.epochs_trained(), "wall_time_s": r.info["wall_time_s"],
                       "best_so_far": r.best_so_far()}
            print("%-8s %8s %9d %9d %8d %9.1f" % (
                s, "-" if r.best_value is None else "%.4f" % r.best_value, r.count("complete"),
                r.count("pruned"), r.epochs_trained(), r.info["wall_time_s"]))
        from .._fileio import atomic_write
        with atomic_write(os.path.join(out_root, "compare.json"), "w") as fh:
            json.dump(rows, fh, indent=1)
        if not args.no_plot:
            try:
                plot_comparison(results, os.path.join(out_root, "compare.png"))
            except ImportError:
                pass
        print("comparison in %s/compare.json%s" % (out_root, "" if args.no_plot
                                                    else ", compare.png"))
    print("total wall time %.1fs" % (time.perf_counter() - start_all))
    return 0
