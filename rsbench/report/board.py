"""One leaderboard folder as a whole: what it holds, writing it, and checking it.

A leaderboard folder (``leaderboards/``, ``leaderboards/noise-models/`` …) holds, per dataset::

    <dataset>.md                    the Markdown leaderboard (always)
    plots/<dataset>/<section>-<kind>.png / .svg   its figures, linked from the Markdown
    records/<dataset>.jsonl         the records behind it: a header line, then one cell record
                                    per line (complete, sorted by cell id)
    <dataset>.csv / .json / .tex / .html         exports, when asked for (``--format``)
    index.html                      the HTML index of the folder, with the HTML pages

Everything is rendered in memory first (``artefacts``), then written atomically or compared
byte for byte with the files on disk (``check_folder``), so ``rsbench leaderboard --check``
regenerates exactly what ``rsbench leaderboard`` would write from the committed records.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsbench.io.errors import RsbenchError
from rsbench.io.files import atomic_write_bytes, canonical_json
from rsbench.records.read import HEADER_KEY, LoadedRecords, read_records_export

FORMATS = ("md", "csv", "json", "latex", "html")
EXTENSIONS = {"md": ".md", "csv": ".csv", "json": ".json", "latex": ".tex", "html": ".html"}
RECORDS_DIR = "records"
PLOTS_DIR = "plots"
INDEX = "index.html"


# ---- records export ------------------------------------------------------------------------


def records_export(
    dataset: str, records: list[dict], multi_positive: bool, tracks: list | None = None
) -> bytes:
    """``records/<dataset>.jsonl``: the leaderboard's settings (its tracks too, when it has
    some), then every record on one line."""
    from rsbench.records.portable import anchors, portable

    header = {HEADER_KEY: 1, "dataset": dataset, "multi_positive": multi_positive}
    header["cells"] = len(records)
    records = [portable(r, anchors()) for r in records]  # no folder of the machine that ran it
    if tracks:
        ids = {r["cell_id"] for r in records}
        header["tracks"] = [t.to_json(ids) for t in tracks]
    lines = [canonical_json(header)]
    lines += [canonical_json(r) for r in sorted(records, key=lambda r: r["cell_id"])]
    return ("\n".join(lines) + "\n").encode("utf-8")


def folder_tracks(out_dir: Path, datasets: Iterable[str]) -> list:
    """The tracks kept in the record exports of ``datasets`` in a leaderboard folder."""
    from rsbench.report.tracks import merge_tracks

    found = []
    for dataset in datasets:
        path = Path(out_dir) / RECORDS_DIR / f"{dataset}.jsonl"
        if path.is_file():
            found += header_tracks(read_records_export(path)[0], path)
    return merge_tracks(found)


def loaded_tracks(loaded: LoadedRecords) -> list:
    """The tracks kept in the headers of the record exports that ``loaded`` read."""
    return [t for path, header in loaded.headers for t in header_tracks(header, path)]


def header_tracks(header: dict, path: Path) -> list:
    """The tracks kept in a record export's header (none: an empty list)."""
    from rsbench.report.tracks import Track

    tracks = header.get("tracks") or []
    if not isinstance(tracks, list):
        raise RsbenchError(f"{path}: 'tracks' in the header must be a list")
    return [Track.from_json(t, str(path)) for t in tracks]


# ---- one dataset's board ------------------------------------------------------------------


def section_stems(sections: dict[tuple, list[dict]]) -> dict[tuple, str]:
    """A readable, unique file-name stem per section: ``<noise model>-<profile>[-<validation>]``,
    with a short hash where two sections would share one."""
    from rsbench.report.markdown import _section_key
    from rsbench.report.plots import slug

    base = {}
    for key, records in sections.items():
        first = records[0]
        name = f"{first['noise']['model']}-{first['method'].get('profile', 'small')}"
        if first.get("validation", "clean") != "clean":
            name += f"-{first['validation']}-validation"
        if len(key) > len(_section_key(first)):  # a tracked board: the track's name too
            name += f"-{key[1]}"
        base[key] = slug(name)
    counts: dict[str, int] = {}
    for stem in base.values():
        counts[stem] = counts.get(stem, 0) + 1
    return {
        key: stem
        if counts[stem] == 1
        else f"{stem}-{hashlib.sha256(canonical_json(list(key)).encode()).hexdigest()[:6]}"
        for key, stem in base.items()
    }


