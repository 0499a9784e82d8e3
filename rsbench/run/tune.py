"""``rsbench tune``: the same hyperparameter-search budget for every method, on Optuna.

The protocol is DomainBed's (Gulrajani and Lopez-Paz, ICLR 2021): each method declares a search
space per profile (`rsbench.plugin.searchspace`); each gets the same number of trials; trial 0 is the
profile's values (the paper's, for the ``paper`` profile) and the others are seeded random
draws (``--sampler tpe``: Optuna's TPE instead). One study per method × dataset × noise model
× tuning ratio × profile, in one Optuna storage (an SQLite file in the run folder by default;
``--storage`` takes any Optuna RDB URL, or a ``.log`` journal file, for many machines).

Every trial is an ordinary grid cell (``GridSpec.search``), so locks, per-epoch resume and
records apply: its checkpoint is selected on the **noisy** validation split (the same noise as
training: what a practitioner has), and the selected model is also scored on the **clean**
validation split. The **test split is never read** during search. Two selections follow from
the same trials: ``noisy`` (realistic: the best noisy-validation mR) and ``clean`` (the oracle:
the best clean-validation mR). Each is written as a grid config that ``rsbench run --config``
reads (``tuned-noisy.yaml``, ``tuned-clean.yaml``), applying the chosen values at every ratio.

Random-search trial k always draws the same point (``searchspace.sample(space, seed, k)``), so
a study killed at any moment and run again trains only the slots it lacks (the interrupted
cell resumes from its last epoch), and two processes on one study split the slots between them
(the cell lock keeps a slot from being trained twice). A trial enters the study only when its
cell has finished, with its slot, cell id, options and both scores: nothing finished is lost or
counted twice. The budget is counted in epochs too (a space may search ``epochs``).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from rsbench.io import progress
from rsbench.io.errors import RsbenchError
from rsbench.plugin.searchspace import describe, format_point, sample, suggest
from rsbench.records.read import error_message
from rsbench.run import celllock
from rsbench.run.grid import ComponentRef, GridSpec

STUDY_DB = "studies.db"
SAMPLERS = ("random", "tpe")
PRUNERS = ("none", "median")
#: median pruning: no trial is stopped before this many have finished, nor before this epoch
#: (Optuna's warm-up steps: after one epoch of a noisy fit its score says little)
PRUNE_STARTUP, PRUNE_WARMUP = 3, 2
SELECTIONS = {"noisy": "mR", "clean": "clean_mR"}


def storage_for(out: Path, storage: str | None):
    """The Optuna storage: ``sqlite:///<out>/studies.db`` by default, an RDB URL, or a journal
    file (a path ending in ``.log``)."""
    import optuna

    if storage and not storage.endswith(".log") and "://" not in storage:
        raise RsbenchError(
            f"--storage {storage!r} is neither an Optuna database URL (sqlite:///…, "
            "postgresql://…) nor a journal file ending in .log"
        )
    if storage and storage.endswith(".log") and "://" not in storage:
        from optuna.storages.journal import JournalFileBackend

        Path(storage).parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(storage))
    url = storage or f"sqlite:///{(Path(out) / STUDY_DB).resolve()}"
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    return _retrying(lambda: optuna.storages.RDBStorage(url, engine_kwargs=engine))


def _retrying(make, tries: int = 20):
    """``make()``, again after a pause when another process is creating the same tables or
    study at that moment (SQLite answers "table … already exists" to the second)."""
    import time

    from sqlalchemy.exc import SQLAlchemyError

    for attempt in range(tries):
        try:
            return make()
        except SQLAlchemyError:
            if attempt == tries - 1:
                raise
            time.sleep(0.25 * (attempt + 1))
    raise AssertionError("unreachable")


@dataclasses.dataclass
class Study:
    """One study: a method at one dataset, noise model, tuning ratio and profile."""

    method: ComponentRef
    dataset: ComponentRef
    noise_model: ComponentRef
    ratio: float
    profile: str
    space: dict[str, Any]

    @property
    def name(self) -> str:
        return (
            f"{self.method.name}:{self.dataset.name}:{self.noise_model.name}:"
            f"{self.ratio:g}:{self.profile}"
        )


def complete_trials(study) -> list:
    """The study's finished trials that have a score, one per slot (the first added)."""
    by_slot = {}
    for t in study.get_trials(deepcopy=False):
        if t.state == _state("COMPLETE") and "slot" in t.user_attrs:
            by_slot.setdefault(t.user_attrs["slot"], t)
    return [by_slot[k] for k in sorted(by_slot)]


