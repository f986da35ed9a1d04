"""``fastnn run <experiment>``: the chapter's experiments, with figures and a report."""
from .._text import plural
from ._args import (HelpFormatter, UsageError, add_threads_option, check_output_dir,
                    nonnegative_int, path, seed)


def add_command(sub):
    from ..experiments import names
    choices = names() + ["all"]
    p = sub.add_parser(
        "run", formatter_class=HelpFormatter,
        help="run one of the book's experiments (or 'all') and save its figures",
        description="Run an experiment of chapter 6 or 7 (or the course's babysitting): "
                    "figures (PNG) and numbers (JSON) go to "
                    "OUT/<name>/, one line per result to stdout.  'all' runs every "
                    "experiment, times each with both backends and writes OUT/report.html.",
        epilog="experiments: " + ", ".join(choices))
    p.add_argument("name", choices=choices, metavar="NAME",
                   help="one of: " + ", ".join(choices))
    p.add_argument("--dataset", default="sample", choices=["sample", "fashion-mnist", "mnist"],
                   help="'sample' (default) is bundled with the package: no download")
    p.add_argument("--backend", default="fast", choices=["fast", "reference"],
                   help="compiled kernels or the book's NumPy code")
    p.add_argument("--seed", type=seed, default=0, help="seed of np.random")
    p.add_argument("--quick", action="store_true",
                   help="reduced settings: seconds instead of minutes (for CI)")
    p.add_argument("--out", default="fastnn-results", metavar="DIR", type=path,
                   help="output directory (default: fastnn-results)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                   help="change one of the experiment's settings, e.g. --set iterations=500 "
                        "(repeatable; not with 'all')")
    p.add_argument("--no-compare", action="store_true",
                   help="with 'all': do not time the other backend")
    p.add_argument("--blas-threads", type=nonnegative_int, default=1, metavar="N",
                   help="BLAS threads (default 1: at these matrix sizes more threads gain "
                        "little and, on a busy machine, lose much; 0 leaves BLAS alone)")
    add_threads_option(p)
    p.set_defaults(func=run_command)


def run_command(args):
    import contextlib
    from ..experiments import get, run_all, run_experiment
    from ..experiments._common import parse_setting
    from ..experiments._settings import resolve
    from ._outputs import check_folder

    if args.settings and args.name == "all":
        raise UsageError("argument --set: applies to one experiment, not to 'all'")
    try:
        overrides = dict(parse_setting(s) for s in args.settings)
        if args.name != "all":
            resolve(get(args.name), args.quick, overrides)
    except ValueError as exc:
        raise UsageError("argument --set: %s" % exc) from None
    check_output_dir("--out", args.out)
    check_folder("--out", args.out)
    limit = contextlib.nullcontext()
    if args.blas_threads:
        from ..experiments._common import limit_blas_threads
        limit = limit_blas_threads(args.blas_threads)
    with limit:
        if args.name == "all":
            run_all(dataset=args.dataset, backend=args.backend, seed=args.seed,
                    quick=args.quick, out=args.out, compare=not args.no_compare)
        else:
            try:
                res = run_experiment(args.name, dataset=args.dataset, backend=args.backend,
                                     seed=args.seed, quick=args.quick, out=args.out,
                                     overrides=overrides)
            except ValueError as exc:
                raise UsageError(str(exc).splitlines()[0]) from None
            except MemoryError as exc:
                if not overrides:
                    raise
                raise UsageError("argument --set: not enough memory for these settings (%s)"
                                 % (str(exc).splitlines()[0] if str(exc) else "MemoryError")) \
                    from None
            print("%s: done in %.2fs (%.2fs computing); %s, numbers in %s"
                  % (args.name, res.wall_time, res.compute_time,
                     plural(len(res.figures), "figure"), res.json_path))
            if res.figures_skipped:
                print("no figures: %s" % res.figures_skipped)
    return 0
