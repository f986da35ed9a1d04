"""``fastnn train``: argument checks, defaults in --help, options, files, resume."""
import argparse

import numpy as np
import pytest

from fastnn.cli import build_parser, main


def _subparser(name):
    parser = build_parser()
    return parser._subparsers._group_actions[0].choices[name]


def _error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1]


@pytest.mark.parametrize("argv, option", [
    (["--epochs", "-1"], "--epochs"),
    (["--epochs", "0"], "--epochs"),
    (["--lr", "-1"], "--lr"),
    (["--lr", "nan"], "--lr"),
    (["--batch-size", "0"], "--batch-size"),
    (["--dropout", "1.5"], "--dropout"),
    (["--dropout", "-0.1"], "--dropout"),
    (["--weight-decay", "-1"], "--weight-decay"),
    (["--hidden", "10", "0"], "--hidden"),
    (["--seed", "x"], "--seed"),
])
def test_bad_argument_exits_2_with_one_line_naming_it(argv, option, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train"] + argv)
    assert exc.value.code == 2
    line = _error_line(capsys)
    assert line.startswith("fastnn train: error: argument %s" % option), line


def test_help_shows_the_default_of_every_option():
    sub = _subparser("train")
    fmt = sub._get_formatter()
    for action in sub._actions:
        if not action.option_strings or action.nargs == 0 or action.default is None:
            continue   # flags, --help, options without a default (e.g. --save)
        assert "default" in fmt._get_help_string(action), action.option_strings


def test_dataset_missing_offline_is_one_line_pointing_at_sample(monkeypatch, capsys):
    import fastnn.datasets
    from fastnn.datasets import DatasetNotFoundError

    def offline(name, **kw):
        raise DatasetNotFoundError("MNIST data set not found.\nIt needs these four files ...")
    monkeypatch.setattr(fastnn.datasets, "load_dataset", offline)
    assert main(["train", "--dataset", "mnist", "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("fastnn train: error: argument --dataset:")
    assert "--dataset sample" in err[0] and "Traceback" not in err[0]