@dataclass
class Section:
    key: tuple
    stem: str
    title: str
    records: list[dict]
    ok: list[dict]
    labels: dict[str, str]
    groups: dict[tuple[float, str], list[dict]]
    oracle: set[str]
    published: Any = None
    track: Any = None
    _plots: dict[str, list[Any]] | None = field(default=None, repr=False)

    @property
    def plots(self) -> dict[str, list[Any]]:
        """The section's figures, drawn on first use (the slow part of a board)."""
        if self._plots is None:
            from rsbench.report.plots import section_plots

            self._plots = (
                section_plots(self.stem, self.title, self.groups, self.oracle, self.notes())
                if self.ok
                else {}
            )
        return self._plots

    def notes(self) -> dict[str, str]:
        """Per method label, what a legend must say about it: it read the clean labels, or
        it used a trusted clean subset."""
        from rsbench.report.fields import trusted_subset
        from rsbench.report.tables import _method_key

        notes: dict[str, list[str]] = {}
        for r in self.ok:
            label = self.labels[_method_key(r)]
            said = notes.setdefault(label, [])
            if r.get("used_ground_truth") and "uses clean labels" not in said:
                said.append("uses clean labels")
            if (trusted_subset(r) or "no") != "no" and "trusted clean subset" not in said:
                said.append("trusted clean subset")
        return {label: ", ".join(said) for label, said in notes.items() if said}


@dataclass
class DatasetBoard:
    """Everything shown about one dataset, computed once and rendered into every format."""

    dataset: str
    records: list[dict]
    multi_positive: bool
    sections: list[Section]
    tracks: list = field(default_factory=list)

    @property
    def plot_dir(self) -> str:
        return f"{PLOTS_DIR}/{self.dataset}"

    def markdown(self) -> str:
        from rsbench.report.markdown import render_dataset

        by_key = {s.key: s for s in self.sections}
        header = [
            f"- Records behind this page: [`{RECORDS_DIR}/{self.dataset}.jsonl`]"
            f"({RECORDS_DIR}/{self.dataset}.jsonl) ({len(self.records)} cells); regenerate with "
            f"`rsbench leaderboard {RECORDS_DIR}/{self.dataset}.jsonl --out .` in this folder"
        ]
        return render_dataset(
            self.dataset,
            self.records,
            self.multi_positive,
            header=header,
            extras=lambda key, _records: self._extras(by_key[key]),
            tracks=self.tracks,
        )

    def _extras(self, section: Section) -> dict[str, list[str]]:
        from rsbench.report import published
        from rsbench.report.hashing_fields import hashing_values

        out: dict[str, list[str]] = {}
        trusted = sorted(lab for lab, note in section.notes().items() if "trusted" in note)
        if trusted:
            out["after_retrieval"] = [
                "Used a trusted clean subset of the training pairs (ground-truth clean rows "
                f"given to the method): {', '.join(trusted)}; see the Methods table.",
            ]
        out["after_mr"] = self._figure_lines(section.plots.get("mr", []))
        out["after_detection"] = self._figure_lines(section.plots.get("detection", []))
        if any(hashing_values(r) for r in section.ok):
            out["before_methods"] = [
                "### Hashing retrieval",
                "",
                "Cross-modal hashing mAP@k (fractions), mean over seeds; I→T / T→I / I→I / T→T.",
                "",
                hashing_table(section.groups),
                "",
                *self._figure_lines(section.plots.get("hashing", [])),
            ]
        first_track = not self.tracks or (section.track and section.track is self.tracks[0])
        if section.published is not None and first_track:  # once, before the Methods
            block = published.markdown_block(section.published, self.dataset)
            out["before_methods"] = [*out.get("before_methods", []), "", *block]
        return out

    def _figure_lines(self, plots: list) -> list[str]:
        lines: list[str] = []
        for p in plots:
            base = f"{self.plot_dir}/{p.stem}"
            lines += [
                f"![{p.alt}]({base}.png)",
                "",
                f"{p.caption} ([PNG]({base}.png), [SVG]({base}.svg))",
                "",
            ]
        return lines

    def plot_files(self) -> dict[str, bytes]:
        files = {}
        for s in self.sections:
            for plots in s.plots.values():
                for p in plots:
                    files[f"{self.plot_dir}/{p.stem}.png"] = p.png
                    files[f"{self.plot_dir}/{p.stem}.svg"] = p.svg
        return files


