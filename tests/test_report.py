"""Leaderboard folders: figures, published blocks, every export format, and --check."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser

import pytest

from rsbench.cli.main import main
from rsbench.evaluate.retrieval import METRIC_NAMES
from rsbench.records.read import read_records_export
from rsbench.report.board import build_board, check_folder, write_folder
from tests.report_records import record, rsitmd_records, toy_records

ALL = ("md", "csv", "json", "latex", "html")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("boards")
    write_folder([*toy_records(), *rsitmd_records()], out, formats=ALL)
    return out


def md_table(text: str, heading: str, nth: int = 0) -> list[list[str]]:
    block = text.split(heading, 1)[1]
    tables = re.findall(r"((?:^\|.*\n)+)", block, flags=re.M)
    rows = [line for line in tables[nth].splitlines() if not set(line) <= set("|-: ")]
    return [[c.strip() for c in row.strip("|").split("|")] for row in rows]


def test_folder_holds_every_artefact(folder):
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    for dataset in ("toy", "rsitmd"):
        for ext in ("md", "csv", "json", "tex", "html"):
            assert f"{dataset}.{ext}" in names
        assert f"records/{dataset}.jsonl" in names
    assert "index.html" in names
    stem = "plots/toy/caption-shuffle-small"
    for kind in ("mr", "detection", "partitions-rrsitr", "hashing"):
        assert {f"{stem}-{kind}.png", f"{stem}-{kind}.svg"} <= names, kind
    # no partitions figure for a method whose history has no groups, none for rsitmd's hashing
    assert not any("partitions-infonce" in n for n in names)
    assert not any(n.startswith("plots/rsitmd/") and "hashing" in n for n in names)


def test_markdown_links_every_figure_and_the_records(folder):
    text = (folder / "toy.md").read_text()
    links = re.findall(r"\]\((plots/[^)]+|records/[^)]+)\)", text)
    assert "records/toy.jsonl" in links
    assert {p.relative_to(folder).as_posix() for p in (folder / "plots/toy").iterdir()} == {
        link for link in links if link.startswith("plots/")
    }
    for link in links:
        assert (folder / link).is_file(), link


def test_records_export_round_trips(folder):
    header, records = read_records_export(folder / "records" / "toy.jsonl")
    assert header["dataset"] == "toy" and header["cells"] == len(toy_records())
    assert sorted(records, key=lambda r: r["cell_id"]) == sorted(
        toy_records(), key=lambda r: r["cell_id"]
    )


def test_optional_fields_shown_only_when_present(folder):
    toy = (folder / "toy.md").read_text()
    header, *rows = md_table(toy, "### Methods")
    assert header[-2:] == ["Backbone", "Trusted clean subset"]
    by = {r[0]: r for r in rows}
    assert by["chnr"][-2:] == ["pretrained", "yes (rows=12, share=0.2)"]
    assert by["vse"][-2:] == ["–", "no"]
    assert "### Hashing retrieval" in toy
    header, *rows = md_table(toy, "### Hashing retrieval")
    assert header == ["Method", "k", "40%", "80%"] and [r[:2] for r in rows] == [
        ["chnr", "5"],
        ["chnr", "10"],
        ["chnr", "20"],
    ]
    # 0.7 - 0.4/2 + (20 - k)/100 + 0.02 per direction, at 40 %
    assert rows[2][2] == "0.500 / 0.520 / 0.540 / 0.560"  # k = 20
    assert rows[0][2] == "0.650 / 0.670 / 0.690 / 0.710"  # k = 5
    assert (
        "Used a trusted clean subset of the training pairs (ground-truth clean rows given to the method): chnr"
        in toy
    )
    rsitmd = (folder / "rsitmd.md").read_text()
    assert "trusted clean subset" not in rsitmd
    assert md_table(rsitmd, "### Methods")[0][-1] == "Options set"
    assert "Hashing" not in rsitmd


def test_published_block_with_delta_on_a_dataset_with_published_numbers(folder):
    text = (folder / "rsitmd.md").read_text()
    measured = text.split("### Published results", 1)[0]
    # never mixed: the measured table has only measured methods
    header, *rows = md_table(measured, "### Retrieval under noise")
    assert {r[2] for r in rows} == {"rrsitr", "vse"}
    block = text.split("### Published results", 1)[1].split("\n### ", 1)[0]
    for short in ("RRSITR (CVPR 2026)", "AMFMN (IEEE TGRS 2022)", "GaLR", "SWAN", "MSA"):
        assert short in block
    assert block.count("- Source: ") == 5 and "Not verified against the paper" in block
    # Δ only where split, protocol and profile agree: RRSITR's table (split rrsitr), at 0 %
    delta = md_table(block, "Δ = measured − published, against the RRSITR (CVPR 2026) rows")
    header, *rows = delta
    assert header[:4] == ["Noise", "Measured", "Published row", "Seeds"]
    by = {(r[1], r[2]): r for r in rows}
    assert set(by) == {("rrsitr", "RRSITR")}  # vse has no row in RRSITR's table
    row = by[("rrsitr", "RRSITR")]
    assert row[0] == "0%" and row[3] == "2 / 5"
    # measured mR mean 46.00, published 46.10±1.08 -> -0.10
    assert row[header.index("Δ mR")] == "-0.10"
    # AMFMN's VSE++ is on the amfmn split: no Δ for vse
    assert block.count("Δ = measured − published") == 1


def test_published_block_on_a_dataset_without_published_numbers(folder):
    text = (folder / "toy.md").read_text()
    block = text.split("### Published results for these methods (other datasets, not comparable)")[
        1
    ]
    block = block.split("\n### ", 1)[0]
    assert "There are no published numbers for toy" in block and "Δ" in block  # "no Δ is given"
    assert "| Δ" not in block
    header, *rows = md_table(block, "numbers above")
    assert header[:3] == ["Method (as published)", "Dataset", "Noise"] and header[-1] == "Source"
    assert header[3:-1] == [
        "I→T R@1",
        "I→T R@5",
        "I→T R@10",
        "T→I R@1",
        "T→I R@5",
        "T→I R@10",
        "mR",
    ]
    # hashing mAP (fractions) in a table of their own: CHNR's default, DUCH-NR-NW
    hashing_header, *hashing_rows = md_table(block, "numbers above", nth=1)
    assert hashing_header[3:-1] == ["I→T mAP@20", "T→I mAP@20"]
    assert [r[2] for r in hashing_rows[:6]] == ["5%", "10%", "20%", "30%", "40%", "50%"]
    assert hashing_rows[0][:5] == ["DUCH-NR-NW (rsbench `chnr`)", "rsicd", "5%", "0.7788", "0.7788"]
    published_as = {r[0] for r in rows + hashing_rows}
    assert published_as >= {"RRSITR (rsbench `rrsitr`)", "VSE++ (rsbench `vse`)"}
    assert all("rsbench `" in r for r in published_as)  # only the measured methods' rows
    assert "No published numbers exist for `infonce`, `infonce_gmm`." in block


def test_csv_rows_are_the_measured_means(folder):
    rows = list(csv.DictReader(io.StringIO((folder / "toy.csv").read_text())))
    board = build_board("toy", toy_records())
    expected = sum(len(s.groups) for s in board.sections)
    assert len(rows) == expected
    inf = next(r for r in rows if r["method"] == "infonce (oracle=null)" and r["ratio"] == "0.4")
    assert float(inf["mR_mean"]) == 32.0 and float(inf["mR_std"]) == pytest.approx(
        2.828427, abs=1e-6
    )
    assert inf["seeds"] == "2" and inf["training_seeds"] == "0 1"
    chnr = next(r for r in rows if r["method"] == "chnr" and r["ratio"] == "0.8")
    assert float(chnr["i2t_mAP@20_mean"]) == pytest.approx(0.3) and chnr[
        "trusted_subset"
    ].startswith("yes")
    gmm = next(r for r in rows if r["method"] == "infonce_gmm" and r["ratio"] == "0.4")
    assert float(gmm["detection_auc_mean"]) == 0.85
    assert not any(r["method"].startswith("RRSITR") for r in rows)  # no published rows
    assert set(rows[0]) >= {f"{m}_mean" for m in METRIC_NAMES}


def test_json_keeps_published_apart_with_sources(folder):
    doc = json.loads((folder / "rsitmd.json").read_text())
    csv_rows = list(csv.DictReader(io.StringIO((folder / "rsitmd.csv").read_text())))
    (section,) = doc["sections"]
    assert len(section["measured"]) == len(csv_rows)
    assert {r["method"] for r in section["measured"]} == {"rrsitr", "vse"}
    published = section["published"]
    assert published["same_dataset"] is True
    for s in published["sets"]:
        assert s["source"]["citation"] and s["source"]["table"] and s["source"]["year"]
    (delta,) = published["deltas"]
    assert delta["published"] == "RRSITR" and delta["seeds_published"] == 5
    assert delta["delta"]["mR"] == pytest.approx(46.0 - 46.10)
    for path in section["figures"]:
        assert (folder / path).is_file()


def test_latex_is_balanced_and_escaped(folder):
    tex = (folder / "toy.tex").read_text()
    assert tex.count(r"\begin{table}") == tex.count(r"\end{table}") >= 2
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}")
    assert r"infonce\_gmm" in tex and "infonce_gmm" not in tex.replace(r"\_", "")
    # best mean, oracle and trusted-subset marks
    assert r"\textbf{" in tex and r"$^\dagger$" in tex and r"chnr$^\ddagger$" in tex
    for tabular in tex.split(r"\begin{tabular}")[1:]:
        body = tabular.split(r"\toprule", 1)[1].split(r"\bottomrule", 1)[0]
        rows = [line for line in body.splitlines() if line.endswith(r"\\")]
        assert len({row.replace(r"\&", "").count("&") for row in rows}) == 1, rows[0]
    assert "Published, not measured by rsbench" in tex


class Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self.images, self.links, self._rows = [], [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tbody":
            self._rows = 0
        elif tag == "tr" and self._rows is not None:
            self._rows += 1
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag == "a":
            self.links.append(attrs["href"])

    def handle_endtag(self, tag):
        if tag == "tbody":
            self.tables.append(self._rows)
            self._rows = None


def test_html_pages_are_static_and_complete(folder):
    for page in ("toy.html", "rsitmd.html", "index.html"):
        text = (folder / page).read_text()
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), "an external asset"
        assert "<script" not in text
        parsed = Tables()
        parsed.feed(text)
        assert parsed.tables and all(parsed.tables), page
        for target in [*parsed.images, *parsed.links]:
            if not target.startswith("#"):
                assert (folder / target).is_file(), (page, target)
    toy = (folder / "toy.html").read_text()
    assert toy.count('<section class="published">') == 1
    assert all(src.endswith(".svg") for src in re.findall(r'<img[^>]+src="([^"]+)"', toy))


def small_records() -> list[dict]:
    """Two methods, three ratios, two seeds of one: one figure (builds fast)."""
    return [
        record(m, ratio, seed, 50 - 40 * ratio - 5 * (m == "vse") + seed)
        for m in ("infonce", "vse")
        for ratio in (0.0, 0.4, 0.8)
        for seed in ((0, 1) if m == "infonce" else (0,))
    ]


def test_same_records_same_bytes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    records = small_records()
    write_folder(records, a, formats=ALL)
    write_folder(list(reversed(records)), b, formats=ALL)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    png = (a / "plots/toy/caption-shuffle-small-mr.png").read_bytes()
    svg = (a / "plots/toy/caption-shuffle-small-mr.svg").read_text()
    assert b"Software" not in png and b"Matplotlib" not in png
    assert "<dc:date>" not in svg and "Matplotlib v" not in svg
    # the glyphs come from the DejaVu Sans inside matplotlib, never from a system copy
    from matplotlib import font_manager

    from rsbench.report.plots import FONT

    path = font_manager.findfont(
        font_manager.FontProperties(family=FONT), fallback_to_default=False
    )
    assert "mpl-data" in path and path.endswith("DejaVuSans.ttf")


def test_check_finds_every_kind_of_difference(tmp_path, capsys):
    out = tmp_path / "boards"
    records = small_records()
    records[0]["detection"] = {"selected": {"auc": 0.9, "f1": 0.8}}  # a second figure
    write_folder(records, out, formats=("md", "html"))
    assert check_folder(out).ok
    assert main(["leaderboard", "--check", "--out", str(out)]) == 0

    md = out / "toy.md"
    md.write_text(md.read_text().replace("infonce", "infonse", 1))
    svg = out / "plots/toy/caption-shuffle-small-detection.svg"
    svg.unlink()
    (out / "plots/toy/old-figure.png").write_bytes(b"x")
    result = check_folder(out)
    assert result.changed == ["toy.md"]
    assert result.missing == ["plots/toy/caption-shuffle-small-detection.svg"]
    assert result.unexpected == ["plots/toy/old-figure.png"]
    assert main(["leaderboard", "--check", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "changed:" in err and "missing:" in err and "unexpected:" in err

    # regenerating from the committed records restores it, stale figures removed
    assert (
        main(["leaderboard", str(out / "records"), "--out", str(out), "--format", "md,html"]) == 0
    )
    assert check_folder(out).ok and not (out / "plots/toy/old-figure.png").exists()

    # changed records: everything drawn from them is stale
    export = out / "records" / "toy.jsonl"
    lines = export.read_text().splitlines()
    first = json.loads(lines[1])
    first["metrics"]["mR"] += 1
    export.write_text("\n".join([lines[0], json.dumps(first), *lines[2:]]) + "\n")
    changed = check_folder(out).changed
    assert "toy.md" in changed and "toy.html" in changed
    assert "plots/toy/caption-shuffle-small-mr.svg" in changed


def test_check_of_nested_folders_and_boards_without_records(tmp_path, capsys):
    out = tmp_path / "boards"
    write_folder(small_records(), out / "sub")
    (out / "legacy.md").write_text("# legacy leaderboard\n")
    result = check_folder(out)
    assert result.ok and result.unchecked == ["legacy.md"]
    assert "sub/toy.md" in result.checked
    assert main(["leaderboard", "--check", "--out", str(out)]) == 0
    assert "legacy.md has no committed records" in capsys.readouterr().err
    # a board that names its records but lost them fails
    (out / "sub/records/toy.jsonl").unlink()
    result = check_folder(out)
    assert result.missing == ["sub/records/toy.jsonl"] and not result.ok


def test_format_errors_are_one_line(tmp_path, capsys):
    out = tmp_path / "boards"
    write_folder([record("infonce", 0.0, 0, 50.0)], out)
    assert main(["leaderboard", str(out / "records"), "--out", str(out), "--format", "pdf"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown format 'pdf'" in err and "latex" in err
    assert main(["leaderboard", "--check", "--out", str(tmp_path / "none")]) == 2


def test_committed_leaderboards_are_indexed_and_up_to_date():
    """What CI's `rsbench leaderboard --check` does, plus the index of leaderboards/."""
    from tests.conftest import REPO

    folder = REPO / "leaderboards"
    index = (folder / "README.md").read_text(encoding="utf-8")
    boards = [
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*.md")
        if p.name != "README.md" and "records" not in p.parts
    ]
    assert boards
    for board in boards:
        assert f"[`{board}`]({board})" in index, f"{board} is missing from leaderboards/README.md"
    result = check_folder(folder)
    assert result.ok, (result.changed, result.missing, result.unexpected)
    assert "synthrs.md" in result.checked and "synthrs.html" in result.checked


