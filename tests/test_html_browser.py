"""The HTML leaderboard pages in a real headless browser (Debian's ``chromium``).

Each page is loaded in Chromium and inspected after rendering: every figure must load, every
table must have rows, nothing may widen the page past the window, and published blocks must
carry their "published" label. Without Chromium the tests are skipped locally; CI sets
``RSBENCH_REQUIRE_BROWSER=1`` (``.ci/run``), which turns a missing browser into a failure.
"""

from __future__ import annotations

import os
import shutil

import pytest

from rsbench.report.board import write_folder
from tests.browser import find_chromium, probe_page, problems
from tests.report_records import rsitmd_records, toy_records


@pytest.fixture(scope="module")
def chromium():
    path = find_chromium()
    if path is None:
        if os.environ.get("RSBENCH_REQUIRE_BROWSER") == "1":
            pytest.fail(
                "RSBENCH_REQUIRE_BROWSER=1 but no Chromium is installed (apt-get install chromium)"
            )
        pytest.skip(
            "no Chromium found (apt-get install chromium); RSBENCH_REQUIRE_BROWSER=1 makes this an error"
        )
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    write_folder([*toy_records(), *rsitmd_records()], out, formats=("md", "html"))
    return out


def test_dataset_pages_render_completely(site, chromium):
    toy = probe_page(site / "toy.html", chromium)
    assert problems(toy) == []
    figures = sorted(p.name for p in (site / "plots" / "toy").glob("*.svg"))
    assert sorted(i["src"].rsplit("/", 1)[1] for i in toy["images"]) == figures
    assert all(i["width"] > 300 for i in toy["images"])  # drawn at a readable size
    assert toy["headings"][0] == "toy leaderboard"
    # recall and hashing (CHNR) published rows in two tables, inside one box
    assert len(toy["published"]) == 1 and toy["published"][0]["tables"] == 2
    rsitmd = probe_page(site / "rsitmd.html", chromium)
    assert problems(rsitmd) == []
    # RRSITR, AMFMN, GaLR, SWAN/PIR and MSA tables plus the Δ table, all inside the box
    assert rsitmd["published"][0]["tables"] == 6


def test_index_page_lists_every_dataset(site, chromium):
    index = probe_page(site / "index.html", chromium)
    assert problems(index) == []
    assert index["tables"] == [{"rows": 2, "columns": 8}]


def test_a_narrow_window_scrolls_tables_not_the_page(site, chromium):
    assert problems(probe_page(site / "toy.html", chromium, width=480)) == []


def test_a_broken_page_is_reported(site, chromium, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(site, broken)
    (broken / "plots" / "toy" / "caption-shuffle-small-mr.svg").unlink()
    page = broken / "toy.html"
    text = page.read_text(encoding="utf-8")
    text = text.replace(
        "<h2", "<table><thead><tr><th>x</th></tr></thead><tbody></tbody></table><h2", 1
    )
    text = text.replace(
        '<section class="published">', '<section class="published" style="all: unset">', 1
    )
    page.write_text(
        text.replace("section.published h3::before", "section.published h3::after"),
        encoding="utf-8",
    )
    found = problems(probe_page(page, chromium))
    assert "image not loaded: plots/toy/caption-shuffle-small-mr.svg" in found
    assert any(p.endswith("has no rows") for p in found)
    assert any(p.startswith("published block without its label") for p in found)
