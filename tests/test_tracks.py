"""Leaderboard tracks: paper and tuned hyperparameters side by side, matched by cell id, kept
in the record export so that the committed files alone regenerate the page."""

from __future__ import annotations

import re

import pytest

from rsbench.cli.main import main
from rsbench.io.errors import RsbenchError
from rsbench.records.read import read_records_export
from rsbench.report.board import build_board, check_folder, write_folder
from rsbench.report.tracks import Track
from rsbench.run.settings import parse_settings
from tests.report_records import record

TUNED_ABOUT = {
    "selection": "noisy",
    "trials": 6,
    "sampler": "random",
    "seed": 0,
    "tuning_ratios": [0.4],
    "methods": {
        "infonce": {
            "slot": 0,
            "options": {},
            "noisy_val_mR": 30.0,
            "clean_val_mR": 41.0,
            "trials": 6,
            "failed": 0,
            "epochs": 24,
        },
        "vse": {
            "slot": 3,
            "options": {"epochs": 6, "lr": 0.0003},
            "noisy_val_mR": 28.5,
            "clean_val_mR": 39.25,
            "trials": 6,
            "failed": 1,
            "epochs": 22,
        },
    },
}


def tracked_records():
    """infonce at its defaults (the tuned choice too), vse at its defaults and tuned, and one
    record that no track holds."""
    paper, tuned, out = set(), set(), []
    for ratio in (0.0, 0.4, 0.8):
        for seed in (0, 1):
            base = 50 - 40 * ratio + seed
            a = record("infonce", ratio, seed, base)
            b = record("vse", ratio, seed, base - 6)
            c = record("vse", ratio, seed, base - 1, params={"epochs": 6, "lr": 0.0003})
            out += [a, b, c]
            paper |= {a["cell_id"], b["cell_id"]}
            tuned |= {a["cell_id"], c["cell_id"]}
    stray = record("vse", 0.4, 0, 3.0, params={"epochs": 1})
    tracks = [
        Track("paper", "paper hyperparameters", frozenset(paper)),
        Track("tuned", "tuned (noisy-validation selection)", frozenset(tuned), TUNED_ABOUT),
    ]
    return [*out, stray], tracks


def mr_rows(text: str, heading: str) -> dict[str, list[str]]:
    block = text.split(heading, 1)[1].split("### mR by noise ratio", 1)[1]
    table = re.search(r"((?:^\|.*\n)+)", block, flags=re.M).group(1)
    rows = [line for line in table.splitlines()[2:]]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    return {c[0]: c[1:] for c in cells}


def test_each_track_is_its_own_section_and_shared_cells_sit_in_both():
    records, tracks = tracked_records()
    text = build_board("toy", records, tracks=tracks).markdown()
    paper = "## caption_shuffle (caption-level noise), small profile — paper hyperparameters"
    tuned = "## caption_shuffle (caption-level noise), small profile — tuned (noisy-validation"
    other = "## caption_shuffle (caption-level noise), small profile — other (in no track)"
    assert text.index(paper) < text.index(tuned) < text.index(other)
    paper_rows = mr_rows(text, paper)
    tuned_rows = mr_rows(text, tuned)
    assert set(paper_rows) == set(tuned_rows) == {"infonce", "vse"}  # one config each
    assert paper_rows["infonce"] == tuned_rows["infonce"]  # the same cells
    assert paper_rows["vse"][0].startswith("44.50") and tuned_rows["vse"][0].startswith("49.50")
    assert text.count("### Published results") == 1  # in the first track only
    other_block = text.split(other, 1)[1]
    assert "3.00" in other_block and "49.50" not in other_block


def test_a_tuned_track_states_its_budget_and_each_choice():
    records, tracks = tracked_records()
    text = build_board("toy", records, tracks=tracks).markdown()
    paper, tuned = text.split("— paper hyperparameters", 1)[1].split("— tuned (noisy", 1)
    tuned = tuned.split("— other (in no track)", 1)[0]
    assert "Search budget" not in paper and "Search spent" not in paper
    assert (
        "- Search budget, the same for every method: 6 trials per method (trial 0 = the "
        "profile's values), random sampler, search seed 0, tuned at 40 %"
    ) in tuned
    assert "noisy validation split (realistic" in tuned
    rows = {
        line.split("|")[1].strip(): line
        for line in tuned.split("### Methods", 1)[1].splitlines()
        if line.startswith("| infonce") or line.startswith("| vse")
    }
    assert "6 trials, 24 epochs" in rows["infonce"] and "slot 0: the defaults" in rows["infonce"]
    assert "6 trials, 22 epochs, 1 failed" in rows["vse"]
    assert "slot 3: epochs=6, lr=0.0003 (val mR noisy 28.50, clean 39.25)" in rows["vse"]


def test_tracks_travel_in_the_export_and_the_page_regenerates_from_it(tmp_path, capsys):
    records, tracks = tracked_records()
    out = tmp_path / "board"
    write_folder(records, out, tracks=tracks)
    header, _ = read_records_export(out / "records/toy.jsonl")
    assert [t["name"] for t in header["tracks"]] == ["paper", "tuned"]
    assert header["tracks"][1]["about"]["methods"]["vse"]["slot"] == 3
    figures = sorted(p.name for p in (out / "plots/toy").glob("*-mr.png"))
    assert figures == [  # the mR-vs-noise figure per track
        "caption-shuffle-small-other-mr.png",
        "caption-shuffle-small-paper-mr.png",
        "caption-shuffle-small-tuned-mr.png",
    ]
    assert check_folder(out).ok
    page = (out / "toy.md").read_bytes()
    assert main(["leaderboard", str(out / "records/toy.jsonl"), "--out", str(out)]) == 0
    assert (out / "toy.md").read_bytes() == page  # the tracks came back from the header
    # without tracks the same records make a page with one section, and --check sees it
    write_folder(records, tmp_path / "plain")
    assert "— paper" not in (tmp_path / "plain/toy.md").read_text()
    (out / "toy.md").write_bytes((tmp_path / "plain/toy.md").read_bytes())
    assert not check_folder(out).ok


