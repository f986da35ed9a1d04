"""Hyperparameter search, the book's section 6.5 made fast and parallel.

Split off validation data, draw hyperparameters at random on log scales,
train each for a few epochs, keep the ranges where the best trials lie and
search again::

    from fastnn.search import loguniform, coarse_to_fine, mlp_objective, validation_split

    (x, t), _ = load_dataset("fashion-mnist")
    (x_tr, t_tr), (x_val, t_val) = validation_split(x[:500], t[:500], 0.2, seed=0)
    space = {"lr": loguniform(1e-6, 1e-2), "weight_decay": loguniform(1e-8, 1e-4)}
    result = coarse_to_fine(mlp_objective(x_tr, t_tr, x_val, t_val, epochs=50), space,
                            n_trials=100, rounds=3, workers=2, seed=0)
    print(result.summary())

Trials run in worker processes (one BLAS thread each), hopeless ones are
stopped early (median rule or successive halving), and the search is an
Optuna study: in a journal file or SQLite it survives a crash and resumes;
in PostgreSQL or MySQL workers on many machines share it.  Optuna is an
optional extra (``pip install 'fastnn-scratch[search]'``): without it, the
single-process random search (and coarse-to-fine) still works.
"""
from ._space import (Distribution, loguniform, uniform, choice, intloguniform, beta,
                     sample_space, space_from_spec, space_to_spec)
from ._trial import Trial, TrialPruned, optuna_or_none
from ._result import SearchResult, TrialRecord
from ._engine import SearchError, random_search, load_result, storage_spec
from ._coarse import coarse_to_fine, compare_samplers, narrow_space, split_budget
from .objectives import (validation_split, stratified_kfold, mlp_objective, MLPObjective,
                         DatasetMLPObjective)

__all__ = ["loguniform", "uniform", "choice", "intloguniform", "beta", "Distribution",
           "random_search", "coarse_to_fine", "compare_samplers", "narrow_space",
           "split_budget", "SearchResult", "TrialRecord", "Trial", "TrialPruned",
           "SearchError", "load_result", "storage_spec", "sample_space", "space_to_spec",
           "space_from_spec", "validation_split", "stratified_kfold", "mlp_objective",
           "MLPObjective", "DatasetMLPObjective", "optuna_available"]


def optuna_available():
    """Whether Optuna can be imported (parallel workers, storages and TPE need it)."""
    return optuna_or_none() is not None
