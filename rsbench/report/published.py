"""Published reference numbers: shipped as data with their sources, shown beside measured ones.

Each YAML file in ``rsbench/report/published/`` holds the numbers of one published table (or
figure) exactly as printed (``"12.92±1.96"`` stays that string), with

- ``source``: citation, table, year, where it was read (``read_from``), the section of the
  rsbench specs that transcribes it (``spec``), whether it could be checked against the paper
  (``verified``) and caveats (``note``);
- ``protocol``: the noise model (``null`` for clean tables), the split definition in rsbench's
  names (``null`` when it is not one of them), the profile, the checkpoint selection and the
  number of seeds (``null`` when not stated);
- ``methods``: which published rows are an rsbench method (published name → method name);
- ``tables``: per dataset, either one noise ratio with a row of ``columns`` per method, or one
  ``metric`` with a value per noise ratio (``ratios``) per method.

Published numbers are never mixed into measured rows: a leaderboard shows them in their own
block with their source. A Δ (measured − published) is given only where the protocol is the
same: same dataset and split definition, the paper profile, the same noise model at the same
ratio (any noise model at 0 %), and the published row is the measured method. A test checks
every shipped value against the spec table it cites (``tests/test_published.py``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from rsbench.evaluate.retrieval import METRIC_NAMES
from rsbench.io.errors import RsbenchError

DATA_PACKAGE = "rsbench.report"
DATA_FOLDER = "published"
SOURCE_KEYS = ("short", "citation", "table", "year", "read_from", "spec", "verified", "note")
PROTOCOL_KEYS = ("noise_model", "noise", "split", "profile", "selection", "seeds")
UNITS = {"percent": 2, "fraction": 4}  # unit -> digits shown
_VALUE = re.compile(r"^(\d+(?:\.\d+)?)(?:±(\d+(?:\.\d+)?))?$")
_HASHING = re.compile(r"^(i2t|t2i|i2i|t2t)_mAP@(\d+)$")
DIRECTIONS = ("i2t", "t2i", "i2i", "t2t")
DIRECTION_TITLES = {"i2t": "I→T", "t2i": "T→I", "i2i": "I→I", "t2t": "T→T"}


class PublishedDataError(RsbenchError):
    """A shipped published-numbers file is malformed (a packaging bug, not user input)."""


def metric_order(name: str) -> tuple:
    """Retrieval metrics in table order, then hashing mAP@k by direction and k."""
    if name in METRIC_NAMES:
        return (0, METRIC_NAMES.index(name))
    m = _HASHING.match(name)
    if m:
        return (1, DIRECTIONS.index(m.group(1)), int(m.group(2)))
    return (2, name)


def metric_title(name: str) -> str:
    from rsbench.report.tables import COLUMN_TITLES

    m = _HASHING.match(name)
    if m:
        return f"{DIRECTION_TITLES[m.group(1)]} mAP@{m.group(2)}"
    return COLUMN_TITLES.get(name, name)


@dataclass(frozen=True)
class Value:
    """A published number as printed, and its parsed mean and ± (None when not printed)."""

    text: str
    mean: float
    std: float | None

    @classmethod
    def parse(cls, raw: Any, where: str) -> Value:
        text = str(raw).strip()
        m = _VALUE.match(text)
        if not m:
            raise PublishedDataError(f"{where}: {text!r} is not a number or 'mean±std'")
        return cls(text, float(m.group(1)), None if m.group(2) is None else float(m.group(2)))

    def shown(self) -> str:
        return self.text.replace("±", " ± ")


@dataclass(frozen=True)
class Source:
    short: str  # e.g. "RRSITR (CVPR 2026)"
    citation: str
    table: str
    year: int
    read_from: str
    spec: str
    verified: bool
    note: str

    def line(self) -> str:
        checked = "" if self.verified else " Not verified against the paper."
        return (
            f"{self.citation}; {self.table}; read from {self.read_from}; transcribed in the "
            f"rsbench specs ({self.spec}).{checked}"
        )


@dataclass(frozen=True)
class Row:
    method: str  # as published
    dataset: str
    rsbench_method: str | None
    ratio: float
    values: dict[str, Value]


@dataclass(frozen=True)
class PublishedSet:
    """The published rows of one source for one dataset (what one block table shows)."""

    key: str  # file stem
    source: Source
    protocol: dict[str, Any]
    unit: str
    dataset: str
    rows: tuple[Row, ...]
    columns: tuple[str, ...] = field(default=())

    @property
    def digits(self) -> int:
        return UNITS[self.unit]

    def with_rows(self, rows: list[Row]) -> PublishedSet:
        columns = sorted({c for r in rows for c in r.values}, key=metric_order)
        return PublishedSet(
            self.key,
            self.source,
            self.protocol,
            self.unit,
            self.dataset,
            tuple(rows),
            tuple(columns),
        )


@dataclass(frozen=True)
class PublishedTable:
    """One table of a file as shipped (for the test that compares it with its spec)."""

    key: str
    dataset: str
    spec_table: str
    cells: dict[tuple[str, str], Value]  # (published method, column) -> value
    column_names: tuple[str, ...]  # metric names, or ratios spelled as in the file


def _require(mapping: Any, keys: tuple[str, ...], where: str) -> dict:
    if not isinstance(mapping, dict):
        raise PublishedDataError(f"{where}: expected a mapping")
    missing = [k for k in keys if k not in mapping]
    if missing:
        raise PublishedDataError(f"{where}: missing {', '.join(missing)}")
    return mapping


def _parse_file(key: str, data: Any) -> tuple[list[PublishedSet], list[PublishedTable]]:
    where = f"published/{key}.yaml"
    data = _require(data, ("source", "protocol", "unit", "methods", "tables"), where)
    src = _require(data["source"], SOURCE_KEYS, f"{where} source")
    for k in SOURCE_KEYS:
        if k != "verified" and not str(src[k]).strip():
            raise PublishedDataError(f"{where}: source {k} is empty")
    source = Source(
        short=str(src["short"]),
        citation=" ".join(str(src["citation"]).split()),
        table=str(src["table"]),
        year=int(src["year"]),
        read_from=str(src["read_from"]),
        spec=str(src["spec"]),
        verified=bool(src["verified"]),
        note=" ".join(str(src["note"]).split()),
    )
    base_protocol = _require(data["protocol"], PROTOCOL_KEYS, f"{where} protocol")
    if data["unit"] not in UNITS:
        raise PublishedDataError(f"{where}: unit must be one of {', '.join(UNITS)}")
    methods: dict[str, str] = data["methods"] or {}
    default_columns = data.get("columns")
    by_dataset: dict[str, dict[tuple[str, float], dict[str, Value]]] = {}
    protocols: dict[str, dict] = {}
    tables: list[PublishedTable] = []
    for i, t in enumerate(data["tables"]):
        tw = f"{where} table {i + 1}"
        _require(t, ("dataset", "spec_table", "rows"), tw)
        protocol = {**base_protocol, **(t.get("protocol") or {})}
        if protocols.setdefault(t["dataset"], protocol) != protocol:
            raise PublishedDataError(f"{tw}: two protocols for {t['dataset']} in one file")
        rows = by_dataset.setdefault(t["dataset"], {})
        cells: dict[tuple[str, str], Value] = {}
        if "metric" in t:
            names = [str(r) for r in t["ratios"]]
            for method, values in t["rows"].items():
                if len(values) != len(names):
                    raise PublishedDataError(f"{tw}: {method} has {len(values)} values")
                for ratio, raw in zip(t["ratios"], values, strict=True):
                    value = Value.parse(raw, f"{tw} {method}")
                    cells[(method, str(ratio))] = value
                    rows.setdefault((method, float(ratio)), {})[t["metric"]] = value
        else:
            names = list(t.get("columns") or default_columns or [])
            if not names or "ratio" not in t:
                raise PublishedDataError(f"{tw}: needs ratio and columns, or metric and ratios")
            for method, values in t["rows"].items():
                if len(values) != len(names):
                    raise PublishedDataError(f"{tw}: {method} has {len(values)} values")
                for column, raw in zip(names, values, strict=True):
                    value = Value.parse(raw, f"{tw} {method}")
                    cells[(method, column)] = value
                    rows.setdefault((method, float(t["ratio"])), {})[column] = value
        unknown = [n for n in names if "metric" not in t and metric_order(n)[0] == 2]
        if unknown:
            raise PublishedDataError(f"{tw}: unknown metric {unknown[0]}")
        tables.append(PublishedTable(key, t["dataset"], str(t["spec_table"]), cells, tuple(names)))
    published_names = {m for rows in by_dataset.values() for m, _ in rows}
    stray = sorted(set(methods) - published_names)
    if stray:
        raise PublishedDataError(f"{where}: methods maps {stray[0]!r}, which no table has")
    sets = []
    for dataset, rows in sorted(by_dataset.items()):
        order = {m: n for n, (m, _) in enumerate(rows)}  # the file's row order
        built = [
            Row(method, dataset, methods.get(method), ratio, values)
            for (method, ratio), values in sorted(
                rows.items(), key=lambda kv: (kv[0][1], order[kv[0][0]])
            )
        ]
        proto = PublishedSet(key, source, protocols[dataset], data["unit"], dataset, ())
        sets.append(proto.with_rows(built))
    return sets, tables


@functools.cache
def _load() -> tuple[tuple[PublishedSet, ...], tuple[PublishedTable, ...]]:
    from rsbench.io import yamltext

    sets: list[PublishedSet] = []
    tables: list[PublishedTable] = []
    folder = resources.files(DATA_PACKAGE) / DATA_FOLDER
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        s, t = _parse_file(entry.name[: -len(".yaml")], yamltext.load(entry.read_text("utf-8")))
        sets += s
        tables += t
    return tuple(sets), tuple(tables)


def published_sets() -> tuple[PublishedSet, ...]:
    """Every shipped published set, newest source first (then by file name and dataset)."""
    sets, _ = _load()
    return tuple(sorted(sets, key=lambda s: (-s.source.year, s.key, s.dataset)))


def published_tables() -> tuple[PublishedTable, ...]:
    return _load()[1]


# ---- which published numbers a measured section shows -------------------------------------


@dataclass(frozen=True)
class SectionFacts:
    """What decides which published numbers a measured section may be compared with."""

    dataset: str
    split: str | None
    profile: str
    noise_model: str
    method_names: tuple[str, ...]

    @classmethod
    def of(cls, records: list[dict]) -> SectionFacts:
        first = records[0]
        return cls(
            dataset=first["dataset"]["name"],
            split=first["dataset"].get("split"),
            profile=first["method"].get("profile", "small"),
            noise_model=first["noise"]["model"],
            method_names=tuple(sorted({r["method"]["name"] for r in records})),
        )


@dataclass(frozen=True)
class Delta:
    ratio: float
    measured_label: str
    published: Row
    measured_seeds: int
    published_seeds: int | None
    values: dict[str, float]  # metric -> measured mean − published mean


@dataclass(frozen=True)
class Selection:
    """The published block of one section: same-dataset sets (with Δ where comparable), or the
    same methods' numbers on other datasets (never compared)."""

    same_dataset: bool
    sets: tuple[PublishedSet, ...]
    deltas: tuple[tuple[PublishedSet, tuple[Delta, ...]], ...]
    without_numbers: tuple[str, ...]  # measured methods with no published row anywhere