def test_checking_a_folder_with_nothing_to_check_is_an_error(tmp_path, capsys):
    from rsbench.cli.main import main as rsbench

    (tmp_path / "empty").mkdir()
    assert rsbench(["leaderboard", "--check", "--out", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "nothing to check in" in err and err.count("\n") == 1


def test_concurrent_refreshes_leave_a_board_with_every_finished_cell(tmp_path, monkeypatch):
    """Two runs sharing a run folder and a leaderboard folder end at nearly the same time: the
    one that read the records first must not overwrite the board of the one that read them
    after the other's cell was written."""
    import threading

    from rsbench.report import board

    run, out = tmp_path / "runs", tmp_path / "board"
    (run / "cells").mkdir(parents=True)
    first, second = record("infonce", 0.4, 0, 30.0), record("infonce", 0.4, 1, 32.0)
    (run / "cells" / f"{first['cell_id']}.json").write_text(json.dumps(first))
    real_write, reading, release = board.write_folder, threading.Event(), threading.Event()

    def slow_write(records, *args, **kwargs):
        if len(records) == 1:  # the first run: it read the records before the second finished
            reading.set()
            assert release.wait(30)
        return real_write(records, *args, **kwargs)

    monkeypatch.setattr(board, "write_folder", slow_write)
    a = threading.Thread(target=board.refresh_folder, args=(run, out, ["toy"]))
    a.start()
    assert reading.wait(30)
    (run / "cells" / f"{second['cell_id']}.json").write_text(json.dumps(second))
    b = threading.Thread(target=board.refresh_folder, args=(run, out, ["toy"]))
    b.start()
    b.join(0.5)
    assert b.is_alive()  # waits for the folder's lock
    release.set()
    a.join(30)
    b.join(30)
    _, records = read_records_export(out / "records" / "toy.jsonl")
    assert sorted(r["seed"] for r in records) == [0, 1]
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no lock file left
