"""``rsbench tune``: the command line of `rsbench.run.tune` (the protocol is described there)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: the grid settings a study takes from the command line (the ratios it tunes at are
#: ``--tune-ratio``; its seeds are ``--seed``; its trials run in this process)
GRID_KEYS = (
    "methods",
    "datasets",
    "noise_models",
    "noise_seed",
    "epochs",
    "device",
    "profile",
    "weights_dir",
    "data_root",
    "out",
)


def add_tune_parser(sub) -> None:
    tune = sub.add_parser(
        "tune",
        help="equal-budget hyperparameter search per method (Optuna), without the test split",
        description="One study per method × dataset × noise model × tuning ratio × profile: "
        "trial 0 is the profile's values, then seeded random draws (or TPE) from the method's "
        "declared search space, each trial a grid cell selected on the noisy validation split "
        "and scored on the clean one too. Writes the chosen options of both selections as grid "
        "configs for 'rsbench run --config'. Rerun the same command to resume.",
    )
    tune.later(add_grid_flags)
    tune.add_argument(
        "--tune-ratio", dest="noise", default="0.4", help="noise ratio(s) to tune at [0.4]"
    )
    tune.add_argument("--trials", default="8", help="trials per study, trial 0 included [8]")
    tune.add_argument("--sampler", default="random", help="random (DomainBed) or tpe [random]")
    tune.add_argument(
        "--pruner",
        default="none",
        help="none (every trial trains its epochs: DomainBed) or median (stop a trial whose "
        "noisy-validation mR after an epoch is below the median of earlier trials there) [none]",
    )
    tune.add_argument("--seed", default="0", help="search seed and training seed of trials [0]")
    tune.add_argument("--config", type=Path, help="YAML grid config (methods with fixed options)")
    tune.add_argument(
        "--per-ratio",
        action="store_true",
        help="write one config per tuning ratio (its own choice) instead of one for all ratios",
    )
    tune.add_argument(
        "--dry-run",
        action="store_true",
        help="list the studies, the trials already done and those to come with their points, "
        "and estimate the time from the trials run so far; train and write nothing",
    )
    tune.add_argument(
        "--workers",
        dest="tune_workers",
        default="1",
        help="processes training trials of the same studies at once on this machine, each with "
        "its share of the CPU threads [1]",
    )
    tune.add_argument(
        "--restart-changed",
        dest="restart_changed",
        action="store_true",
        help="start again the studies whose method changed its search space since they ran "
        "(without it, such a study is an error)",
    )
    tune.set_defaults(executor=None)  # trials run in this process, one after another
    tune.add_argument(
        "--storage",
        help="Optuna storage: a database URL or a journal file (.log) [OUT/studies.db]",
    )


def add_grid_flags(tune) -> None:
    from rsbench.cli.flags import add_flags

    add_flags(
        tune,
        GRID_KEYS,
        help={
            "epochs": "every trial's number of epochs (not searched then)",
            "out": "run folder of the trials [runs/tune]",
        },
        defaults={"out": "runs/tune"},
    )


def cmd_tune(args) -> int:
    import json

    from rsbench.cli.flags import settings_of
    from rsbench.io.cache import cache_dir
    from rsbench.io.cleanup import clean_run_outputs
    from rsbench.io.files import atomic_write_text
    from rsbench.plugin.manager import get_plugins
    from rsbench.run.settings import integer_setting, seed_setting
    from rsbench.run.tune import SELECTIONS, Tuner, storage_for, tuned_config

    grid = settings_of(args)
    trials = integer_setting(args.trials, "--trials", 1)
    seed = seed_setting(args.seed, "--seed")  # the trials' training seed too
    out = Path(grid.out)
    tuner = Tuner(grid, trials, args.sampler, seed, None, get_plugins(), args.pruner)
    studies = tuner.studies()  # bad input (no search space, unknown names) fails here
    if args.dry_run:
        return tune_dry_run(tuner, studies, out, args.storage)
    clean_run_outputs(out, None, cache_dir())
    workers = integer_setting(args.tune_workers, "--workers", 1, 4 * (os.cpu_count() or 1))
    tuner.storage = storage_for(out, args.storage)
    for name in tuner.check_spaces(studies, restart=args.restart_changed):
        print(f"rsbench tune: {name}: its search space changed; started again", file=sys.stderr)
    helpers = start_helpers(args.argv, workers) if workers > 1 else []
    try:
        summaries = [tuner.run_study(study) for study in studies]
        for helper in helpers:  # each finishes the trial it trains
            helper.wait()
    except KeyboardInterrupt:
        print(
            f"\nrsbench: interrupted; finished trials are in the study; rerun to resume ({out})",
            file=sys.stderr,
        )
        return 130
    if os.environ.get(HELPER_ENV):  # a helper of another tune process: it writes the configs
        return 0
    if helpers:  # the trials the helpers added after this process's last look
        summaries = [tuner.summary(tuner._optuna_study(study), study) for study in studies]
    atomic_write_text(out / "tuned.json", json.dumps(summaries, indent=2, sort_keys=True) + "\n")
    for s in summaries:
        picks = "; ".join(
            f"{sel}: slot {p['slot']} (noisy val mR {p['noisy_val_mR']:.2f}, clean "
            f"{p['clean_val_mR']:.2f})"
            for sel, p in s["chosen"].items()
        )
        print(
            f"rsbench tune: {s['study']}: {s['trials']} trials, {s['epochs']} epochs"
            + (f", {s['pruned']} pruned" if s["pruned"] else "")
            + (f", {s['failed']} failed" if s["failed"] else "")
            + f"; {picks or 'nothing finished'}",
            file=sys.stderr,
        )
    incomplete = [s["study"] for s in summaries if s["trials"] + s["failed"] + s["pruned"] < trials]
    ratios = sorted({s["ratio"] for s in summaries}) if args.per_ratio else [None]
    for selection in SELECTIONS:
        if not all(selection in s["chosen"] for s in summaries):
            continue
        for ratio in ratios:
            suffix = "" if ratio is None else f"-{ratio:g}"
            path = out / f"tuned-{selection}{suffix}.yaml"
            atomic_write_text(path, tuned_config(summaries, selection, grid, ratio))
            print(f"rsbench tune: wrote {path} (rsbench run --config {path})", file=sys.stderr)
    if incomplete:
        print(
            f"rsbench tune: {len(incomplete)} studies lack trials that another process runs or "
            "that failed to start; rerun to finish them",
            file=sys.stderr,
        )
        return 1
    return 0


HELPER_ENV = "RSBENCH_TUNE_HELPER"


def start_helpers(argv: list[str], workers: int) -> list:
    """``workers - 1`` more ``rsbench tune`` processes with the same arguments on the same
    studies (they split the trials: see `rsbench.run.tune`), each with its share of the CPU threads,
    as this process takes for itself."""
    import subprocess

    threads = max(1, (os.cpu_count() or 1) // workers)
    import torch

    torch.set_num_threads(threads)
    env = {
        **os.environ,
        HELPER_ENV: "1",
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    command = [sys.executable, "-m", "rsbench", *argv, "--workers", "1"]
    print(
        f"rsbench tune: {workers} processes on the studies, {threads} CPU thread(s) each",
        file=sys.stderr,
    )
    return [subprocess.Popen(command, env=env) for _ in range(workers - 1)]


def tune_dry_run(tuner, studies, out: Path, storage: str | None) -> int:
    """``rsbench tune --dry-run``: per study, what is done and what is to come, and the time of
    what is to come from the trials already run (``rsbench.run.estimate``)."""

    from rsbench.plugin.searchspace import describe as describe_space
    from rsbench.plugin.searchspace import format_point
    from rsbench.records.read import iter_records
    from rsbench.run.estimate import describe, estimate
    from rsbench.run.runner import Runner
    from rsbench.run.tune import existing_study, spent_slots

    say = lambda line: print(f"rsbench: {line}", file=sys.stderr)  # noqa: E731
    todo_cells, later, total = [], 0, 0
    for study in studies:
        found = existing_study(storage, out, study.name)
        spent = spent_slots(found) if found is not None else set()
        plan = tuner.plan(study, spent)
        print(f"{study.name}: {len(spent)} of {tuner.trials} trials done, {len(plan)} to run")
        for name, text in sorted(describe_space(study.space).items()):
            print(f"  searches {name}: {text}")
        for slot, point in plan:
            if point is None:
                print(f"  slot {slot}: drawn by {tuner.sampler} when its turn comes")
                later += 1
                continue
            grid = tuner.slot_grid(study, point)
            cells = Runner(grid, tuner.plugins).prepare(check=False, problems=[])
            todo_cells += cells
            shown = format_point(point) or "defaults"
            print(f"  slot {slot}: {shown}")
        total += len(plan)
    say(
        f"tune dry run: {len(studies)} studies, {tuner.trials} trials each ({tuner.sampler} "
        f"sampler, seed {tuner.seed}); {total} trials to run in {out}"
    )
    records = list(iter_records([out])) if out.is_dir() else []
    if todo_cells:
        for line in describe(estimate(todo_cells, records), len(todo_cells), 1, "this process"):
            say(line)
    if later:
        say(f"{later} trials are drawn by the sampler as the search goes: not estimated")
    return 0