def _measured_value(record: dict, metric: str) -> float | None:
    if metric in METRIC_NAMES:
        return (record.get("metrics") or {}).get(metric)
    from rsbench.report.hashing_fields import hashing_values

    return hashing_values(record).get(metric)


def comparable_protocol(ps: PublishedSet, facts: SectionFacts) -> bool:
    p = ps.protocol
    return (
        ps.dataset == facts.dataset
        and p["split"] is not None
        and p["split"] == facts.split
        and p["profile"] == facts.profile
    )


def _deltas(ps: PublishedSet, facts: SectionFacts, groups: dict) -> tuple[Delta, ...]:
    if not comparable_protocol(ps, facts):
        return ()
    out = []
    for row in ps.rows:
        if row.rsbench_method is None:
            continue
        if row.ratio != 0 and ps.protocol["noise_model"] != facts.noise_model:
            continue
        for (ratio, label), records in sorted(groups.items()):
            measured = [
                r
                for r in records
                if r["method"]["name"] == row.rsbench_method and not r.get("used_ground_truth")
            ]
            if ratio != row.ratio or not measured:
                continue
            values = {}
            for metric, value in row.values.items():
                got = [_measured_value(r, metric) for r in measured]
                if got and all(v is not None for v in got):
                    values[metric] = sum(got) / len(got) - value.mean
            if values:
                out.append(Delta(ratio, label, row, len(measured), ps.protocol["seeds"], values))
    return tuple(out)


