"""``rsbench tune``: studies end to end, resume after kill -9, two processes on one study, the
test split never read, and the chosen options as a grid config."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rsbench.cli.main import main
from rsbench.records.read import iter_records
from rsbench.run.settings import parse_settings, read_config
from tests.quick import install_quick


def studies(out: Path) -> dict[str, list]:
    import optuna

    from rsbench.run.tune import complete_trials, storage_for

    storage = storage_for(out, None)
    found = {}
    for summary in optuna.get_all_study_summaries(storage):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        found[summary.study_name] = complete_trials(study)
    return found


def quick_config(tmp_path: Path, **options) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(json.dumps({"methods": {"quick": options}, "datasets": ["synthrs-tiny"]}))
    return path


def tune_args(tmp_path: Path, trials: int, **options) -> list[str]:
    config = quick_config(tmp_path, **options)
    out = tmp_path / "tune"
    return ["tune", "--config", str(config), "--trials", str(trials), "--out", str(out)]


def test_a_two_trial_study_end_to_end_and_its_configs(tmp_path, monkeypatch, capsys):
    install_quick(tmp_path, monkeypatch)
    log = tmp_path / "fits.log"
    args = tune_args(tmp_path, 2, log=str(log))
    assert main(args) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    name = "quick:synthrs-tiny:caption_shuffle:0.4:small"
    assert f"{name}: trial 1/2 (slot 0): defaults" in err
    assert f"{name}: 2 trials, " in err and "noisy: slot" in err and "clean: slot" in err
    trials = studies(tmp_path / "tune")[name]
    assert sorted(t.user_attrs["slot"] for t in trials) == [0, 1]
    first = next(t for t in trials if t.user_attrs["slot"] == 0)
    assert first.user_attrs["options"] == {}  # trial 0: the profile's values
    second = next(t for t in trials if t.user_attrs["slot"] == 1)
    assert set(second.user_attrs["options"]) == {"epochs", "pause"}  # "log" was given: fixed
    records = list(iter_records([tmp_path / "tune"]))
    assert len(records) == 2 and all(r["search"] and "metrics" not in r for r in records)
    assert all(r["noise"]["ratio"] == 0.4 and r["validation"] == "noisy" for r in records)
    assert all("clean_mR" in r["val_metrics"] for r in records)
    for selection in ("noisy", "clean"):
        path = tmp_path / "tune" / f"tuned-{selection}.yaml"
        grid = parse_settings(read_config(path))  # what rsbench run --config reads
        assert [m.name for m in grid.methods] == ["quick"]
        assert grid.ratios == [0.0, 0.2, 0.4, 0.6, 0.8] and grid.methods[0].options["log"]
        assert f"# {name}: 2 trials" in path.read_text()
    summary = json.loads((tmp_path / "tune" / "tuned.json").read_text())
    assert summary[0]["trials"] == 2 and summary[0]["space"]["epochs"] == "integer 1–3"
    # a rerun finds the budget spent: nothing trains again
    assert main(args) == 0
    assert len(log.read_text().splitlines()) == 2


def test_the_test_split_is_never_read_during_search(tmp_path, monkeypatch, capsys):
    """The test images are made unreadable: a search that scored them would fail its cells."""
    from rsbench.run.runner import Runner

    load = Runner.load_dataset

    def without_test_images(self, pc):
        splits = load(self, pc)
        test = splits.test
        gone = [
            dataclasses.replace(i, path=tmp_path / "nowhere" / f"{i.id}.png") for i in test.images
        ]
        return dataclasses.replace(splits, test=dataclasses.replace(test, images=gone))

    monkeypatch.setattr(Runner, "load_dataset", without_test_images)
    args = ["tune", "--methods", "infonce", "--datasets", "synthrs-tiny", "--epochs", "1"]
    args += ["--trials", "2", "--out", str(tmp_path / "tune")]
    assert main(args) == 0, capsys.readouterr().err
    records = list(iter_records([tmp_path / "tune"]))
    assert len(records) == 2 and all(r["status"] == "ok" and r["search"] for r in records)
    assert all(r["val_metrics"]["clean_mR"] > 0 for r in records)
    assert all("near_chance" in r["health"]["checked"] for r in records)
    # the same broken test split fails an ordinary run: the guard is real
    run = ["run", "--methods", "infonce", "--datasets", "synthrs-tiny", "--epochs", "1"]
    run += ["--noise", "0.4", "--out", str(tmp_path / "runs"), "--no-leaderboard"]
    assert main(run) == 1


def tune_process(tmp_path: Path, args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rsbench", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )


def wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_kill_9_and_rerun_resumes_without_losing_or_repeating_a_finished_trial(
    tmp_path, monkeypatch
):
    install_quick(tmp_path, monkeypatch)
    log, gate = tmp_path / "fits.log", tmp_path / "gate"
    args = tune_args(tmp_path, 3, log=str(log), gate=str(gate))
    first = tune_process(tmp_path, args)
    wait_for(lambda: len(lines(log)) == 1)  # slot 0 is training (waiting at its gate)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    gate.touch()
    second = tune_process(tmp_path, args)
    assert second.wait(timeout=300) == 0, second.stderr.read()
    trials = studies(tmp_path / "tune")["quick:synthrs-tiny:caption_shuffle:0.4:small"]
    assert sorted(t.user_attrs["slot"] for t in trials) == [0, 1, 2]  # none lost, none twice
    assert len(lines(log)) == 4  # the interrupted slot 0, then the three slots once each
    third = tune_process(tmp_path, args)
    assert third.wait(timeout=300) == 0 and len(lines(log)) == 4  # nothing trained again


def test_two_processes_on_one_study_split_its_slots(tmp_path, monkeypatch):
    install_quick(tmp_path, monkeypatch)
    log, gate = tmp_path / "fits.log", tmp_path / "gate"
    args = tune_args(tmp_path, 4, log=str(log), gate=str(gate))
    procs = [tune_process(tmp_path, args) for _ in range(2)]
    wait_for(lambda: len(lines(log)) == 2)  # each process holds a slot at the gate
    gate.touch()
    codes = [p.wait(timeout=300) for p in procs]
    assert set(codes) <= {0, 1}, [p.stderr.read() for p in procs]
    if 1 in codes:  # one ended while the other still trained a slot: a rerun completes
        assert tune_process(tmp_path, args).wait(timeout=300) == 0
    trials = studies(tmp_path / "tune")["quick:synthrs-tiny:caption_shuffle:0.4:small"]
    assert sorted(t.user_attrs["slot"] for t in trials) == [0, 1, 2, 3]
    assert len({t.user_attrs["cell_id"] for t in trials}) == 4
    fits = lines(log)
    assert len(fits) == 4  # every slot trained once, by one of the two processes
    assert {line.split()[1] for line in fits} == {str(p.pid) for p in procs}


def test_bad_tune_input_is_one_line(tmp_path, capsys):
    out = ["--out", str(tmp_path / "t")]
    cases = [
        (["tune", "--methods", "infonce", "--trials", "0", *out], "--trials"),
        (["tune", "--methods", "infonce", "--sampler", "grid", *out], "--sampler 'grid'"),
        (["tune", "--methods", "infonce", "--storage", "nonsense", *out], "--storage 'nonsense'"),
        # the search seed is the trials' training seed: 32 bits, as --seeds of run
        (["tune", "--methods", "infonce", "--seed", str(2**32), *out], "from 0 to 4294967295"),
    ]
    for args, message in cases:
        assert main(args) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_a_study_whose_method_changed_its_space_is_an_error_or_starts_again(
    tmp_path, monkeypatch, capsys
):
    from rsbench.plugin.manager import get_plugins
    from rsbench.plugin.searchspace import Uniform

    install_quick(tmp_path, monkeypatch)
    log = tmp_path / "fits.log"
    args = tune_args(tmp_path, 2, log=str(log))
    assert main(args) == 0, capsys.readouterr().err
    quick = get_plugins().methods.get("quick").resolve()
    space = {**quick.SEARCH_SPACES["small"], "pause": Uniform(0.0, 0.02)}
    monkeypatch.setattr(quick, "SEARCH_SPACES", {"small": space})
    capsys.readouterr()
    assert main(args) == 2  # its two trials were drawn from the old space
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "changed: pause" in err and "--restart-changed" in err
    assert main([*args, "--restart-changed"]) == 0
    assert "its search space changed; started again" in capsys.readouterr().err
    name = "quick:synthrs-tiny:caption_shuffle:0.4:small"
    trials = studies(tmp_path / "tune")[name]
    assert sorted(t.user_attrs["slot"] for t in trials) == [0, 1]
    assert len(lines(log)) == 3  # slot 0 (the defaults) was done: only the new slot 1 trained
    assert main(args) == 0 and len(lines(log)) == 3  # the new space is the study's now


@pytest.mark.parametrize("sampler", ["tpe"])
def test_tpe_runs_the_defaults_first_then_its_suggestions(sampler, tmp_path, monkeypatch, capsys):
    install_quick(tmp_path, monkeypatch)
    args = [*tune_args(tmp_path, 3), "--sampler", sampler]
    assert main(args) == 0, capsys.readouterr().err
    trials = studies(tmp_path / "tune")["quick:synthrs-tiny:caption_shuffle:0.4:small"]
    assert len(trials) == 3 and {} in [t.user_attrs["options"] for t in trials]


def test_a_trial_of_a_detecting_method_records_its_detection(tmp_path, capsys):
    args = ["tune", "--methods", "infonce_gmm", "--datasets", "synthrs-tiny", "--epochs", "2"]
    assert main([*args, "--trials", "1", "--out", str(tmp_path / "tune")]) == 0, (
        capsys.readouterr().err
    )
    (record,) = list(iter_records([tmp_path / "tune"]))
    selected = record["detection"]["selected"]
    assert 0 <= selected["auc"] <= 1 and sum(selected["histogram"]["noisy"]) > 0
    assert record["health"]["checked"] and "metrics" not in record


def summary(ratio, sampler, slots):
    return {
        "study": f"m:d:n:{ratio:g}:small",
        "method": "m",
        "given_options": {"fixed": 1},
        "dataset": "d",
        "noise_model": "n",
        "profile": "small",
        "ratio": ratio,
        "sampler": sampler,
        "trials": len(slots),
        "epochs": 2 * len(slots),
        "seed": 0,
        "slots": {
            k: {"options": {"lr": k / 10}, "noisy_val_mR": v, "clean_val_mR": c}
            for k, (v, c) in slots.items()
        },
        "chosen": {
            "noisy": {"slot": max(slots, key=lambda k: slots[k][0]), "options": {}},
        },
    }


def test_several_tuning_ratios_choose_the_point_with_the_best_mean():
    from rsbench.io.errors import RsbenchError
    from rsbench.run.tune import choose

    low = summary(0.2, "random", {0: (30.0, 40.0), 1: (34.0, 41.0), 2: (20.0, 44.0)})
    high = summary(0.6, "random", {0: (20.0, 30.0), 1: (12.0, 29.0), 2: (19.0, 35.0)})
    noisy = choose([low, high], "noisy")["m"]  # means: slot 0 25, slot 1 23, slot 2 19.5
    assert noisy["slot"] == 0 and noisy["noisy_val_mR"] == 25.0 and noisy["ratios"] == [0.2, 0.6]
    clean = choose([low, high], "clean")["m"]  # means: 35, 35, 39.5
    assert clean["slot"] == 2 and clean["options"] == {"lr": 0.2}
    assert choose([low], "noisy")["m"]["slot"] == 1  # one ratio: its study's own choice
    tpe = [summary(0.2, "tpe", {0: (1.0, 1.0)}), summary(0.6, "tpe", {0: (1.0, 1.0)})]
    with pytest.raises(RsbenchError, match="use --per-ratio, or the random sampler"):
        choose(tpe, "noisy")


def test_per_ratio_tuning_writes_one_config_per_ratio(tmp_path, monkeypatch, capsys):
    install_quick(tmp_path, monkeypatch)
    args = [*tune_args(tmp_path, 2), "--tune-ratio", "0.2,0.4"]
    assert main([*args, "--per-ratio"]) == 0, capsys.readouterr().err
    out = tmp_path / "tune"
    for ratio in ("0.2", "0.4"):
        config = read_config(out / f"tuned-noisy-{ratio}.yaml")
        assert config["noise"] == ratio and list(config["methods"]) == ["quick"]
    assert main(args) == 0  # the same studies, one config for every ratio: nothing retrains
    text = (out / "tuned-noisy.yaml").read_text()
    assert "(tuned at 20 %, 40 %)" in text and "mean noisy validation mR" in text
    assert parse_settings(read_config(out / "tuned-noisy.yaml")).ratios == [0.0, 0.2, 0.4, 0.6, 0.8]


def test_the_tuned_configs_define_tracks_that_the_leaderboard_shows(tmp_path, monkeypatch, capsys):
    """tune → run the paper grid and the tuned grid → one leaderboard with both tracks, which
    the committed record export alone regenerates."""
    from rsbench.records.read import read_records_export
    from rsbench.report.board import check_folder

    install_quick(tmp_path, monkeypatch)
    assert main([*tune_args(tmp_path, 2), "--seed", "3"]) == 0
    tuned = tmp_path / "tune" / "tuned-noisy.yaml"
    block = read_config(tuned)["track"]
    assert block["name"] == "tuned" and block["selection"] == "noisy"
    assert block["trials"] == 2 and block["tuning_ratios"] == [0.4]
    pick = block["methods"]["quick"]
    assert pick["trials"] == 2 and pick["slot"] in (0, 1)
    assert read_config(tmp_path / "tune" / "tuned-clean.yaml")["track"]["name"] == "oracle"
    paper = quick_config(tmp_path)
    runs, board = tmp_path / "runs", tmp_path / "board"
    for config in (paper, tuned):
        args = ["run", "--config", str(config), "--noise", "0,0.4", "--out", str(runs)]
        assert main([*args, "--leaderboard-dir", str(tmp_path / "lb")]) == 0
    capsys.readouterr()
    tracks = ["--track", f"paper={paper}", "--track", str(tuned)]
    assert main(["leaderboard", str(runs), "--out", str(board), *tracks]) == 0
    text = (board / "synthrs-tiny.md").read_text()
    assert "— paper" in text and "— tuned hyperparameters (noisy-validation selection)" in text
    assert "other (in no track)" not in text  # every run cell belongs to a track
    assert "| quick [tuned] " in text and "| quick [paper] " in text
    assert f"slot {pick['slot']}: " in text
    header, records = read_records_export(board / "records/synthrs-tiny.jsonl")
    shared = set(header["tracks"][0]["cells"]) & set(header["tracks"][1]["cells"])
    assert len(records) == (4 if pick["slot"] == 0 else 6)  # the tuned grid: seeds 0 and 1
    assert bool(shared) == (pick["slot"] == 0)  # a tuned choice equal to the defaults: shared
    assert check_folder(board).ok


def test_dry_run_lists_done_and_coming_trials_and_writes_nothing(tmp_path, monkeypatch, capsys):
    install_quick(tmp_path, monkeypatch)
    args = tune_args(tmp_path, 3)
    out = tmp_path / "tune"
    assert main([*args, "--dry-run"]) == 0
    assert not out.exists()  # no storage, no folder
    listed = capsys.readouterr().out
    assert "quick:synthrs-tiny:caption_shuffle:0.4:small: 0 of 3 trials done, 3 to run" in listed
    assert "  slot 0: defaults" in listed and "  searches epochs: integer 1–3" in listed
    coming = [line for line in listed.splitlines() if line.startswith("  slot 2: ")]
    assert main(args[:4] + ["2", *args[5:]]) == 0  # two trials trained
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    capsys.readouterr()
    assert main([*args, "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert "2 of 3 trials done, 1 to run" in captured.out
    assert coming and coming[0] in captured.out  # the same seeded point as before
    assert "budget: 1 cells" in captured.err and "estimate: 1 of 1 cells measured" in captured.err
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before


def test_median_pruning_stops_trials_below_the_median_and_counts_their_epochs(
    tmp_path, monkeypatch, capsys
):
    from rsbench.run.tune import PRUNE_STARTUP

    install_quick(tmp_path, monkeypatch)
    log = tmp_path / "fits.log"
    args = [*tune_args(tmp_path, 8, curve=True, log=str(log)), "--epochs", "3", "--seed", "2"]
    assert main([*args, "--pruner", "median"]) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    import optuna

    from rsbench.run.tune import spent_trials, storage_for

    name = "quick:synthrs-tiny:caption_shuffle:0.4:small"
    study = optuna.load_study(study_name=name, storage=storage_for(tmp_path / "tune", None))
    spent = spent_trials(study)
    assert sorted(spent) == list(range(8))
    pruned = [t for t in spent.values() if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned, "no trial was pruned"
    records = {r["cell_id"]: r for r in iter_records([tmp_path / "tune"])}
    for t in pruned:
        slot = t.user_attrs["slot"]
        assert slot >= PRUNE_STARTUP and f"slot {slot} pruned after epoch" in err
        stop = t.user_attrs["pruned_after_epoch"]
        record = records[t.user_attrs["cell_id"]]
        assert 2 <= stop < 3 and len(record["history"]) == stop == t.user_attrs["epochs"]
        assert record["spec"]["prune"] == "median"
        # the median of the trials finished before it, at the epoch it stopped
        earlier = [
            u.intermediate_values[stop]
            for u in spent.values()
            if u.number < t.number and stop in u.intermediate_values
        ]
        assert t.intermediate_values[stop] < sorted(earlier)[len(earlier) // 2] + 1e-9
    summary = json.loads((tmp_path / "tune" / "tuned.json").read_text())[0]
    assert summary["pruned"] == len(pruned) and summary["pruner"] == "median"
    assert summary["epochs"] == sum(t.user_attrs["epochs"] for t in spent.values()) < 8 * 3
    assert summary["chosen"]["noisy"]["slot"] not in {t.user_attrs["slot"] for t in pruned}
    block = read_config(tmp_path / "tune" / "tuned-noisy.yaml")["track"]
    assert block["pruner"] == "median" and block["methods"]["quick"]["pruned"] == len(pruned)
    # the budget is spent: a rerun trains nothing
    fits = len(log.read_text().splitlines())
    assert main([*args, "--pruner", "median"]) == 0
    assert len(log.read_text().splitlines()) == fits


def test_without_a_pruner_every_trial_trains_its_epochs(tmp_path, monkeypatch, capsys):
    install_quick(tmp_path, monkeypatch)
    args = [*tune_args(tmp_path, 5, curve=True), "--epochs", "3", "--seed", "1"]
    assert main(args) == 0
    records = list(iter_records([tmp_path / "tune"]))
    assert len(records) == 5 and all(len(r["history"]) == 3 for r in records)
    assert all("prune" not in r["spec"] for r in records)
    assert json.loads((tmp_path / "tune" / "tuned.json").read_text())[0]["pruned"] == 0
    assert main([*args, "--pruner", "hyperband"]) == 2
    assert "--pruner 'hyperband' is not one of: none, median" in capsys.readouterr().err


def test_workers_split_the_trials_of_one_study(tmp_path, monkeypatch, capsys):
    """--workers 2: a second tune process joins the same studies; every slot is trained once,
    by one of the two, and the configs are written once everything has finished."""
    install_quick(tmp_path, monkeypatch)
    log = tmp_path / "fits.log"
    args = tune_args(tmp_path, 6, log=str(log), delay=1.5)  # slow enough for both to train
    assert main([*args, "--workers", "2"]) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "2 processes on the studies, 1 CPU thread(s) each" in err
    pids = [line.split()[1] for line in log.read_text().splitlines()]
    assert len(pids) == 6 and len(set(pids)) == 2  # six trainings, by two processes
    trials = studies(tmp_path / "tune")["quick:synthrs-tiny:caption_shuffle:0.4:small"]
    assert sorted(t.user_attrs["slot"] for t in trials) == list(range(6))
    assert json.loads((tmp_path / "tune" / "tuned.json").read_text())[0]["trials"] == 6
    assert (tmp_path / "tune" / "tuned-noisy.yaml").is_file()