def hashing_table(groups: dict[tuple[float, str], list[dict]]) -> str:
    from rsbench.report.hashing_fields import DIRECTIONS, hashing_ks, hashing_values
    from rsbench.report.tables import _pct, _table

    with_hashing = {g: rs for g, rs in groups.items() if any(hashing_values(r) for r in rs)}
    records = [r for rs in with_hashing.values() for r in rs]
    ratios = sorted({r for r, _ in with_hashing})
    labels = sorted({lab for _, lab in with_hashing})
    rows = []
    for label in labels:
        for k in hashing_ks(records):
            row = [label, str(k)]
            for ratio in ratios:
                values = [hashing_values(r) for r in groups.get((ratio, label), [])]
                parts = []
                for d in DIRECTIONS:
                    got = [v[f"{d}_mAP@{k}"] for v in values if f"{d}_mAP@{k}" in v]
                    parts.append(f"{sum(got) / len(got):.3f}" if got else "–")
                row.append(" / ".join(parts) if any(p != "–" for p in parts) else "–")
            rows.append(row)
    return _table(
        ["Method", "k", *map(_pct, ratios)], rows, ["left", "right", *["right"] * len(ratios)]
    )


def section_title(dataset: str, first: dict, track: Any = None) -> str:
    title = (
        f"{dataset}, {first['noise']['model']} noise, {first['method'].get('profile', 'small')} "
        "profile"
    )
    if first.get("validation", "clean") != "clean":
        title += f", {first['validation']} validation"
    if track:
        title += f", {track.name}"
    return title


def build_board(
    dataset: str, records: list[dict], multi_positive: bool = False, tracks: list | None = None
) -> DatasetBoard:
    """One dataset's board; with ``tracks`` (``rsbench.report.tracks``), one section per track
    and protocol."""
    from rsbench.report import published
    from rsbench.report.markdown import _groups, _method_labels, group_sections, section_track
    from rsbench.report.tables import _method_key

    records = sorted(records, key=lambda r: r["cell_id"])
    ids = {r["cell_id"] for r in records}
    tracks = [t for t in tracks or [] if t.cells & ids]
    grouped = group_sections(records, tracks)
    stems = section_stems(grouped)
    sections = []
    for key in sorted(grouped):
        rs = grouped[key]
        ok = [r for r in rs if r.get("status") == "ok"]
        labels = _method_labels(ok)
        groups = _groups(ok, labels)
        oracle = {labels[_method_key(r)] for r in ok if r.get("used_ground_truth")}
        track = section_track(key, tracks)
        title = section_title(dataset, rs[0], track)
        section = Section(key, stems[key], title, rs, ok, labels, groups, oracle, track=track)
        if ok:
            section.published = published.select(ok, groups)
        sections.append(section)
    return DatasetBoard(dataset, records, multi_positive, sections, tracks)


def board_artefacts(board: DatasetBoard, formats: Iterable[str]) -> dict[str, bytes]:
    """Relative path -> bytes of one dataset's files (without the folder's index)."""
    from rsbench.report import export, html

    formats = set(formats)
    markdown = board.markdown()
    files = {
        f"{board.dataset}.md": markdown.encode("utf-8"),
        f"{RECORDS_DIR}/{board.dataset}.jsonl": records_export(
            board.dataset, board.records, board.multi_positive, board.tracks
        ),
        **board.plot_files(),
    }
    if "csv" in formats:
        files[f"{board.dataset}.csv"] = export.to_csv(board).encode("utf-8")
    if "json" in formats:
        files[f"{board.dataset}.json"] = export.to_json(board).encode("utf-8")
    if "latex" in formats:
        files[f"{board.dataset}.tex"] = export.to_latex(board).encode("utf-8")
    if "html" in formats:
        files[f"{board.dataset}.html"] = html.dataset_page(board, markdown).encode("utf-8")
    return files