def select(records: list[dict], groups: dict[tuple[float, str], list[dict]]) -> Selection:
    """The published numbers to show under the tables of one section (``records``: its cells;
    ``groups``: its measured rows, (ratio, label) -> records)."""
    facts = SectionFacts.of(records)
    every = published_sets()
    same = [s for s in every if s.dataset == facts.dataset]
    mapped = {r.rsbench_method for s in every for r in s.rows if r.rsbench_method}
    without = tuple(m for m in facts.method_names if m not in mapped)
    if same:
        deltas = tuple((s, d) for s in same if (d := _deltas(s, facts, groups)))
        return Selection(True, tuple(same), deltas, without)
    others: dict[str, list[Row]] = {}
    first: dict[str, PublishedSet] = {}
    for s in every:
        rows = [r for r in s.rows if r.rsbench_method in facts.method_names]
        if rows:
            others.setdefault(s.key, []).extend(rows)
            first.setdefault(s.key, s)
    merged = tuple(
        PublishedSet(k, first[k].source, first[k].protocol, first[k].unit, "several", ()).with_rows(
            sorted(rows, key=lambda r: (r.dataset, r.ratio))
        )
        for k, rows in others.items()
    )
    return Selection(False, merged, (), without)


# ---- Markdown ------------------------------------------------------------------------------