def spent_slots(study) -> set[int]:
    """The slots of the budget already spent: trained to a score, pruned, or failed as cells."""
    return set(spent_trials(study))


def spent_trials(study) -> dict[int, Any]:
    """Slot → its trial (the first added) for every spent slot."""
    spent = (_state("COMPLETE"), _state("PRUNED"), _state("FAIL"))
    by_slot: dict[int, Any] = {}
    for t in study.get_trials(deepcopy=False):
        if "slot" in t.user_attrs and t.state in spent:
            by_slot.setdefault(t.user_attrs["slot"], t)
    return by_slot


class Tuner:
    """Runs the studies of a search grid (``grid.ratios`` are the tuning ratios)."""

    def __init__(
        self,
        grid: GridSpec,
        trials: int,
        sampler: str,
        seed: int,
        storage,
        plugins,
        pruner: str = "none",
    ):
        if trials < 1:
            raise RsbenchError(f"--trials must be at least 1, got {trials}")
        if sampler not in SAMPLERS:
            raise RsbenchError(f"--sampler {sampler!r} is not one of: {', '.join(SAMPLERS)}")
        if pruner not in PRUNERS:
            raise RsbenchError(f"--pruner {pruner!r} is not one of: {', '.join(PRUNERS)}")
        prune = "" if pruner == "none" else pruner
        self.grid = dataclasses.replace(
            grid, search=True, validation="noisy", seeds=[seed], prune=prune
        )
        self.trials, self.sampler, self.seed, self.pruner = trials, sampler, seed, pruner
        self.storage, self.plugins = storage, plugins

    def studies(self) -> list[Study]:
        from rsbench.run.runner import Runner

        out = []
        for cell in self.grid.cells():
            runner = Runner(dataclasses.replace(self.grid, methods=[cell.method]), self.plugins)
            dataset_cls = self.plugins.datasets.get(cell.dataset.name).resolve()
            options = runner.method_options(cell, dataset_cls)
            method_cls = self.plugins.methods.get(cell.method.name).resolve()
            profile = options.get("profile", "small")
            space = method_cls.search_space(profile)
            if not space:
                raise RsbenchError(
                    f"method {cell.method.name!r} declares no search space for the {profile!r} "
                    "profile (SEARCH_SPACES); it cannot be tuned"
                )
            fixed = set(cell.method.options) | ({"epochs"} if self.grid.epochs else set())
            space = {k: v for k, v in space.items() if k not in fixed}
            out.append(
                Study(cell.method, cell.dataset, cell.noise_model, cell.ratio, profile, space)
            )
        return out

    def check_spaces(self, studies: list[Study], restart: bool = False) -> list[str]:
        """A study stored with trials drawn from another search space than its method declares
        now (the method changed its space since) cannot go on: its trials would mix two
        spaces. An error naming it, or with ``restart`` it is deleted, to start again from
        trial 0 (its finished cells stay in the run folder: a point drawn again is not
        retrained). The names of the studies restarted."""
        import optuna

        stored = {
            s.study_name: s for s in _retrying(lambda: optuna.get_all_study_summaries(self.storage))
        }
        restarted = []
        for study in studies:
            summary = stored.get(study.name)
            if summary is None or "space" not in summary.user_attrs:
                continue
            before, now = summary.user_attrs["space"], describe(study.space)
            if before == now:
                continue
            changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
            if not restart:
                raise RsbenchError(
                    f"study {study.name} was searched over another space than "
                    f"{study.method.name}'s today (changed: {', '.join(changed)}); rerun with "
                    "--restart-changed to start it again, or give another --out"
                )
            _retrying(
                lambda name=study.name: optuna.delete_study(study_name=name, storage=self.storage)
            )
            restarted.append(study.name)
        return restarted

    def run(self) -> list[dict[str, Any]]:
        """Run every study to its budget; a summary per study (its two selections)."""
        summaries = []
        for study in self.studies():
            summaries.append(self.run_study(study))
        return summaries

    def _optuna_study(self, study: Study):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = (
            optuna.samplers.TPESampler(seed=self.seed)
            if self.sampler == "tpe"
            else optuna.samplers.RandomSampler(seed=self.seed)
        )
        return _retrying(
            lambda: optuna.create_study(
                study_name=study.name,
                storage=self.storage,
                direction="maximize",
                sampler=sampler,
                pruner=self.make_pruner(),
                load_if_exists=True,
            )
        )

    def make_pruner(self):
        """Optuna's median pruner on the per-epoch noisy-validation mR, or none."""
        import optuna

        if self.pruner == "median":
            return optuna.pruners.MedianPruner(
                n_startup_trials=PRUNE_STARTUP, n_warmup_steps=PRUNE_WARMUP
            )
        return optuna.pruners.NopPruner()

    def epoch_hook(self, optuna_study, trial=None):
        """``Runner.epoch_hook`` of one trial: reports each epoch's validation mR and answers
        whether to stop. A drawn point (random search) has no live Optuna trial: the pruner
        judges a snapshot of its epochs against the study's finished and pruned trials."""
        if self.pruner == "none":
            return None
        pruner, seen = self.make_pruner(), {}

        def hook(epoch: int, score: float) -> bool:
            if not _finite(score):
                return False
            if trial is not None:
                trial.report(score, epoch)
                return trial.should_prune()
            import optuna

            seen[epoch] = score
            running = optuna.trial.create_trial(
                state=_state("RUNNING"), intermediate_values=dict(seen)
            )
            return pruner.prune(optuna_study, running)

        return hook

    def run_study(self, study: Study) -> dict[str, Any]:
        optuna_study = self._optuna_study(study)
        optuna_study.set_user_attr("space", describe(study.space))
        optuna_study.set_user_attr("sampler", self.sampler)
        optuna_study.set_user_attr("seed", self.seed)
        optuna_study.set_user_attr("pruner", self.pruner)
        if self.sampler == "random":
            for slot in range(self.trials):  # a slot held by another process is left to it
                if slot not in spent_slots(optuna_study):
                    self.run_slot(optuna_study, study, slot, sample(study.space, self.seed, slot))
        else:
            if 0 not in spent_slots(optuna_study):
                self.run_slot(optuna_study, study, 0, {})  # the defaults are trial 0
            for _ in range(2 * self.trials):  # failed trials are retried, within reason
                if len(spent_slots(optuna_study)) >= self.trials:
                    break
                trial = optuna_study.ask()
                slot = 1 + trial.number  # unique in the study, whichever process asks
                self.run_slot(optuna_study, study, slot, suggest(study.space, trial), trial)
        return self.summary(optuna_study, study)

    def slot_grid(self, study: Study, overrides: dict) -> GridSpec:
        """The one-cell grid that trains a trial with these option overrides."""
        method = ComponentRef(study.method.name, {**study.method.options, **overrides})
        return dataclasses.replace(
            self.grid,
            methods=[method],
            datasets=[study.dataset],
            noise_models=[study.noise_model],
            ratios=[study.ratio],
        )

    def plan(self, study: Study, spent: set[int]) -> list[tuple[int, dict[str, Any]]]:
        """The slots still to train and their points (random search: known in advance; TPE:
        drawn as the search goes, so shown as ``None``)."""
        todo = [k for k in range(self.trials) if k not in spent]
        if self.sampler == "random":
            return [(k, sample(study.space, self.seed, k)) for k in todo]
        return [(k, {} if k == 0 else None) for k in todo]

    def run_slot(self, optuna_study, study: Study, slot: int, overrides: dict, trial=None) -> None:
        """Train slot ``slot`` of the study (these option overrides) as a grid cell, and add it
        to the study once its record is written (as a failed trial when the cell failed)."""
        from rsbench.run.runner import Runner

        grid = self.slot_grid(study, overrides)
        runner = Runner(grid, self.plugins)
        cell = runner.prepare(check=True)[0]
        spent = len(spent_slots(optuna_study))
        progress.say(
            f"rsbench tune: {study.name}: trial {spent + 1}/{self.trials} (slot {slot}): "
            + (format_point(overrides) or "defaults")
        )
        runner.epoch_hook = self.epoch_hook(optuna_study, trial)
        result = runner.run()
        if cell.cell_id in result.held:  # another process trains it and adds it
            if trial is not None:
                optuna_study.tell(trial, state=_state("FAIL"))
            return
        # under the cell's lock: whoever comes first adds the finished cell, exactly once
        lock = celllock.acquire(grid.out, cell.cell_id, "rsbench tune")
        if isinstance(lock, celllock.Holder):
            if trial is not None:
                optuna_study.tell(trial, state=_state("FAIL"))
            return
        with lock:
            self._add(optuna_study, study, slot, overrides, trial, grid, cell.cell_id)

    def _add(self, optuna_study, study: Study, slot, overrides, trial, grid, cell_id) -> None:
        from rsbench.records.read import read_record, record_path

        record = read_record(record_path(grid.out, cell_id))
        if record is None or slot in spent_slots(optuna_study):
            if trial is not None:  # not finished, or already added by another process
                optuna_study.tell(trial, state=_state("FAIL"))
            return
        val = record.get("val_metrics") or {}
        history = [h for h in record.get("history") or [] if _finite(h.get("val_mR"))]
        stopped = (record.get("info") or {}).get("stopped_after_epoch")
        attrs = {
            "slot": slot,
            "cell_id": cell_id,
            "options": overrides,
            "clean_mR": val.get("clean_mR"),
            # the budget spent: the epochs trained (fewer than its options say when pruned)
            "epochs": len(record.get("history") or [])
            or (record.get("method") or {}).get("params", {}).get("epochs"),
            "health": [w["check"] for w in (record.get("health") or {}).get("warnings", [])],
        }
        ok = record.get("status") == "ok"
        if not ok:
            message = error_message(record)
            attrs["error"] = message.splitlines()[0][:300]
            progress.say(f"rsbench tune: {study.name}: slot {slot} failed: {message[:200]}")
        score = val.get("mR") if ok and _finite(val.get("mR")) else None
        state = "COMPLETE" if score is not None else "FAIL"
        if score is not None and stopped is not None:
            state, score = "PRUNED", None  # stopped early: never chosen, counted as spent
            attrs["pruned_after_epoch"] = stopped
            progress.say(f"rsbench tune: {study.name}: slot {slot} pruned after epoch {stopped}")
        steps = {int(h["epoch"]): float(h["val_mR"]) for h in history if "epoch" in h}
        if trial is None:  # a drawn point: added whole, in one write to the storage
            import optuna

            optuna_study.add_trial(
                optuna.trial.create_trial(
                    state=_state(state),
                    value=score,
                    user_attrs=attrs,
                    intermediate_values=steps,
                )
            )
            return
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        if state == "PRUNED":
            optuna_study.tell(trial, state=_state("PRUNED"))
        else:
            optuna_study.tell(trial, score, state=_state(state))

    def summary(self, optuna_study, study: Study) -> dict[str, Any]:
        trials = sorted(complete_trials(optuna_study), key=lambda t: t.user_attrs.get("slot", 0))
        chosen = {}
        for selection, key in SELECTIONS.items():
            scored = [
                t
                for t in trials
                if _finite(t.value if key == "mR" else t.user_attrs.get("clean_mR"))
            ]
            if not scored:
                continue
            best = max(scored, key=lambda t: t.value if key == "mR" else t.user_attrs["clean_mR"])
            chosen[selection] = {
                "slot": best.user_attrs.get("slot"),
                "options": best.user_attrs.get("options") or {},
                "noisy_val_mR": best.value,
                "clean_val_mR": best.user_attrs.get("clean_mR"),
            }
        spent = spent_trials(optuna_study)
        epochs = [t.user_attrs.get("epochs") for t in spent.values()]
        pruned = sum(t.state == _state("PRUNED") for t in spent.values())
        failed = len(spent) - len({t.user_attrs.get("slot") for t in trials}) - pruned
        return {
            "study": study.name,
            "method": study.method.name,
            "given_options": dict(study.method.options),
            "dataset": study.dataset.name,
            "noise_model": study.noise_model.name,
            "ratio": study.ratio,
            "profile": study.profile,
            "trials": len(trials),
            "budget": self.trials,
            "failed": failed,
            "pruned": pruned,
            "pruner": self.pruner,
            "epochs": sum(e for e in epochs if isinstance(e, int)),
            "sampler": self.sampler,
            "seed": self.seed,
            "space": describe(study.space),
            "chosen": chosen,
            "slots": {
                t.user_attrs["slot"]: {
                    "options": t.user_attrs.get("options") or {},
                    "noisy_val_mR": t.value,
                    "clean_val_mR": t.user_attrs.get("clean_mR"),
                }
                for t in trials
            },
        }