# ---- a folder: write and check ---------------------------------------------------------------


def parse_formats(text: str | None) -> tuple[str, ...]:
    if not text:
        return ("md",)
    names = [f.strip().lower() for f in text.split(",") if f.strip()]
    names = ["latex" if n == "tex" else n for n in names]
    bad = [n for n in names if n not in FORMATS]
    if bad or not names:
        raise RsbenchError(
            f"unknown format {bad[0] if bad else text!r}; valid: {', '.join(FORMATS)} "
            "(comma-separated)"
        )
    return tuple(f for f in FORMATS if f in names)


def folder_datasets(out_dir: Path) -> list[str]:
    """Datasets with committed records in a leaderboard folder."""
    folder = Path(out_dir) / RECORDS_DIR
    return sorted(p.stem for p in folder.glob("*.jsonl")) if folder.is_dir() else []


def _index_entries(out_dir: Path, boards: dict[str, DatasetBoard]) -> list[dict]:
    """One entry per dataset of the folder: the boards rendered now and the others on disk."""
    entries = {}
    for dataset in folder_datasets(out_dir):
        if dataset not in boards:
            _, records = read_records_export(Path(out_dir) / RECORDS_DIR / f"{dataset}.jsonl")
            entries[dataset] = records
    for dataset, board in boards.items():
        entries[dataset] = board.records
    return [{"dataset": d, "records": entries[d]} for d in sorted(entries)]


def folder_artefacts(
    out_dir: Path, boards: dict[str, DatasetBoard], formats: Iterable[str]
) -> dict[str, bytes]:
    from rsbench.report import html

    formats = tuple(formats)
    files: dict[str, bytes] = {}
    for board in boards.values():
        files.update(board_artefacts(board, formats))
    if "html" in formats:
        files[INDEX] = html.index_page(_index_entries(out_dir, boards)).encode("utf-8")
    return files


def stale_plots(out_dir: Path, datasets: Iterable[str], files: dict[str, bytes]) -> list[str]:
    """Figures on disk in the datasets' plot folders that the boards no longer have."""
    stale = []
    for dataset in datasets:
        folder = Path(out_dir) / PLOTS_DIR / dataset
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                rel = f"{PLOTS_DIR}/{dataset}/{path.name}"
                if path.suffix in (".png", ".svg") and rel not in files:
                    stale.append(rel)
    return stale


def write_folder(
    records: Iterable[dict],
    out_dir: Path,
    datasets: Iterable[str] | None = None,
    multi_positive: bool = False,
    formats: Iterable[str] = ("md",),
    tracks: list | None = None,
) -> list[Path]:
    """Write the boards of the given datasets (all by default) into ``out_dir``; returns the
    paths written. Export formats already in the folder are rewritten too, so no file there
    is left stale; figures a board no longer has are removed from its plot folder. Without
    ``tracks``, the tracks kept in the folder's record exports stay (a run into a tracked
    folder keeps its tracks)."""
    from rsbench.plugin.names import child_path
    from rsbench.report.markdown import group_by_dataset
    from rsbench.run.outputs import check_output_file

    by_dataset = group_by_dataset(records)
    wanted = sorted(by_dataset) if datasets is None else sorted(set(datasets) & set(by_dataset))
    for dataset in wanted:  # names from records never leave the folder
        child_path(Path(out_dir), dataset, ".md", "dataset name")
    if tracks is None:
        tracks = folder_tracks(Path(out_dir), wanted)
    boards = {d: build_board(d, by_dataset[d], multi_positive, tracks) for d in wanted}
    formats = set(formats) | set(formats_on_disk(Path(out_dir), wanted))
    files = folder_artefacts(Path(out_dir), boards, [f for f in FORMATS if f in formats])
    for rel in files:  # every target checked before any is written
        check_output_file(Path(out_dir) / rel, "leaderboard file")
    written = []
    for rel, data in sorted(files.items()):
        path = Path(out_dir) / rel
        if not path.exists() or path.read_bytes() != data:
            atomic_write_bytes(path, data)
        written.append(path)
    for rel in stale_plots(Path(out_dir), wanted, files):
        os.unlink(Path(out_dir) / rel)
    return written


