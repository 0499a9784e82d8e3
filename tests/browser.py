"""Open a leaderboard page in headless Chromium and report what a reader would find broken.

A copy of the page, with a small script added, is written next to it for the time of the
check (so relative links to ``plots/`` resolve as they do for the page itself; run it on a
copy of a folder you do not want touched); Chromium loads it, the script inspects the
rendered DOM once everything has loaded and writes its findings as JSON into the page, and
``--dump-dom`` hands the DOM back. Findings: images that did not load, tables without body
rows, a page wider than the window, and the published blocks with their label.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

PROBE = """
<script>
window.addEventListener("load", () => {
  const images = [...document.images].map(img => ({
    src: img.getAttribute("src"), loaded: img.complete && img.naturalWidth > 0,
    width: img.getBoundingClientRect().width }));
  const tables = [...document.querySelectorAll("table")].map(t => ({
    rows: t.tBodies.length ? t.tBodies[0].rows.length : 0,
    columns: t.tHead ? t.tHead.rows[0].cells.length : 0 }));
  const published = [...document.querySelectorAll("section.published")].map(s => {
    const h = s.querySelector("h3");
    return { heading: h ? h.textContent : null,
             label: h ? getComputedStyle(h, "::before").content : null,
             tables: s.querySelectorAll("table").length };
  });
  const out = document.createElement("pre");
  out.id = "rsbench-probe";
  out.textContent = JSON.stringify({
    title: document.title, images, tables, published,
    overflow: document.documentElement.scrollWidth > window.innerWidth + 1,
    height: document.documentElement.scrollHeight,
    headings: [...document.querySelectorAll("h1, h2")].map(h => h.textContent) });
  document.body.appendChild(out);
});
</script>
"""


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def probe_page(page: Path, chromium: str, width: int = 1280) -> dict:
    """Load ``page`` in headless Chromium and return the probe's findings."""
    page = Path(page)
    probe = page.with_name(f".probe-{page.name}")
    text = page.read_text(encoding="utf-8")
    probe.write_text(text.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    home = Path(tempfile.mkdtemp(prefix="rsbench-chromium-"))  # profile and caches
    try:
        dom = subprocess.run(
            [
                chromium,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                f"--window-size={width},900",
                "--virtual-time-budget=10000",
                f"--user-data-dir={home / 'profile'}",
                "--dump-dom",
                probe.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "HOME": str(home)},
        ).stdout
    finally:
        probe.unlink()
        shutil.rmtree(home, ignore_errors=True)
    start = dom.find('<pre id="rsbench-probe">')
    if start == -1:
        raise AssertionError(f"Chromium did not run the probe on {page.name}:\n{dom[-2000:]}")
    import html

    body = dom[start + len('<pre id="rsbench-probe">') : dom.index("</pre>", start)]
    return json.loads(html.unescape(body))


def problems(findings: dict) -> list[str]:
    """What a reader would find broken, one line each (empty when the page is fine)."""
    out = [f"image not loaded: {i['src']}" for i in findings["images"] if not i["loaded"]]
    out += [f"table {n} has no rows" for n, t in enumerate(findings["tables"], 1) if not t["rows"]]
    if findings["overflow"]:
        out.append("the page is wider than the window")
    for p in findings["published"]:
        if "NOT MEASURED" not in (p["label"] or "") or "Published" not in (p["heading"] or ""):
            out.append(f"published block without its label: {p['heading']}")
    return out