def existing_study(storage_url: str | None, out: Path, name: str):
    """The study already in the storage, without creating the storage or the study (``None``
    when there is none yet): what ``--dry-run`` reads."""
    import optuna

    if storage_url is None and not (Path(out) / STUDY_DB).exists():
        return None
    if storage_url and storage_url.endswith(".log") and not Path(storage_url).exists():
        return None
    try:
        return optuna.load_study(study_name=name, storage=storage_for(out, storage_url))
    except KeyError:
        return None


def choose(summaries: list[dict[str, Any]], selection: str) -> dict[str, dict[str, Any]]:
    """Method → its chosen trial under ``selection``. A method tuned at one ratio takes its
    study's best trial; tuned at several ratios (random search: slot k is the same point at every
    ratio), the slot with the best mean score over those ratios."""
    key = {"noisy": "noisy_val_mR", "clean": "clean_val_mR"}[selection]
    by_method: dict[str, list[dict[str, Any]]] = {}
    for s in summaries:
        by_method.setdefault(s["method"], []).append(s)
    picks = {}
    for method, studies in by_method.items():
        places = {(s["dataset"], s["noise_model"], s["profile"]) for s in studies}
        if len(places) > 1:
            raise RsbenchError(
                f"method {method} was tuned on several datasets or noise models; write one config "
                "per dataset and noise model (tune them one at a time)"
            )
        if len(studies) == 1:
            pick = studies[0]["chosen"].get(selection)
            if pick is not None:
                picks[method] = {**pick, "ratios": [studies[0]["ratio"]]}
            continue
        if any(s["sampler"] != "random" for s in studies):
            raise RsbenchError(
                f"method {method} was tuned at several ratios with the {studies[0]['sampler']} "
                "sampler, whose trials differ per ratio: use --per-ratio, or the random sampler"
            )
        common = set.intersection(*(set(s["slots"]) for s in studies))
        scored = {
            slot: [s["slots"][slot][key] for s in studies]
            for slot in common
            if all(_finite(s["slots"][slot][key]) for s in studies)
        }
        if not scored:
            continue
        slot = max(sorted(scored), key=lambda k: sum(scored[k]) / len(scored[k]))
        means = {
            name: sum(s["slots"][slot][name] for s in studies) / len(studies)
            for name in ("noisy_val_mR", "clean_val_mR")
        }
        picks[method] = {
            "slot": slot,
            "options": studies[0]["slots"][slot]["options"],
            **means,
            "ratios": sorted(s["ratio"] for s in studies),
        }
    return picks


