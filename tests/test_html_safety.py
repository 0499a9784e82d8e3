"""Generated HTML pages are safe to open whoever wrote the records: strings from records are
shown as text, never as markup, and links stay relative or http(s)."""

from __future__ import annotations

from html.parser import HTMLParser

from rsbench.report.board import write_folder
from tests.report_records import record

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
LINK = "[click](javascript:alert(1))"


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))


def crafted_records() -> list[dict]:
    ok = record("infonce", 0.4, 0, 30.0, params={"epochs": 1, "note": IMG, "url": LINK})
    ok["method"]["name"] = f"evil{SCRIPT}"
    ok["method"]["given_options"] = {"note": IMG}
    ok["method"]["backbone"] = LINK
    failed = record("vse", 0.4, 0, 0.0, status="failed")
    failed["error"] = {"message": f"RuntimeError: {SCRIPT} {IMG} {LINK}"}
    return [ok, record("vse", 0.4, 1, 20.0), failed]


def test_record_strings_never_become_markup_in_the_pages(tmp_path):
    out = tmp_path / "board"
    write_folder(crafted_records(), out, formats=("md", "html"))
    pages = sorted(out.glob("*.html"))
    assert [p.name for p in pages] == ["index.html", "toy.html"]
    for page in pages:
        text = page.read_text()
        parser = Tags()
        parser.feed(text)
        names = [tag for tag, _ in parser.tags]
        assert "script" not in names, page.name
        for tag, attrs in parser.tags:
            for name, value in attrs:
                assert not name.startswith("on"), (page.name, tag, name)
                if name in ("href", "src"):
                    assert not (value or "").lower().lstrip().startswith("javascript"), value
            if tag == "img":
                assert dict(attrs)["src"].startswith("plots/"), attrs
    toy = (out / "toy.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in toy  # shown, as text
    assert "onerror=alert(1)" in toy  # as text inside an escaped tag, not an attribute
