"""What every part of a search shares: slots, their seeds, the attributes fastnn stores.

A search of ``n_trials`` trials is ``n_trials`` slots (see ``_engine``).  Each
slot's parameters (random sampler) and seed are drawn up front from the
search's seed, so a slot trains the same network whoever runs it and however
often it is requeued.  The ``A_*`` names are trial attributes and the
``S_*`` names study attributes that fastnn keeps in an Optuna study.
"""
import numpy as np

from ._space import sample_space

A_SLOT = "fastnn:slot"
A_SEED = "fastnn:seed"
A_ROUND = "fastnn:round"
A_OWNER = "fastnn:owner"         # {"host", "pid", "pstart", "worker"}: who runs the trial
A_BEAT = "fastnn:beat"
A_DISCARD = "fastnn:discarded"     # 'stale' | 'duplicate': a FAIL that does not count
A_ERROR = "fastnn:error"
S_CONFIG = "fastnn:config"
S_READY = "fastnn:ready"

SAMPLERS = ("random", "tpe")


class SearchError(RuntimeError):
    """A search could not go on: a worker process failed, or its storage cannot be opened."""


def _derive(*ints):
    """A 32-bit seed from integers (NumPy's SeedSequence)."""
    return int(np.random.SeedSequence([int(i) & 0xFFFFFFFF for i in ints]).generate_state(1)[0])


def _slot_seed(seed, round_index, slot):
    return _derive(seed, round_index, slot, 0x5EED)


def _params_seed(seed, round_index):
    return int(seed) if round_index == 1 else _derive(seed, round_index, 0x9A4A)


def make_slots(config, space):
    """(params, seed) for every slot of a search described by ``config``."""
    n, seed, r = config["n_trials"], config["seed"], config["round"]
    drawn = sample_space(space, n, _params_seed(seed, r))
    if config["sampler"] == "tpe":
        k = config["tpe_startup"]
        drawn = drawn[:k] + [{} for _ in range(n - k)] if n > k else drawn
    return [(p, _slot_seed(seed, r, i)) for i, p in enumerate(drawn)]
