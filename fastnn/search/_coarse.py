"""Coarse to fine: rounds of random search, each on the ranges where the last round's best
trials lie (the book's section 6.5: "narrow the ranges down and repeat")."""
import secrets

from ._engine import random_search
from ._result import SearchResult, TrialRecord
from ._space import check_space, space_to_spec

__all__ = ["coarse_to_fine", "narrow_space", "split_budget", "compare_samplers"]


def split_budget(n_trials, rounds):
    """``n_trials`` split over ``rounds`` as evenly as possible, the first rounds larger."""
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError("rounds must be a positive int, got %r" % (rounds,))
    if n_trials < rounds:
        raise ValueError("n_trials=%d cannot be split over %d rounds" % (n_trials, rounds))
    base, extra = divmod(int(n_trials), rounds)
    return [base + (1 if r < extra else 0) for r in range(rounds)]


def narrow_space(space, best_trials, *, margin=0.25, min_fraction=0.05, which="log"):
    """The next round's space: each log-scale range (``which='all'``: every range and choice)
    narrowed to the span of ``best_trials``' values widened by ``margin`` of that span on each
    side, clipped to the current range.  With fewer than two trials the space is unchanged."""
    if len(best_trials) < 2:
        return dict(space)
    out = {}
    for name, dist in space.items():
        values = [t.params[name] for t in best_trials if name in t.params]
        if values and (which == "all" or dist.log):
            out[name] = dist.narrow(values, margin=margin, min_fraction=min_fraction)
        else:
            out[name] = dist
    return out


def coarse_to_fine(objective, space, n_trials=100, rounds=3, *, top_k=5, margin=0.25,
                   min_fraction=0.05, narrow="log", seed=None, study_name=None, storage=None,
                   prune_rounds=None, on_round=None, on_round_start=None, **kwargs):
    """Rounds of :func:`random_search`; each round after the first searches the ranges spanned
    by the ``top_k`` complete trials of the round before (see :func:`narrow_space`).

    n_trials: the total budget, split over ``rounds`` (:func:`split_budget`), or a list of
    per-round counts.  With a storage, round ``r`` is the study ``'<study_name>-round<r>'``:
    a stopped search resumes in the round it stopped in, and workers on other machines running
    the same call follow the rounds (they compute the same ranges from the same results).
    prune_rounds: prune (``pruner=``, default 'median') only in the first ``prune_rounds``
    rounds (None: in all).  The coarse round is where hopeless trials are; in the narrowed
    rounds every trial is a good one and the median rule cuts half of them on the noise of
    their early validation scores.
    ``on_round_start(round, first_number, n_trials, space)`` is called before each round and
    ``on_round(round_info, round_result)`` after it.  Other keywords go to
    :func:`random_search`.  The result has every trial (``.round`` tells which) and
    ``result.rounds``: each round's space, trial count, best value and params, top-k trials.
    """
    space = check_space(space)
    counts = list(n_trials) if isinstance(n_trials, (list, tuple)) else split_budget(n_trials,
                                                                                     rounds)
    if not counts or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in counts):
        raise ValueError("per-round trial counts must be positive ints, got %r" % (counts,))
    if top_k < 1:
        raise ValueError("top_k must be >= 1, got %r" % (top_k,))
    if seed is None and storage is None:
        seed = secrets.randbits(31)
    records, rounds_info, info = [], [], {}
    current = space
    offset = 0
    for r, count in enumerate(counts, start=1):
        name = None if study_name is None else "%s-round%d" % (study_name, r)
        if on_round_start is not None:
            on_round_start(r, offset, count, current)
        kw = dict(kwargs)
        if prune_rounds is not None and r > prune_rounds:
            kw["pruner"] = None
        res = random_search(objective, current, count, seed=seed, study_name=name,
                            storage=storage, round_index=r, **kw)
        seed = res.info["seed"]    # a joining worker adopts the stored seed
        for t in res.trials:
            d = t.to_dict()
            d["number"] = offset + t.slot
            d["round"] = r
            records.append(TrialRecord.from_dict(d))
        offset += count
        top = res.top(top_k)
        round_info = dict(res.rounds[0], round=r, study_name=res.info.get("study_name"),
                          top_k=[offset - count + t.slot for t in top],
                          wall_time_s=res.info.get("wall_time_s"),
                          counts={s: res.count(s) for s in ("complete", "pruned", "failed")})
        rounds_info.append(round_info)
        if on_round is not None:
            on_round(round_info, res)
        info = dict(res.info)
        if r < len(counts):
            current = narrow_space(current, top, margin=margin, min_fraction=min_fraction,
                                   which=narrow)
    info.update(n_trials=sum(counts), rounds=len(counts), top_k=top_k, margin=margin,
                wall_time_s=sum(ri["wall_time_s"] or 0 for ri in rounds_info),
                initial_space=space_to_spec(space), study_name=study_name)
    return SearchResult(records, rounds=rounds_info, info=info)


def compare_samplers(objective, space, n_trials, samplers=("random", "tpe"), *,
                     rounds=1, study_name=None, **kwargs):
    """The same search with each sampler on the same budget; ``{sampler: SearchResult}``."""
    out = {}
    for s in samplers:
        name = None if study_name is None else "%s-%s" % (study_name, s)
        if rounds > 1:
            out[s] = coarse_to_fine(objective, space, n_trials, rounds, sampler=s,
                                    study_name=name, **kwargs)
        else:
            out[s] = random_search(objective, space, n_trials, sampler=s, study_name=name,
                                   **kwargs)
    return out