def _pct(ratio: float) -> str:
    return f"{ratio * 100:g}%"


def _seeds(n: int | None) -> str:
    return "not stated" if n is None else str(n)


def protocol_line(ps: PublishedSet) -> str:
    p = ps.protocol
    split = p["split"] if p["split"] is not None else p.get("split_note", "not stated")
    parts = [
        f"noise: {p['noise']}",
        f"split: {split}",
        f"{p['profile']} profile (published backbones)",
        f"selection: {p['selection']}",
        f"seeds: {_seeds(p['seeds'])}",
    ]
    if p.get("trusted_subset"):
        parts.append(f"trusted clean subset: {p['trusted_subset']}")
    unit = "percent" if ps.unit == "percent" else "fractions (0–1)"
    return "; ".join(parts) + f"; values in {unit}"


def _row_label(r: Row) -> str:
    return r.method + (f" (rsbench `{r.rsbench_method}`)" if r.rsbench_method else "")


def set_table(ps: PublishedSet) -> str:
    """One source's rows for one dataset, as printed."""
    from rsbench.report.tables import _table

    header = ["Noise", "Method (as published)", *[metric_title(c) for c in ps.columns]]
    rows = [
        [_pct(r.ratio), _row_label(r)]
        + [r.values[c].shown() if c in r.values else "–" for c in ps.columns]
        for r in ps.rows
    ]
    return _table(header, rows, ["right", "left"] + ["right"] * len(ps.columns))


def merged_table(sets: list[tuple[int, PublishedSet]]) -> str:
    """Rows of several sources in one table, with a Source column giving their number."""
    from rsbench.report.tables import _table

    columns = sorted({c for _, ps in sets for c in ps.columns}, key=metric_order)
    keyed = []
    for n, ps in sets:
        for r in ps.rows:
            cells = [r.values[c].shown() if c in r.values else "–" for c in columns]
            row = [_row_label(r), r.dataset, _pct(r.ratio), *cells, f"[{n}]"]
            keyed.append(((r.method, n, r.dataset, r.ratio), row))
    rows = [row for _, row in sorted(keyed, key=lambda kv: kv[0])]
    header = ["Method (as published)", "Dataset", "Noise"]
    header += [metric_title(c) for c in columns] + ["Source"]
    return _table(header, rows, ["left", "left", "right"] + ["right"] * len(columns) + ["left"])


def delta_table(ps: PublishedSet, deltas: tuple[Delta, ...]) -> str:
    from rsbench.report.tables import _table

    columns = sorted({m for d in deltas for m in d.values}, key=metric_order)
    header = ["Noise", "Measured", "Published row", "Seeds"]
    header += [f"Δ {metric_title(c)}" for c in columns]
    rows = []
    for d in deltas:
        cells = [f"{d.values[c]:+.{ps.digits}f}" if c in d.values else "–" for c in columns]
        seeds = f"{d.measured_seeds} / {_seeds(d.published_seeds)}"
        rows.append([_pct(d.ratio), d.measured_label, d.published.method, seeds, *cells])
    return _table(header, rows, ["right", "left", "left", "right"] + ["right"] * len(columns))


