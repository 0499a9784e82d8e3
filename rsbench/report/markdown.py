"""Markdown leaderboards, generated from cell records only.

One file per dataset, ``<dir>/<dataset>.md``. For each protocol (noise model and its options,
method profile, validation mode) a section holds:

1. the protocol, epochs and seeds, and the noise files: nominal and effective noise rate, the
   share of corrupted pairs that stay within a scene class, content hash;
2. a table like RRSITR's: per noise ratio, one row per method with I→T R@1/5/10, T→I R@1/5/10
   and mR, mean ± std over training seeds, the best mean per column in bold (and the same with
   multi-positive evaluation when asked);
3. a compact mR-by-ratio table, then whether each method's lead over the next one is
   significant (`rsbench.evaluate.statistics`: a paired t-test over seeds, or a paired bootstrap over
   test images for single-seed runs), marked † (not significant) or ‡ (not tested) in both
   tables;
4. for methods that estimate which pairs are clean, a detection table (AUC and F1 of finding
   the noisy pairs, at the selected checkpoint);
5. the methods' versions and options, and the YAML grid that re-runs the section.

Everything is sorted and formatted with fixed precision, with no timestamps, so the same
records always give the same bytes.

Figures, published blocks and lines about optional record fields are added by
``rsbench.report`` through the ``extras`` hook of ``render_dataset``; the tables themselves are
`rsbench.report.tables`; ``rsbench.report.board``
writes and checks whole leaderboard folders (Markdown, figures, exports, records).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from rsbench.evaluate.statistics import leads
from rsbench.io.files import atomic_write_text, canonical_json
from rsbench.plugin.names import child_path
from rsbench.records.read import error_message
from rsbench.report.tables import (
    HEALTH_TEXT,
    MARK_MEANINGS,
    SIGNIFICANCE_TEXT,
    _fmt_options,
    _method_key,
    _plain,
    detection_table,
    health_notes,
    join_marks,
    lead_marks,
    methods_table,
    mr_table,
    noise_table,
    reproduce_config,
    retrieval_table,
    significance_table,
)
from rsbench.run.outputs import check_output_file

if TYPE_CHECKING:
    from rsbench.report.tracks import Track

NOTES_TEXT = (
    "What explains a number, as the track's config (`track.notes`) states it from measurements: "
    "the cause behind a health warning or a result that contradicts its paper."
)

# (section key, the section's records) -> {slot: Markdown lines}; see render_section.
SectionExtras = Callable[[tuple, list[dict]], dict[str, list[str]]]


# ---- small formatting helpers ----------------------------------------------------------------


# ---- grouping ------------------------------------------------------------------------------


def _method_labels(records: list[dict]) -> dict[str, str]:
    """Row label per method configuration: its name, plus the options that set it apart."""
    configs: dict[str, dict[str, dict]] = {}
    for r in records:
        configs.setdefault(r["method"]["name"], {})[_method_key(r)] = r["method"]["params"]
    labels = {}
    for name, by_key in configs.items():
        if len(by_key) == 1:
            labels.update(dict.fromkeys(by_key, name))
            continue
        varying = sorted(
            {
                k
                for p in by_key.values()
                for k in p
                if len({canonical_json(q.get(k)) for q in by_key.values()}) > 1
            }
        )
        for key, params in by_key.items():
            shown = ", ".join(f"{k}={_plain(params.get(k))}" for k in varying)
            labels[key] = (
                f"{name} ({shown})"
                if len(shown) <= 60
                else f"{name} [{hashlib.sha256(key.encode()).hexdigest()[:6]}]"
            )
    return labels


def _section_key(r: dict) -> tuple[str, ...]:
    return tuple(
        str(v)
        for v in (
            r["noise"]["model"],
            r["noise"]["version"],
            canonical_json(r["noise"]["params"]),
            r["method"].get("profile", "small"),
            r.get("validation", "clean"),
            r["dataset"].get("version"),
            r["dataset"].get("split"),
        )
    )


def _groups(ok: list[dict], labels: dict[str, str]) -> dict[tuple[float, str], list[dict]]:
    groups: dict[tuple[float, str], list[dict]] = {}
    for r in ok:
        groups.setdefault((r["noise"]["ratio"], labels[_method_key(r)]), []).append(r)
    return groups


# ---- rendering ---------------------------------------------------------------------------


def render_dataset(
    dataset: str,
    records: list[dict],
    multi_positive: bool = False,
    *,
    header: list[str] | None = None,
    extras: SectionExtras | None = None,
    tracks: list[Track] | None = None,
) -> str:
    """The Markdown leaderboard of one dataset.

    ``header``: more lines for the list under the title (e.g. where the records are);
    ``extras``: per section, more Markdown at named places (see ``render_section``);
    ``tracks``: each section is shown once per track (``rsbench.report.tracks``)."""
    ok = [r for r in records if r.get("status") == "ok"]
    failed = [r for r in records if r.get("status") != "ok"]
    lines = [f"# {dataset} leaderboard", ""]
    lines.append(
        "Generated by `rsbench leaderboard` from the cell records alone; every number below was "
        "measured by rsbench. Values are percentages, mean ± std over training seeds (std shown "
        "from two seeds on); the best mean of each column within a noise ratio is in bold."
    )
    lines.append("")
    versions = sorted({str(r["dataset"].get("version")) for r in records})
    splits = sorted({str(r["dataset"].get("split")) for r in records})
    lines.append(
        f"- Dataset: `{dataset}` (version {', '.join(versions)}), split definition: {', '.join(splits)}"
    )
    sizes = {canonical_json(r["dataset"].get("sizes")) for r in ok if r["dataset"].get("sizes")}
    if len(sizes) == 1:
        s = ok[0]["dataset"]["sizes"]
        lines.append(
            "- Images (captions): "
            + ", ".join(
                f"{name} {s[name]['images']} ({s[name]['captions']})"
                for name in ("train", "val", "test")
            )
        )
    rsbench_versions = sorted({r["environment"].get("rsbench", "?") for r in records})
    lines.append(f"- rsbench version: {', '.join(rsbench_versions)}")
    lines.extend(header or [])
    lines.append("")

    sections = group_sections(records, tracks)
    if tracks:
        lines.extend(tracks_side_by_side(sections, tracks, records))
    for key in sorted(sections):
        more = extras(key, sections[key]) if extras else None
        track = section_track(key, tracks)
        lines.extend(render_section(sections[key], multi_positive, extras=more, track=track))
    if failed:
        lines += ["## Failed cells", "", "Recorded as failed and left out of the tables above:", ""]
        for r in sorted(
            failed,
            key=lambda r: (
                r["method"]["name"],
                r["noise"]["model"],
                r["noise"]["ratio"],
                r["seed"],
            ),
        ):
            message = (error_message(r, "unknown error").splitlines() or ["unknown error"])[0]
            lines.append(
                f"- {r['method']['name']}, {r['noise']['model']} {r['noise']['ratio']:g}, seed {r['seed']} "
                f"(cell `{r['cell_id']}`): {message}"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def group_sections(
    records: list[dict], tracks: list[Track] | None = None
) -> dict[tuple, list[dict]]:
    """Records by section: noise model and options, profile, validation, dataset version, split;
    with tracks, by track first (a record in two tracks is in both sections; one in none, in
    the ``other`` track's)."""
    from rsbench.report.tracks import OTHER, memberships, same_cells

    sections: dict[tuple, list[dict]] = {}
    shown_elsewhere = same_cells(tracks or [], {r["cell_id"] for r in records})
    for r in records:
        if not tracks:
            sections.setdefault(_section_key(r), []).append(r)
            continue
        for order, track in memberships(r, tracks):
            if track is not None and track.name in shown_elsewhere:
                continue  # the same cells as an earlier track: said once, in the side-by-side
            key = (f"{order:03d}", track.name if track else OTHER, *_section_key(r))
            sections.setdefault(key, []).append(r)
    return sections


def tracks_side_by_side(
    sections: dict[tuple, list[dict]], tracks: list[Track], records: list[dict]
) -> list[str]:
    """Per protocol, one mR-by-noise table with a row per method and track: what tuning
    changed, at a glance (each track's own section has the detail); then the tracks that hold
    the same cells as an earlier one."""
    from rsbench.report.tracks import same_cells

    by_protocol: dict[tuple, dict[tuple[float, str], list[dict]]] = {}
    for key in sorted(sections):
        ok = [r for r in sections[key] if r.get("status") == "ok"]
        labels = _method_labels(ok)
        merged = by_protocol.setdefault(key[2:], {})
        for (ratio, label), rs in _groups(ok, labels).items():
            merged[(ratio, f"{label} [{key[1]}]")] = rs
    lines = ["## Tracks side by side", "", TRACKS_TEXT, ""]
    for protocol, groups in by_protocol.items():
        if not groups:
            continue
        first = next(iter(groups.values()))[0]
        lines.append(
            f"### {first['noise']['model']}, {first['method'].get('profile', 'small')} profile"
            + (f", {protocol[4]} validation" if protocol[4] != "clean" else "")
        )
        # ⚠ where a cell has a health warning: its cause is named in that track's section
        lines += ["", mr_table(groups, join_marks({}, health_notes(groups))), ""]
    titles = {t.name: t.title for t in tracks}
    for name, earlier in same_cells(tracks, {r["cell_id"] for r in records}).items():
        lines.append(
            f"`[{name}]` ({titles[name]}) holds exactly the cells of `[{earlier}]` "
            f"({titles[earlier]}): every method's values are the same in both, so its results "
            f"are those of `[{earlier}]` and are not repeated."
        )
        lines.append("")
    return lines


TRACKS_TEXT = (
    "mR (mean ± std over training seeds) of every method in every track: `[paper]` the "
    "methods' own hyperparameters, `[tuned]` those chosen by the same search budget for every "
    "method on the noisy validation split, `[oracle]` those chosen on the clean validation "
    "split (not available in practice). A tuned choice equal to the paper's values shares its "
    "cells. ⚠ marks a result with a health warning, whose measured cause is named under "
    '"Health warnings" in that track\'s section below (and explained under "Notes on the '
    'results" where the track gives notes), with the full tables, the budget and the choices.'
)


def section_track(key: tuple, tracks: list[Track] | None) -> Track | None | bool:
    """The track of a section key: a Track, ``False`` for the ``other`` records of a tracked
    board, ``None`` on a board without tracks."""
    if not tracks:
        return None
    return next((t for t in tracks if t.name == key[1]), False)


def render_section(
    records: list[dict],
    multi_positive: bool = False,
    *,
    extras: dict[str, list[str]] | None = None,
    track: Track | None | bool = None,
) -> list[str]:
    """One protocol's section. ``extras`` adds Markdown lines after the retrieval tables
    (``after_retrieval``), the mR table (``after_mr``), the detection table
    (``after_detection``) and before the Methods table (``before_methods``). ``track``: the
    section's track (see ``section_track``)."""
    from rsbench.report.tracks import OTHER, budget_line, note_lines

    extras = extras or {}
    first = records[0]
    noise, method = first["noise"], first["method"]
    ok = [r for r in records if r.get("status") == "ok"]
    validation = first.get("validation", "clean")
    title = f"## {noise['model']} ({noise.get('level', '?')}-level noise), {method.get('profile', 'small')} profile"
    if validation != "clean":
        title += f", {validation} validation"
    if track is not None:
        title += f" — {track.title if track else OTHER + ' (in no track)'}"
    seeds = ", ".join(map(str, sorted({r["noise"]["seed"] for r in records})))
    last = sorted(  # methods that keep their last epoch (as official code reporting it does)
        {
            r["method"]["name"]
            for r in records
            if (r["method"].get("params") or {}).get("selection") == "last"
        }
    )
    kept = f" ({', '.join(last)}: the last epoch)" if last else ""
    lines = [
        title,
        "",
        f"- Protocol: `{noise['model']}` version {noise['version']}, options: {_fmt_options(noise.get('params', {}))}; "
        f"noise seed {seeds}; checkpoint selected on the {validation} validation split{kept}",
    ]
    budget = budget_line(track) if track else None
    if budget:
        lines.append(budget)
    if not ok:
        return [*lines, "", "No cell of this protocol finished.", ""]
    epochs = sorted(
        {f"{r['method']['name']} {r['method']['params'].get('epochs', '?')}" for r in ok}
    )
    train_seeds = ", ".join(map(str, sorted({r["seed"] for r in ok})))
    lines.append(f"- Epochs: {', '.join(epochs)}; training seeds: {train_seeds}")
    lines += ["", "### Noise", "", noise_table(ok)]

    labels = _method_labels(ok)
    groups = _groups(ok, labels)
    comparisons = leads(groups)
    marks = lead_marks(comparisons)
    marked = join_marks(marks, health_notes(groups))
    lines += ["", "### Retrieval under noise", "", retrieval_table(groups, "metrics", marked)]
    if multi_positive and all(r.get("metrics_multi") for r in ok):
        lines += ["", "### Retrieval under noise, multi-positive", ""]
        lines.append(
            "A retrieved caption or image also counts when it carries a caption identical to a true one."
        )
        lines += ["", retrieval_table(groups, "metrics_multi")]
    lines += _extra(extras, "after_retrieval")
    warned = health_notes(groups)
    lines += ["", "### mR by noise ratio", "", mr_table(groups, join_marks(marks, warned))]
    if marks:
        used = [m for m in MARK_MEANINGS if m in marks.values()]
        note = "; ".join(f"{m} {MARK_MEANINGS[m]}" for m in used)
        lines += ["", f"{note}. Tests and p-values below."]
    if warned:
        lines += ["", "### Health warnings", "", HEALTH_TEXT, ""]
        lines += [line for key in sorted(warned) for line in warned[key]]
    notes = note_lines(track or None, {r["method"]["name"] for r in ok})
    if notes:
        lines += ["", "### Notes on the results", "", NOTES_TEXT, "", *notes]
    significance = significance_table(comparisons)
    if significance:
        lines += ["", "### Is each lead significant?", "", SIGNIFICANCE_TEXT, "", significance]
    lines += _extra(extras, "after_mr")
    detection = detection_table(groups)
    if detection:
        lines += ["", "### Noise detection", ""]
        lines.append(
            "AUC of the per-pair clean scores and F1 of the method's own noisy/clean decision (noisy = "
            "positive), at the selected checkpoint; mean over seeds."
        )
        lines += ["", detection]
    lines += _extra(extras, "after_detection")
    lines += _extra(extras, "before_methods")
    lines += ["", "### Methods", "", methods_table(ok, labels, track or None)]
    config = reproduce_config(records)
    if config:
        lines += [
            "",
            "### Reproduce",
            "",
            "Save as `grid.yaml` and run `rsbench run --config grid.yaml` (cells already in the run "
            "directory are skipped):",
            "",
            "```yaml",
            config.rstrip(),
            "```",
        ]
    lines.append("")
    return lines


def _extra(extras: dict[str, list[str]], slot: str) -> list[str]:
    """Extra lines for a slot, separated from what precedes them by one blank line."""
    more = extras.get(slot) or []
    while more and not more[-1]:
        more = more[:-1]
    return ["", *more] if more else []


def group_by_dataset(records: Iterable[dict]) -> dict[str, list[dict]]:
    by_dataset: dict[str, list[dict]] = {}
    for r in records:
        by_dataset.setdefault(r["dataset"]["name"], []).append(r)
    for rs in by_dataset.values():
        rs.sort(key=lambda r: r["cell_id"])
    return by_dataset


def write_leaderboards(
    records: Iterable[dict],
    out_dir: Path,
    datasets: Iterable[str] | None = None,
    multi_positive: bool = False,
) -> list[Path]:
    """Write ``<out_dir>/<dataset>.md`` for each dataset (all, or those named): the tables
    only. ``rsbench.report.board.write_folder`` writes the whole folder (figures, records,
    exports), as ``rsbench run`` and ``rsbench leaderboard`` do."""
    by_dataset = group_by_dataset(records)
    wanted = sorted(by_dataset) if datasets is None else sorted(set(datasets) & set(by_dataset))
    paths = [child_path(out_dir, dataset, ".md", "dataset name") for dataset in wanted]
    for path in paths:  # all checked before any is written
        check_output_file(path, "leaderboard")
    for dataset, path in zip(wanted, paths, strict=True):
        atomic_write_text(path, render_dataset(dataset, by_dataset[dataset], multi_positive))
    return paths