def test_a_tracks_notes_explain_its_methods_under_its_own_table_only(tmp_path):
    records, tracks = tracked_records()
    notes = {"vse": "hardest negatives follow the noisy pairs.", "absent": "not shown"}
    tracks[0] = Track(tracks[0].name, tracks[0].title, tracks[0].cells, {"notes": notes})
    text = build_board("toy", records, tracks=tracks).markdown()
    paper, tuned = text.split("— paper hyperparameters", 1)[1].split("— tuned (noisy", 1)
    assert "### Notes on the results" in paper and "### Notes on the results" not in tuned
    assert "- **vse**: hardest negatives follow the noisy pairs." in paper
    assert "absent" not in text  # a note on a method the section does not show is left out
    out = tmp_path / "board"
    write_folder(records, out, tracks=tracks)  # the notes travel in the export's header
    header, _ = read_records_export(out / "records/toy.jsonl")
    assert header["tracks"][0]["about"]["notes"] == notes
    assert check_folder(out).ok


def test_records_of_a_board_without_tracks_keep_their_old_export():
    records, _ = tracked_records()
    board = build_board("toy", records)
    assert board.tracks == [] and len(board.sections) == 1


@pytest.mark.parametrize(
    "block",
    [
        {"title": "x"},
        "tuned",
        {"name": ""},
        {"name": "other"},
        {"name": "paper", "notes": "rrsitr is low"},
        {"name": "paper", "notes": {"rrsitr": 3}},
        {"name": "paper", "notes": {"rrsitr": "  "}},
    ],
)
def test_a_bad_track_block_is_refused(block):
    """Checked with the config's other settings, the message naming the file."""
    with pytest.raises(RsbenchError, match=r"^config file x\.yaml: .*track") as caught:
        parse_settings({"methods": "infonce", "track": block}, where="config file x.yaml")
    assert "\n" not in str(caught.value)


def test_a_track_from_a_config_holds_exactly_the_cells_it_runs(tmp_path, capsys):
    from rsbench.plugin.manager import get_plugins
    from rsbench.report.tracks import track_from_config

    config = tmp_path / "grid.yaml"
    config.write_text(
        "track: {name: mine, title: my values}\nmethods: {infonce: {lr: 0.001}}\n"
        "datasets: [synthrs-tiny]\nnoise: [0, 0.4]\nseeds: [0, 1]\n"
    )
    track = track_from_config(str(config), get_plugins())
    assert (track.name, track.title, len(track.cells)) == ("mine", "my values", 4)
    renamed = track_from_config(f"other-name={config}", get_plugins())
    assert renamed.name == "other-name" and renamed.cells == track.cells
    assert main(["run", "--config", str(config), "--dry-run"]) == 0
    listed = set(re.findall(r"\b[0-9a-f]{16}\b", capsys.readouterr().out))
    assert track.cells <= listed


def test_a_run_into_a_tracked_folder_keeps_its_tracks(tmp_path):
    """rsbench run refreshes a leaderboard folder without naming tracks: those kept in its
    record export stay (a track is the cells its config ran when it was given: a cell added
    later shows under "other" until the track is given again)."""
    records, tracks = tracked_records()
    out = tmp_path / "board"
    write_folder(records, out, tracks=tracks)
    page = (out / "toy.md").read_text()
    write_folder(records, out)  # what a run's refresh does
    assert (out / "toy.md").read_text() == page
    write_folder(records, out, tracks=[])  # tracks dropped only when asked
    assert "— paper" not in (out / "toy.md").read_text()


def test_a_track_with_the_same_cells_as_an_earlier_one_is_said_once():
    """Both selections choosing the same values: the oracle track is named, not repeated."""
    records, tracks = tracked_records()
    oracle = Track("oracle", "oracle (clean-validation selection)", tracks[1].cells)
    text = build_board("toy", records, tracks=[*tracks, oracle]).markdown()
    assert "`[oracle]` (oracle (clean-validation selection)) holds exactly the cells of " in text
    assert "— oracle" not in text and "[oracle] |" not in text
    assert text.count("— tuned (noisy-validation selection)") == 1


def test_the_side_by_side_table_marks_results_with_a_health_warning():
    records, tracks = tracked_records()
    for r in records:  # vse's paper cells at 40 %: a degenerate partition
        paper_vse = r["method"]["name"] == "vse" and r["cell_id"] in tracks[0].cells
        if paper_vse and r["noise"]["ratio"] == 0.4:
            r["health"] = {"warnings": [{"check": "degenerate_partition", "detail": "x"}]}
    text = build_board("toy", records, tracks=tracks).markdown()
    side = text.split("## Tracks side by side", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip(): line for line in side.splitlines() if line.startswith("| ")}
    assert "⚠" in rows["vse [paper]"].split("|")[3]  # the 40 % column
    assert "⚠" not in rows["vse [tuned]"] and "⚠" not in rows["infonce [paper]"]
    assert "Health warnings" in side
