"""Every shipped published number against the spec table it cites.

The specs (``../shared/specs/``) transcribe the papers' tables; each shipped YAML file names
the spec file and section it comes from (``source.spec``) and each table the heading it sits
under (``spec_table``). This test parses those spec tables with its own small parser (not the
package's loader) and requires the shipped cells to equal them exactly, as printed: same rows,
same columns, same strings, nothing added.

Two sources for the spec text:

- the specs themselves, when ``../shared/specs`` is there (``RSBENCH_SHARED_SPECS`` overrides);
  skipped with the reason otherwise;
- ``tests/fixtures/published-specs/``: verbatim copies of the cited sections, so the check also
  runs on a checkout without the specs; another test requires the copies to be verbatim when
  the specs are there.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from rsbench.report.published import PublishedDataError, _parse_file, published_tables
from tests.conftest import REPO

SPECS = Path(os.environ.get("RSBENCH_SHARED_SPECS", REPO.parent / "shared" / "specs"))
EXCERPTS = REPO / "tests" / "fixtures" / "published-specs"
RETRIEVAL = ["i2t_R@1", "i2t_R@5", "i2t_R@10", "t2i_R@1", "t2i_R@5", "t2i_R@10", "mR"]
HEADER_COLUMNS = {  # spec table header (after the method column) -> metric names
    ("I2T R@1", "I2T R@5", "I2T R@10", "T2I R@1", "T2I R@5", "T2I R@10", "mR"): RETRIEVAL,
    # AMFMN's Table II: "Columns: sentence retrieval (i2t) R@1/R@5/R@10 | image retrieval (t2i) …"
    ("R@1", "R@5", "R@10", "R@1", "R@5", "R@10", "mR"): RETRIEVAL,
}


def section(text: str, heading_prefix: str) -> str:
    """The text of the section whose heading starts with ``heading_prefix`` (up to the next
    heading of the same or a higher level)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(#+)\s+(.*)$", line)
        if m and m.group(2).startswith(heading_prefix):
            level, end = len(m.group(1)), len(lines)
            for j in range(i + 1, len(lines)):
                mm = re.match(r"^(#+)\s", lines[j])
                if mm and len(mm.group(1)) <= level:
                    end = j
                    break
            return "\n".join(lines[i:end])
    raise AssertionError(f"no section {heading_prefix!r}")


def tables_after(text: str, heading: str) -> list[list[list[str]]]:
    """The Markdown tables that follow the line ``heading`` (blank lines between them allowed)."""
    lines = text.splitlines()
    start = [i for i, line in enumerate(lines) if line.strip() == heading]
    assert len(start) == 1, f"heading {heading!r} found {len(start)} times"
    tables, current = [], []
    for line in lines[start[0] + 1 :]:
        if line.startswith("|"):
            if not set(line) <= set("|-: "):
                current.append(
                    [c.strip().replace("**", "") for c in line.strip().strip("|").split("|")]
                )
        elif not line.strip():
            if current:
                tables.append(current)
                current = []
        else:
            break
    if current:
        tables.append(current)
    assert tables, f"no table after {heading!r}"
    return tables


def cells_from_table(rows: list[list[str]]) -> dict[tuple[str, str], str]:
    header, *body = rows
    skip = 2 if header[1] == "ref" else 1  # RRSITR's RSITMD table has a venue column
    columns = HEADER_COLUMNS[tuple(header[skip:])]
    return {(r[0], c): v for r in body for c, v in zip(columns, r[skip:], strict=True)}


def cells_from_curve(rows: list[list[str]]) -> dict[tuple[str, str], str]:
    header, *body = rows
    ratios = [h.removeprefix("p=") for h in header[1:]]
    return {(r[0], p): v for r in body for p, v in zip(ratios, r[1:], strict=True)}


def cells_from_bullets(block: str, dataset: str) -> dict[tuple[str, str], str]:
    """C5's lines ``- NAME: RSICD a/b/c | d/e/f | g; RSITMD ...``."""
    out = {}
    for line in block.splitlines():
        m = re.match(r"^- (.+?): (RSICD .*)$", line)
        if not m:
            continue
        for part in m.group(2).split("; "):
            pm = re.match(r"^(RSICD|RSITMD) ([\d./]+) \| ([\d./]+) \| ([\d.]+)$", part)
            if pm and pm.group(1) == dataset:
                values = pm.group(2).split("/") + pm.group(3).split("/") + [pm.group(4)]
                out.update({(m.group(1), c): v for c, v in zip(RETRIEVAL, values, strict=True)})
    return out


def cells_from_aggregator(text: str, spec_table: str) -> dict[tuple[str, str], str]:
    """The aggregator paragraph of the specs' README, read with its own regular expressions."""
    flat = " ".join(text.split())
    m = re.search(r"text→image R@1: ([\d. /]+?) at ([\d /]+?) % noise", flat)
    t2i = dict(zip(m.group(2).split(" / "), m.group(1).split(" / "), strict=True))
    i2t = re.search(r"image→text R@1: ([\d.]+) at (\d+) %", flat)
    clean = re.search(
        r"RSITMD text retrieval R@1 ([\d.]+), RSICD text retrieval R@1 ([\d.]+), RSICD mR "
        r"([\d.]+), NWPU R@1 ([\d.]+) \(image→text\) and ([\d.]+) \(text→image\)",
        flat,
    )
    pct = {p: str(int(p) / 100) for p in ("20", "40", "60", "80")}
    return {
        "RSITMD text→image R@1 under noise": {("MSA", pct[p]): v for p, v in t2i.items()},
        "RSITMD image→text R@1 under noise": {("MSA", pct[i2t.group(2)]): i2t.group(1)},
        "RSITMD clean": {("MSA", "i2t_R@1"): clean.group(1)},
        "RSICD clean": {("MSA", "i2t_R@1"): clean.group(2), ("MSA", "mR"): clean.group(3)},
        "NWPU clean": {("MSA", "i2t_R@1"): clean.group(4), ("MSA", "t2i_R@1"): clean.group(5)},
    }[spec_table]


def spec_cells(spec: str, spec_table: str, folder: Path) -> dict[tuple[str, str], str]:
    """The cells of the spec table a shipped table cites, parsed from the spec text."""
    parts = spec.split(", ")
    text = section((folder / parts[0]).read_text(encoding="utf-8"), parts[1])
    if parts[0] == "README.md":
        return cells_from_aggregator(text, spec_table)
    if len(parts) > 2:  # a bold-titled block of bullets inside the section
        block = text.split(f"**{', '.join(parts[2:])}", 1)[1].split("\n**", 1)[0]
        return cells_from_bullets(block, spec_table)
    if " / " in spec_table:  # CHNR: a heading, then one table per direction
        heading, direction = spec_table.rsplit(" / ", 1)
        table = [t for t in tables_after(text, heading) if t[0][0] == direction]
        assert len(table) == 1, f"{spec_table}: {len(table)} tables"
        return cells_from_curve(table[0])
    (table,) = tables_after(text, spec_table)
    return cells_from_table(table)


def shipped():
    from rsbench.report.published import published_sets

    sources = {s.key: s.source for s in published_sets()}
    return [(t, sources[t.key]) for t in published_tables()]


def check_against(folder: Path) -> int:
    checked = 0
    for table, source in shipped():
        expected = spec_cells(source.spec, table.spec_table, folder)
        got = {k: v.text for k, v in table.cells.items()}
        assert got == expected, f"{table.key} / {table.spec_table} differs from {source.spec}"
        checked += len(got)
    return checked


def test_shipped_values_equal_the_spec_excerpts():
    """Always runs: against the verbatim copies of the cited spec sections."""
    assert check_against(EXCERPTS) > 600


def test_shipped_values_equal_the_specs():
    if not SPECS.is_dir():
        pytest.skip(f"the specs folder {SPECS} is absent (set RSBENCH_SHARED_SPECS)")
    assert check_against(SPECS) > 600


def test_spec_excerpts_are_verbatim():
    if not SPECS.is_dir():
        pytest.skip(f"the specs folder {SPECS} is absent (set RSBENCH_SHARED_SPECS)")
    for excerpt in sorted(EXCERPTS.glob("*.md")):
        full = (SPECS / excerpt.name).read_text(encoding="utf-8")
        text = excerpt.read_text(encoding="utf-8")
        # every section of the excerpt is the same text in the spec
        for block in re.split(r"(?m)^(?=#{2,3} )", text):
            if block.strip():
                assert block.rstrip("\n") in full, f"{excerpt.name}: {block.splitlines()[0]}"


def test_every_source_is_complete():
    from rsbench.report.published import published_sets

    sets = published_sets()
    assert {s.key for s in sets} == {
        "rrsitr-2026-clean",
        "amfmn-2022-table2",
        "swan-pir-2023-table1",
        "galr-2022-table1",
        "msa-aggregator",
        "chnr-2022-map20",
    }
    for s in sets:
        assert s.source.citation and s.source.table and s.source.read_from and s.source.spec
        assert 2016 <= s.source.year <= 2026
    unverified = {s.key for s in sets if not s.source.verified}
    assert unverified == {"msa-aggregator", "chnr-2022-map20"}


def test_a_value_without_source_or_malformed_is_refused():
    good = {
        "source": {
            "short": "Paper (2024)",
            "citation": "A. Paper",
            "table": "Table 1",
            "year": 2024,
            "read_from": "the PDF",
            "spec": "x.md, A.1",
            "verified": True,
            "note": "-",
        },
        "protocol": {
            "noise_model": None,
            "noise": "none",
            "split": None,
            "profile": "paper",
            "selection": "-",
            "seeds": None,
        },
        "unit": "percent",
        "methods": {},
        "columns": ["mR"],
        "tables": [{"dataset": "rsitmd", "spec_table": "T", "ratio": 0, "rows": {"M": ["1.5"]}}],
    }
    _parse_file("ok", good)
    no_source = {k: v for k, v in good.items() if k != "source"}
    with pytest.raises(PublishedDataError, match="missing source"):
        _parse_file("bad", no_source)
    empty_citation = {**good, "source": {**good["source"], "citation": " "}}
    with pytest.raises(PublishedDataError, match="citation is empty"):
        _parse_file("bad", empty_citation)
    bad_value = {**good, "tables": [{**good["tables"][0], "rows": {"M": ["about 3"]}}]}
    with pytest.raises(PublishedDataError, match="not a number"):
        _parse_file("bad", bad_value)
    short_row = {**good, "columns": ["mR", "i2t_R@1"]}
    with pytest.raises(PublishedDataError, match="has 1 values"):
        _parse_file("bad", short_row)
