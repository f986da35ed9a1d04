"""The slots of a search kept in an Optuna study (any storage Optuna accepts).

Creating the study enqueues one WAITING trial per slot; a worker claims one
with Optuna's WAITING -> RUNNING transition (exactly one claimant wins),
beats a heartbeat while it runs, and tells the result.  ``check_stale``
fails the trials of dead workers and enqueues their slots again; ``records``
reads one settled trial per slot back.
"""
import hashlib
import os
import secrets
import socket
import time
import warnings

from ._liveness import _Heartbeat, _host_id, _pid_alive, _proc_start
from ._pruners import make_pruner
from ._result import TrialRecord
from ._slots import (A_BEAT, A_DISCARD, A_ERROR, A_OWNER, A_ROUND, A_SEED, A_SLOT, S_CONFIG,
                     S_READY, SearchError, _derive, make_slots)
from ._space import from_optuna_params, space_from_spec, to_optuna_params
from ._storage import _quiet_optuna, open_storage
from ._trial import optuna_or_none


class _Handle:
    def __init__(self, trial_id, number, slot, seed, params, optuna_trial):
        self.trial_id = trial_id
        self.number = number
        self.slot = slot
        self.seed = seed
        self.params = params
        self.optuna_trial = optuna_trial
        self.beat = None