def tuned_config(
    summaries: list[dict[str, Any]], selection: str, grid: GridSpec, ratio: float | None = None
) -> str:
    """A grid config (``rsbench run --config``) with each method's chosen options, applied at
    every ratio of the usual 0–80 % grid, or only at ``ratio`` (per-ratio tuning: chosen from
    that ratio's study alone); the search's provenance in comments."""
    import yaml

    if ratio is not None:
        summaries = [s for s in summaries if s["ratio"] == ratio]
    picks = choose(summaries, selection)
    lines = [
        f"# Chosen by rsbench tune ({selection} validation selection"
        + (", the oracle" if selection == "clean" else ", realistic")
        + "): the studies, their budget and each choice.",
    ]
    for s in summaries:
        lines.append(
            f"# {s['study']}: {s['trials']} trials ({s['epochs']} epochs, {s['sampler']} "
            f"sampler, seed {s['seed']})"
        )
    for method, pick in sorted(picks.items()):
        at = ", ".join(f"{r * 100:g} %" for r in pick["ratios"])
        mean = "mean " if len(pick["ratios"]) > 1 else ""
        lines.append(
            f"# {method}: slot {pick['slot']}, {mean}noisy validation mR "
            f"{pick['noisy_val_mR']:.2f}, clean {pick['clean_val_mR']:.2f} (tuned at {at})"
        )
    given = {s["method"]: s["given_options"] for s in summaries}
    body = {
        "track": track_block(summaries, picks, selection),
        "methods": {m: _plain({**given[m], **p["options"]}) for m, p in sorted(picks.items())},
        "datasets": [d.name for d in grid.datasets],
        "noise_models": [n.name for n in grid.noise_models],
        "noise": "0,0.2,0.4,0.6,0.8" if ratio is None else f"{ratio:g}",
        "seeds": "0,1",
        "profile": grid.profile,
        **({"epochs": grid.epochs} if grid.epochs else {}),
    }
    return "\n".join(lines) + "\n" + yaml.safe_dump(body, sort_keys=False)


