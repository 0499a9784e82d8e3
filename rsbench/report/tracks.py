"""Leaderboard tracks: the same methods under named hyperparameter protocols, side by side.

A fair comparison shows each method twice: with its paper's hyperparameters, and with those
chosen by the same search budget for every method (``rsbench tune``), selected on the noisy
validation split (what a practitioner has); the choice made on the clean validation split is
the oracle, shown on its own. Each of these is a *track*.

A track is defined by a grid config (``rsbench run --config``): the cells that config runs are
the track's cells. Its optional ``track:`` block names it and says how its values were chosen
(``rsbench tune`` writes one with the budget and each method's choice). Tracks are matched by
cell id, so a tuned choice equal to the paper's values shares its cells with the paper track
and costs nothing more, and a record can sit in several tracks. The tracks are kept in the
header of the leaderboard's record export, so ``rsbench leaderboard records/<dataset>.jsonl``
and ``--check`` regenerate the same page from the committed files alone.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from rsbench.io.errors import RsbenchError
from rsbench.plugin.searchspace import format_point
from rsbench.run.settings import OTHER_TRACK as OTHER


@dataclasses.dataclass(frozen=True)
class Track:
    name: str
    title: str
    cells: frozenset[str]
    #: how the values were chosen: selection, trials, sampler, seed, tuning ratios, and per
    #: method its choice (``methods``); empty for a paper track
    about: dict[str, Any] = dataclasses.field(default_factory=dict, hash=False, compare=False)

    def to_json(self, cells: set[str] | None = None) -> dict[str, Any]:
        """The header entry, with only the cells in ``cells`` (the board's) when given."""
        kept = self.cells if cells is None else self.cells & cells
        return {"name": self.name, "title": self.title, "cells": sorted(kept), "about": self.about}

    @classmethod
    def from_json(cls, data: Any, where: str) -> Track:
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise RsbenchError(f"{where}: a track must be a mapping with a 'name'")
        cells = data.get("cells") or []
        if not isinstance(cells, list) or not all(isinstance(c, str) for c in cells):
            raise RsbenchError(f"{where}: track {data['name']!r}: 'cells' must be a list of ids")
        about = data.get("about") or {}
        if not isinstance(about, dict):
            raise RsbenchError(f"{where}: track {data['name']!r}: 'about' must be a mapping")
        return cls(data["name"], str(data.get("title") or data["name"]), frozenset(cells), about)


def track_from_config(spec: str, plugins) -> Track:
    """The track a grid config defines: ``[NAME=]PATH`` (``NAME`` overrides the config's
    ``track.name``; without either, the file's stem)."""
    from rsbench.run.runner import Runner
    from rsbench.run.settings import parse_settings, read_config

    name, _, path = spec.rpartition("=")
    path = Path(path)
    grid = parse_settings(read_config(path), where=f"config file {path}")
    block = grid.track
    name = name or block.get("name") or path.stem
    if name == OTHER:
        raise RsbenchError(f"--track {spec}: the track name {OTHER!r} is reserved; choose another")
    cells = Runner(grid, plugins).prepare(check=False)
    about = {k: v for k, v in block.items() if k not in ("name", "title")}
    return Track(name, str(block.get("title") or name), frozenset(c.cell_id for c in cells), about)


def merge_tracks(tracks: list[Track]) -> list[Track]:
    """One track per name, in first-seen order (the same name twice: the union of its cells,
    the first one's description)."""
    merged: dict[str, Track] = {}
    for t in tracks:
        if t.name in merged:
            old = merged[t.name]
            merged[t.name] = dataclasses.replace(old, cells=old.cells | t.cells)
        else:
            merged[t.name] = t
    return list(merged.values())


def same_cells(tracks: list[Track], ids: set[str]) -> dict[str, str]:
    """Track name → the earlier track with exactly its cells on this board (the oracle
    selection choosing what the realistic one chose): shown once, under the earlier one."""
    same: dict[str, str] = {}
    for i, t in enumerate(tracks):
        mine = t.cells & ids
        for earlier in tracks[:i]:
            if mine and earlier.name not in same and mine == earlier.cells & ids:
                same[t.name] = earlier.name
                break
    return same


def memberships(record: dict, tracks: list[Track]) -> list[tuple[int, Track | None]]:
    """(order, track) of every track holding the record; a record in none: (len, None)."""
    found = [(i, t) for i, t in enumerate(tracks) if record["cell_id"] in t.cells]
    return found or [(len(tracks), None)]


def budget_line(track: Track) -> str | None:
    """One line on how a tuned track's values were chosen, or None for a track without facts."""
    a = track.about
    if not a.get("trials"):
        return None
    ratios = ", ".join(f"{float(r) * 100:g} %" for r in a.get("tuning_ratios") or []) or "?"
    selection = SELECTION_TEXT.get(a.get("selection"), str(a.get("selection")))
    return (
        f"- Search budget, the same for every method: {a['trials']} trials per method "
        f"(trial 0 = the profile's values), {a.get('sampler', '?')} sampler"
        + (f", {a['pruner']} pruning" if a.get("pruner", "none") != "none" else "")
        + ", search seed "
        f"{a.get('seed', '?')}, tuned at {ratios} and selected on the {selection}; the test "
        "split is never read during the search. The chosen values apply at every noise ratio."
    )


def note_lines(track: Track | None, methods: set[str]) -> list[str]:
    """The track's notes on the methods shown (``track.notes`` of its config), one line each:
    what its author measured to explain a number (a health warning's cause, a card's finding)."""
    notes = (track.about.get("notes") or {}) if track else {}
    return [f"- **{m}**: {notes[m].strip()}" for m in sorted(notes) if m in methods]


SELECTION_TEXT = {
    "noisy": "noisy validation split (realistic: the same noise as training)",
    "clean": "clean validation split (the oracle: a practitioner has no clean labels)",
}


def chosen_columns(track: Track | None, method: str) -> list[str] | None:
    """The Methods-table cells of a tuned track: the trials and epochs spent, and the choice."""
    if track is None or not track.about.get("trials"):
        return None
    m = (track.about.get("methods") or {}).get(method)
    if not m:
        return ["–", "not tuned"]
    spent = f"{m.get('trials', '?')} trials, {m.get('epochs', '?')} epochs"
    if m.get("pruned"):
        spent += f", {m['pruned']} pruned"
    if m.get("failed"):
        spent += f", {m['failed']} failed"
    options = m.get("options") or {}
    values = format_point(options) or "the defaults"
    choice = f"slot {m.get('slot', '?')}: {values}"
    if m.get("noisy_val_mR") is not None:
        choice += f" (val mR noisy {m['noisy_val_mR']:.2f}, clean {m.get('clean_val_mR', 0):.2f})"
    return [spent, choice]
