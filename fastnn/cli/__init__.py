"""The ``fastnn`` console command.

Each subcommand lives in its own module of this package, which provides
``add_command(subparsers)``; this file only lists them.  Shared argument
types (range checks) and the help formatter are in ``_args``.
"""
import argparse
import importlib
import sys

_COMMAND_MODULES = [
    "fastnn.cli.train",    # fastnn train, fastnn config
    "fastnn.cli.run",      # fastnn run <experiment> | all
    "fastnn.cli.evaluate", # fastnn evaluate PATH
    "fastnn.cli.search",   # fastnn search
]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fastnn",
        description="Deep Learning from Scratch (its common/ package, chapters 3-8) "
                    "on compiled kernels.")
    from .._version import __version__
    parser.add_argument("--version", action="version", version="fastnn %s" % __version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _COMMAND_MODULES:
        importlib.import_module(name).add_command(sub)
    return parser


def main(argv=None):
    from ._args import UsageError
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if getattr(args, "threads", None) is not None and args.command != "search":
        import fastnn
        fastnn.set_num_threads(args.threads)   # checked by the option's type
    try:
        return args.func(args) or 0
    except UsageError as exc:
        print("fastnn %s: error: %s" % (args.command, exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