class OptunaStore:
    """Slots of one Optuna study in any storage Optuna accepts."""

    uses_optuna = True

    def __init__(self, spec, study_name, *, sampler="random", pruner="median", pruner_options=None,
                 heartbeat_interval=10.0, grace_period=60.0, ownerless_grace=10.0,
                 ready_timeout=120.0):
        self.optuna = optuna_or_none()
        _quiet_optuna(self.optuna)
        self.spec = spec
        self.study_name = study_name
        self.sampler_name = sampler
        self.pruner_spec = pruner
        self.pruner_options = dict(pruner_options or {})
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.ownerless_grace = ownerless_grace
        self.ready_timeout = ready_timeout
        self.storage = None
        self.study = None
        self.config = None
        self.host = _host_id()
        self.pid = os.getpid()
        self.pstart = _proc_start(self.pid) or ""
        self.worker = "%s:%d" % (socket.gethostname(), self.pid)
        self._watch = {}

    @property
    def owner(self):
        return {"host": self.host, "pid": self.pid, "pstart": self.pstart,
                "worker": self.worker}

    def __getstate__(self):   # sent to worker processes: they reopen the storage
        d = dict(self.__dict__)
        for k in ("optuna", "storage", "study", "_watch", "_missing", "pid", "pstart", "worker"):
            d.pop(k, None)
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)
        self.optuna = optuna_or_none()
        _quiet_optuna(self.optuna)
        self.storage = None
        self.study = None
        self.pid = os.getpid()
        self.pstart = _proc_start(self.pid) or ""
        self.worker = "%s:%d" % (socket.gethostname(), self.pid)
        self._watch = {}

    # -- study creation / joining -------------------------------------------------------------
    def _make_sampler(self):
        optuna = self.optuna
        seed = self.config["seed"] if self.config else 0
        # Workers sharing a study must not share a random stream (they would propose the
        # same points); one process alone on an in-memory study stays reproducible.
        salt = 0 if self.spec is None else int(hashlib.sha1(
            ("%s|%d|%r" % (self.host, self.pid, time.time())).encode()).hexdigest()[:8], 16)
        if self.sampler_name == "tpe":
            return optuna.samplers.TPESampler(seed=_derive(seed, salt),
                                              n_startup_trials=self.config["tpe_startup"],
                                              constant_liar=True)
        return optuna.samplers.RandomSampler(seed=_derive(seed, salt))

    def _pruner(self):
        p = make_pruner(self.pruner_spec, use_optuna=True, **self.pruner_options)
        # Optuna reads pruner=None as "the default MedianPruner".
        return self.optuna.pruners.NopPruner() if p is None else p

    def open(self):
        """Open the storage and load the (already set up) study in this process."""
        if self.storage is None:
            self.storage = open_storage(self.spec)
        if self.study is None:
            self.study = self.optuna.load_study(study_name=self.study_name, storage=self.storage,
                                                sampler=self._make_sampler(),
                                                pruner=self._pruner())
            self.study_id = self.storage.get_study_id_from_name(self.study_name)
        return self

    def setup(self, config, space):
        """Create the study and its slots, or join an existing one; returns the study's config."""
        optuna = self.optuna
        self.storage = open_storage(self.spec)
        if self.study_name is None:
            self.study_name = "fastnn-search" if self.spec is not None else \
                "fastnn-search-%s" % secrets.token_hex(4)
        try:
            study = optuna.create_study(storage=self.storage, study_name=self.study_name,
                                        direction="maximize")
            created = True
        except optuna.exceptions.DuplicatedStudyError:
            study = optuna.load_study(study_name=self.study_name, storage=self.storage)
            created = False
        study_id = self.storage.get_study_id_from_name(self.study_name)
        if created:
            if config["seed"] is None:
                config = dict(config, seed=secrets.randbits(31))
            self.storage.set_study_user_attr(study_id, S_CONFIG, config)
            self.config = config
            self._enqueue(study, range(config["n_trials"]), space)
            self.storage.set_study_user_attr(study_id, S_READY, True)
        else:
            self.config = self._join(study, study_id, config, space)
        self.study = None
        self.open()
        self.study_id = study_id
        return self.config

    def _join(self, study, study_id, config, space):
        deadline = time.monotonic() + self.ready_timeout
        while True:
            attrs = self.storage.get_study_user_attrs(study_id)
            if attrs.get(S_READY) or S_CONFIG in attrs and time.monotonic() > deadline:
                break
            if time.monotonic() > deadline:
                raise SearchError("study %r exists but was never set up by fastnn (no %s after "
                                  "%.0fs); use another study name" % (self.study_name, S_CONFIG,
                                                                      self.ready_timeout))
            time.sleep(0.2)
        stored = attrs[S_CONFIG]
        for key in ("n_trials", "sampler", "space", "round", "tpe_startup"):
            if stored.get(key) != config.get(key):
                raise ValueError(
                    "study %r in this storage was set up with %s=%r, not %r: resume it with the "
                    "same settings or choose another study name"
                    % (self.study_name, key, stored.get(key), config.get(key)))
        if config.get("seed") is not None and stored.get("seed") != config["seed"]:
            raise ValueError("study %r was set up with seed=%r, not %r: resume it with the same "
                             "seed (or seed=None) or choose another study name"
                             % (self.study_name, stored.get("seed"), config["seed"]))
        if not attrs.get(S_READY):
            # Its creator died while enqueueing the slots: finish the job.
            self.config = stored
            self.study = study
            self.study_id = study_id
            self._repair(space, settle=0.0)
            self.storage.set_study_user_attr(study_id, S_READY, True)
        return stored

    def _enqueue(self, study, slots, space, params_override=None):
        optuna = self.optuna
        all_slots = make_slots(self.config, space)
        trials = []
        for i in slots:
            params, seed = all_slots[i]
            params = to_optuna_params(space, params)
            if params_override and i in params_override:
                params = params_override[i]    # as Optuna stored them: no conversion
            trials.append(optuna.trial.create_trial(
                state=optuna.trial.TrialState.WAITING,
                system_attrs={"fixed_params": params},
                user_attrs={A_SLOT: i, A_SEED: seed, A_ROUND: self.config["round"]}))
        study.add_trials(trials)

    # -- views of the study -----------------------------------------------------------------
    def _all(self):
        return self.storage.get_all_trials(self.study_id, deepcopy=False)

    def _counts(self, ft):
        """Whether a finished trial settles its slot."""
        TS = self.optuna.trial.TrialState
        if ft.state in (TS.COMPLETE, TS.PRUNED):
            return True
        return ft.state == TS.FAIL and A_DISCARD not in ft.user_attrs

    def _by_slot(self, trials):
        slots = {}
        for ft in trials:
            if A_SLOT in ft.user_attrs:
                slots.setdefault(ft.user_attrs[A_SLOT], []).append(ft)
        return slots

    def status(self):
        """(slots settled, slots in all)."""
        slots = self._by_slot(self._all())
        done = sum(1 for fts in slots.values() if any(self._counts(f) for f in fts))
        return done, self.config["n_trials"]

    # -- claiming and running -------------------------------------------------------------
    def claim(self):
        optuna = self.optuna
        TS = optuna.trial.TrialState
        waiting = self.storage.get_all_trials(self.study_id, deepcopy=False, states=(TS.WAITING,))
        for ft in sorted(waiting, key=lambda f: f.number):
            tid = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, ft.number)
            try:
                if not self.storage.set_trial_state_values(tid, TS.RUNNING):
                    continue
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
            try:    # one write, right after the claim: whose trial it is
                self.storage.set_trial_user_attr(tid, A_OWNER, self.owner)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue   # taken for an ownerless stale trial meanwhile (see check_stale)
            slot = ft.user_attrs.get(A_SLOT)
            if slot is None or self._is_duplicate(slot, ft.number):
                self.storage.set_trial_user_attr(tid, A_DISCARD, "duplicate")
                self.storage.set_trial_state_values(tid, TS.FAIL)
                continue
            trial = optuna.trial.Trial(self.study, tid)
            h = _Handle(tid, ft.number, slot, ft.user_attrs.get(A_SEED), {}, trial)
            if self.heartbeat_interval:
                h.beat = _Heartbeat(self.storage, tid, self.heartbeat_interval)
                h.beat.start()
            return h
        return None

    def _is_duplicate(self, slot, number):
        TS = self.optuna.trial.TrialState
        for ft in self._by_slot(self._all()).get(slot, []):
            if ft.number == number:
                continue
            # Two copies of a slot exist only after a crash during a requeue; whichever is
            # claimed second steps back (if both are claimed at once both do, and the slot is
            # requeued once more) -- a slot never runs twice.
            if self._counts(ft) or ft.state == TS.RUNNING:
                return True
        return False

    def suggest(self, h, space):
        h.params = {name: dist.suggest(h.optuna_trial, name) for name, dist in space.items()}
        return h.params

    def report(self, h, value, step):
        h.optuna_trial.report(value, step)

    def should_prune(self, h):
        return h.optuna_trial.should_prune()

    def set_user_attr(self, h, key, value):
        h.optuna_trial.set_user_attr(key, value)

    def finish(self, h, state, value=None, error=None):
        TS = self.optuna.trial.TrialState
        if h.beat is not None:
            h.beat.stop()
        try:
            if error is not None:
                self.storage.set_trial_user_attr(h.trial_id, A_ERROR, error[-2000:])
            if state == "complete":
                self.study.tell(h.optuna_trial, value)
            elif state == "pruned":
                self.study.tell(h.optuna_trial, state=TS.PRUNED)
            else:
                self.study.tell(h.optuna_trial, state=TS.FAIL)
        except self.optuna.exceptions.UpdateFinishedTrialError:
            # Another worker took this trial for dead (no heartbeat for grace_period) and
            # requeued its slot: that copy's result is the one that counts.
            warnings.warn("trial %d was taken over by another worker while it ran; its result "
                          "is discarded" % h.number, RuntimeWarning, stacklevel=2)

    # -- dead workers -------------------------------------------------------------------------
    def check_stale(self, space):
        """Fail the RUNNING trials of dead workers and enqueue their slots again."""
        optuna = self.optuna
        TS = optuna.trial.TrialState
        now = time.monotonic()
        running = self.storage.get_all_trials(self.study_id, deepcopy=False,
                                              states=(TS.RUNNING,))
        live = set()
        for ft in running:
            live.add(ft.number)
            owner = ft.user_attrs.get(A_OWNER) or {}
            if owner.get("host") == self.host and "pid" in owner:
                # On this machine the OS knows: a live process is running it, a dead one not.
                if owner["pid"] == self.pid and owner.get("pstart", "") == self.pstart:
                    continue
                stale = not _pid_alive(int(owner["pid"]), owner.get("pstart", ""))
            else:
                # Another machine's trial goes stale when its heartbeat stops changing for
                # grace_period (as seen by this worker's clock); a trial whose claimant died
                # before saying who it is, after a shorter wait.
                key = (owner.get("worker"), ft.user_attrs.get(A_BEAT))
                seen = self._watch.get(ft.number)
                if seen is None or seen[0] != key:
                    self._watch[ft.number] = (key, now)
                    continue
                wait = self.grace_period if owner else min(self.grace_period,
                                                           self.ownerless_grace)
                stale = now - seen[1] > wait
            if stale:
                self._requeue(ft, space)
        for n in list(self._watch):
            if n not in live:
                del self._watch[n]
        self._repair(space)

    def _requeue(self, ft, space):
        optuna = self.optuna
        TS = optuna.trial.TrialState
        tid = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, ft.number)
        try:
            self.storage.set_trial_user_attr(tid, A_DISCARD, "stale")
            self.storage.set_trial_state_values(tid, TS.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            return False      # it finished meanwhile, or another worker requeued it
        slot = ft.user_attrs.get(A_SLOT)
        if slot is not None:
            params = dict(ft.params) or dict(ft.system_attrs.get("fixed_params") or {})
            self._enqueue(self.study, [slot], space, {slot: params} if params else None)
        return True

    def abandon(self, h, space):
        """Give back a trial this process will not finish (interrupted): its slot is queued
        again, so an interrupted search loses nothing when it is resumed."""
        if h.beat is not None:
            h.beat.stop()
        ft = self.storage.get_trial(h.trial_id)
        self._requeue(ft, space)

    def _repair(self, space, settle=2.0):
        """Enqueue slots that have no trial waiting, running or settled (a worker died between
        failing a stale trial and requeueing it, or the creator died while enqueueing) once
        this worker has seen them so for ``settle`` seconds (a requeue in progress elsewhere
        takes milliseconds)."""
        TS = self.optuna.trial.TrialState
        slots = self._by_slot(self._all())
        now = time.monotonic()
        missing_now = [i for i in range(self.config["n_trials"])
                       if not any(self._counts(f) or f.state in (TS.WAITING, TS.RUNNING)
                                  for f in slots.get(i, []))]
        seen = getattr(self, "_missing", {})
        self._missing = {i: seen.get(i, now) for i in missing_now}
        missing = [i for i in missing_now if now - self._missing[i] >= settle]
        if missing:
            for i in missing:
                del self._missing[i]
            override = {}
            for i in missing:
                prev = [f for f in slots.get(i, []) if f.params]
                if prev:
                    override[i] = dict(prev[-1].params)
            self._enqueue(self.study, missing, space, override)

    # -- results ------------------------------------------------------------------------------
    def records(self):
        TS = self.optuna.trial.TrialState
        space = space_from_spec(self.config.get("space") or [])
        out = []
        for slot, fts in sorted(self._by_slot(self._all()).items()):
            settled = [f for f in fts if self._counts(f)]
            if not settled:
                continue
            pref = {TS.COMPLETE: 0, TS.PRUNED: 1, TS.FAIL: 2}
            ft = sorted(settled, key=lambda f: (pref[f.state], f.number))[0]
            state = {TS.COMPLETE: "complete", TS.PRUNED: "pruned", TS.FAIL: "failed"}[ft.state]
            steps = sorted(ft.intermediate_values)
            duration = None
            if ft.datetime_start and ft.datetime_complete:
                duration = (ft.datetime_complete - ft.datetime_start).total_seconds()
            value = ft.value
            if value is None and steps:
                value = ft.intermediate_values[steps[-1]]
            out.append(TrialRecord(
                slot, from_optuna_params(space, ft.params), value,
                [ft.intermediate_values[s] for s in steps], state,
                steps=steps, round_index=ft.user_attrs.get(A_ROUND, 1), duration=duration,
                worker=(ft.user_attrs.get(A_OWNER) or {}).get("worker"),
                user_attrs={k: v for k, v in ft.user_attrs.items() if not k.startswith("fastnn:")},
                error=ft.user_attrs.get(A_ERROR), seed=ft.user_attrs.get(A_SEED),
                study_trial=ft.number))
        return out

    def discarded(self):
        """Study trials that do not count: (number, reason)."""
        return [(f.number, f.user_attrs[A_DISCARD]) for f in self._all()
                if A_DISCARD in f.user_attrs]