def _source_lines(ps: PublishedSet, prefix: str = "- ") -> list[str]:
    return [
        f"{prefix}Source: {ps.source.line()}",
        f"{prefix}Protocol: {protocol_line(ps)}",
        f"{prefix}Note: {ps.source.note}",
    ]


def markdown_block(selection: Selection, dataset: str) -> list[str]:
    """The "published" block of a section, as Markdown lines (empty when nothing applies)."""
    if not selection.sets and not selection.without_numbers:
        return []
    if selection.same_dataset:
        lines = [
            "### Published results",
            "",
            f"Published numbers for {dataset}, copied from the papers with their sources; they "
            "were not measured by rsbench and are kept apart from the measured rows above. A Δ "
            "is given only where split, noise protocol and profile are the same.",
            "",
        ]
        deltas = {id(ps): d for ps, d in selection.deltas}
        for ps in selection.sets:
            lines += [f"**{ps.source.short}: {ps.source.table}**", "", set_table(ps), ""]
            if id(ps) in deltas:
                lines += [
                    f"Δ = measured − published, against the {ps.source.short} rows above "
                    "(Seeds: measured / published):",
                    "",
                    delta_table(ps, deltas[id(ps)]),
                    "",
                ]
            lines += [*_source_lines(ps), ""]
        if not selection.deltas:
            lines += [
                "No measured row here has the same split, noise protocol and profile as a "
                "published one, so no Δ is given.",
                "",
            ]
        return lines
    lines = [
        "### Published results for these methods (other datasets, not comparable)",
        "",
        f"There are no published numbers for {dataset}. For reference, what papers report for "
        "the same methods on real remote-sensing datasets, with their published backbones (paper "
        f"profile). Different data and models: they cannot be compared with the {dataset} "
        "numbers above, and no Δ is given.",
        "",
    ]
    if selection.sets:
        numbered = list(enumerate(selection.sets, 1))
        for unit in UNITS:  # recall (percent) and hashing mAP (fractions) apart
            same_unit = [(n, ps) for n, ps in numbered if ps.unit == unit]
            if same_unit:
                lines += [merged_table(same_unit), ""]
        lines += ["Sources:", ""]
        for n, ps in enumerate(selection.sets, 1):
            lines += [f"{n}. **{ps.source.short}: {ps.source.table}**", ""]
            lines += [*_source_lines(ps, "    - "), ""]
        lines.append("")
    if selection.without_numbers:
        names = ", ".join(f"`{m}`" for m in selection.without_numbers)
        lines += [f"No published numbers exist for {names}.", ""]
    return lines


def as_json(selection: Selection) -> dict[str, Any]:
    """The block as data (for the JSON export), sources included."""

    def set_json(ps: PublishedSet) -> dict[str, Any]:
        return {
            "source": {k: getattr(ps.source, k) for k in SOURCE_KEYS},
            "protocol": ps.protocol,
            "unit": ps.unit,
            "dataset": ps.dataset,
            "comparable_dataset": selection.same_dataset,
            "rows": [
                {
                    "method": r.method,
                    "dataset": r.dataset,
                    "rsbench_method": r.rsbench_method,
                    "ratio": r.ratio,
                    "values": {k: v.text for k, v in r.values.items()},
                }
                for r in ps.rows
            ],
        }

    return {
        "same_dataset": selection.same_dataset,
        "sets": [set_json(ps) for ps in selection.sets],
        "deltas": [
            {
                "source": ps.source.citation,
                "dataset": ps.dataset,
                "ratio": d.ratio,
                "measured": d.measured_label,
                "published": d.published.method,
                "seeds_measured": d.measured_seeds,
                "seeds_published": d.published_seeds,
                "delta": {k: round(v, 6) for k, v in sorted(d.values.items())},
            }
            for ps, deltas in selection.deltas
            for d in deltas
        ],
        "methods_without_published_numbers": list(selection.without_numbers),
    }