def refresh_folder(
    run_dir: Path, out_dir: Path, datasets: Iterable[str], multi_positive: bool = False
) -> list[Path]:
    """``rsbench run``'s last step: the boards of ``datasets`` from every record in ``run_dir``,
    read and written while holding the leaderboard folder's lock. Runs that share a run folder
    and a leaderboard folder finish in any order: the last one to write reads the records after
    every other one has written, so the final board lists every finished cell."""
    from rsbench.io.files import folder_lock
    from rsbench.records.read import load_records, warn_left_out

    with folder_lock(out_dir):
        loaded = load_records([run_dir])
        warn_left_out(loaded)
        return write_folder(loaded.records, out_dir, datasets, multi_positive)


@dataclass
class CheckResult:
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.unexpected)


def formats_on_disk(out_dir: Path, datasets: Iterable[str]) -> tuple[str, ...]:
    """The export formats a folder holds for any of the datasets (Markdown always)."""
    found = {"md"}
    for dataset in datasets:
        for fmt, ext in EXTENSIONS.items():
            if (Path(out_dir) / f"{dataset}{ext}").exists():
                found.add(fmt)
    if (Path(out_dir) / INDEX).exists():
        found.add("html")
    return tuple(f for f in FORMATS if f in found)


def check_boards(
    out_dir: Path,
    by_dataset: dict[str, list[dict]],
    multi_positive: dict[str, bool],
    formats: Iterable[str] = (),
    tracks: dict[str, list] | None = None,
) -> CheckResult:
    """Regenerate the boards of ``by_dataset`` in memory and compare every file with the disk:
    Markdown, figures, the records export, and each export format that is on disk (or asked)."""
    out_dir = Path(out_dir)
    formats = tuple(sorted(set(formats) | set(formats_on_disk(out_dir, by_dataset))))
    boards = {
        d: build_board(d, rs, multi_positive.get(d, False), (tracks or {}).get(d))
        for d, rs in by_dataset.items()
    }
    files = folder_artefacts(out_dir, boards, formats)
    result = CheckResult()
    for rel, data in sorted(files.items()):
        path = out_dir / rel
        result.checked.append(rel)
        if not path.exists():
            result.missing.append(rel)
        elif path.read_bytes() != data:
            result.changed.append(rel)
    result.unexpected = stale_plots(out_dir, by_dataset, files)
    return result


def check_folder(out_dir: Path, formats: Iterable[str] = ()) -> CheckResult:
    """Check every committed board in ``out_dir`` and its subfolders against its committed
    records. A Markdown leaderboard without records is reported as unchecked, unless it says
    it has records (then they are missing)."""
    out_dir = Path(out_dir)
    result = CheckResult()
    folders = sorted({p.parent.parent for p in out_dir.rglob(f"{RECORDS_DIR}/*.jsonl")} | {out_dir})
    for folder in folders:
        datasets = folder_datasets(folder)
        by_dataset, multi, tracks = {}, {}, {}
        for dataset in datasets:
            path = folder / RECORDS_DIR / f"{dataset}.jsonl"
            header, records = read_records_export(path)
            by_dataset[dataset] = records
            multi[dataset] = bool(header.get("multi_positive"))
            tracks[dataset] = header_tracks(header, path)
        prefix = "" if folder == out_dir else f"{folder.relative_to(out_dir).as_posix()}/"
        if by_dataset:
            sub = check_boards(folder, by_dataset, multi, formats, tracks)
            for name in ("changed", "missing", "unexpected", "checked"):
                getattr(result, name).extend(prefix + rel for rel in getattr(sub, name))
    for md in sorted(out_dir.rglob("*.md")):
        if md.name == "README.md" or md.parent.name in (RECORDS_DIR, PLOTS_DIR):
            continue
        if (md.parent / RECORDS_DIR / f"{md.stem}.jsonl").exists():
            continue
        rel = md.relative_to(out_dir)
        if f"({RECORDS_DIR}/{md.stem}.jsonl)" in md.read_text(encoding="utf-8"):
            result.missing.append((rel.parent / RECORDS_DIR / f"{md.stem}.jsonl").as_posix())
        else:
            result.unchecked.append(rel.as_posix())
    return result