TRACK_TITLES = {
    "noisy": "tuned hyperparameters (noisy-validation selection)",
    "clean": "oracle: tuned hyperparameters selected on the clean validation split",
}


def track_block(summaries: list[dict[str, Any]], picks: dict, selection: str) -> dict[str, Any]:
    """The config's ``track:`` block: what ``rsbench leaderboard --track`` shows of the search
    (its budget, and per method the trials and epochs spent and the choice)."""
    first = summaries[0]
    methods = {}
    for method, pick in sorted(picks.items()):
        studies = [s for s in summaries if s["method"] == method]
        methods[method] = {
            "slot": pick["slot"],
            "options": _plain(pick["options"]),
            "noisy_val_mR": round(pick["noisy_val_mR"], 4),
            "clean_val_mR": round(pick["clean_val_mR"], 4),
            "trials": sum(s["trials"] + s["failed"] + s.get("pruned", 0) for s in studies),
            "failed": sum(s["failed"] for s in studies),
            "pruned": sum(s.get("pruned", 0) for s in studies),
            "epochs": sum(s["epochs"] for s in studies),
        }
    return {
        "name": "tuned" if selection == "noisy" else "oracle",
        "title": TRACK_TITLES[selection],
        "selection": selection,
        "trials": max(s.get("budget", s["trials"] + s["failed"]) for s in summaries),
        "sampler": first["sampler"],
        "pruner": first.get("pruner", "none"),
        "seed": first["seed"],
        "tuning_ratios": sorted({s["ratio"] for s in summaries}),
        "methods": methods,
    }


def _plain(options: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items()}


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _state(name: str):
    import optuna

    return getattr(optuna.trial.TrialState, name)
