"""Static HTML pages: one per dataset and an index, publishable as they are.

A dataset page is its Markdown leaderboard turned into HTML (Python-Markdown with tables,
fenced code and a table of contents), so both always show the same numbers; figures are the
SVG files next to the page (``plots/<dataset>/``), published blocks are set apart in a tinted
box labelled as published. No script, no server, no external asset: the CSS is inline, and
the folder (pages, ``plots/``, ``records/``) can be copied to any web server as it is.
"""

from __future__ import annotations

import html
import re

CSS = """
:root { --ink: #1b1b1b; --muted: #5a5a5a; --line: #d9d9d9; --head: #f3f5f7; --accent: #0b5cad;
        --pub: #fff8e6; --pub-line: #e0b54a; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 "DejaVu Sans", "Helvetica Neue", Arial, sans-serif;
       color: var(--ink); background: #fff; }
main, header.site, footer.site { max-width: 1180px; margin: 0 auto; padding: 0 20px; }
header.site { padding-top: 14px; font-size: 14px; color: var(--muted); }
header.site a, footer.site a, main a { color: var(--accent); }
footer.site { margin: 40px auto 30px; font-size: 13px; color: var(--muted);
              border-top: 1px solid var(--line); padding-top: 10px; }
h1 { font-size: 28px; margin: 14px 0 8px; }
h2 { font-size: 21px; margin: 38px 0 8px; padding-top: 10px; border-top: 2px solid var(--line); }
h3 { font-size: 17px; margin: 24px 0 6px; }
p, li { max-width: 80ch; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px;
       background: #f2f2f2; padding: 1px 4px; border-radius: 3px; }
pre { background: #f6f8fa; border: 1px solid var(--line); padding: 10px 12px; overflow-x: auto;
      max-width: 80ch; }
pre code { background: none; padding: 0; }
.table-wrap { display: inline-block; max-width: 100%; overflow-x: auto; margin: 8px 0 14px;
              border: 1px solid var(--line); border-radius: 4px; vertical-align: top; }
table { border-collapse: collapse; font-size: 13.5px; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { background: var(--head); position: sticky; top: 0; font-weight: 600; text-align: left; }
tbody tr:nth-child(even) td { background: #fafafa; }
tbody tr:hover td { background: #eef4fb; }
td strong { color: #000; }
img { width: 860px; max-width: 100%; height: auto; display: block; margin: 10px 0 4px;
      border: 1px solid var(--line); border-radius: 4px; background: #fff; }
nav.toc { font-size: 14px; background: var(--head); border: 1px solid var(--line);
          border-radius: 4px; padding: 6px 16px; margin: 12px 0; max-width: 80ch; }
nav.toc ul { margin: 4px 0; padding-left: 18px; }
section.published { background: var(--pub); border: 1px solid var(--pub-line);
                    border-left: 6px solid var(--pub-line); border-radius: 4px;
                    padding: 2px 16px 8px; margin: 18px 0; }
section.published h3::before { content: "NOT MEASURED BY RSBENCH · "; color: #8a5a00;
                               font-size: 12px; letter-spacing: .05em; }
section.published th { background: #fbefcf; }
section.published tbody tr:nth-child(even) td { background: #fffbf0; }
"""


def _page(title: str, nav: str, body: str, footer: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="rsbench leaderboard">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f'<header class="site">{nav}</header>\n<main>\n{body}\n</main>\n'
        f'<footer class="site">{footer}</footer>\n</body>\n</html>\n'
    )


def _wrap_published(body: str) -> str:
    """Put each published block (an h3 "Published results…" up to the next h2/h3) in a box."""
    parts = re.split(r"(?=<h[23][ >])", body)
    out = []
    for part in parts:
        if re.match(r'<h3 id="published-results', part):
            out.append(f'<section class="published">\n{part.rstrip()}\n</section>\n')
        else:
            out.append(part)
    return "".join(out)


SAFE_URL = re.compile(r"^(?:https?:|mailto:|#|[^:]*$)", re.IGNORECASE)


def _safe_links(body: str) -> str:
    """Every ``href``/``src`` a relative path, an anchor or http(s)/mailto: a link spelled in
    a record (``[x](javascript:…)``) becomes inert."""

    def check(m: re.Match) -> str:
        url = html.unescape(m.group(2)).strip()
        cleaned = re.sub(r"[\x00-\x20]", "", url)  # "java\tscript:" is still a scheme
        return m.group(0) if SAFE_URL.match(cleaned) else f'{m.group(1)}="#"'

    return re.sub(r'\b(href|src)="([^"]*)"', check, body)


def markdown_to_html(text: str) -> tuple[str, str]:
    """(body, table of contents) of a Markdown leaderboard.

    Strings in it come from records, which anyone can write: raw HTML in the Markdown is shown
    as text, never passed through (no ``<script>``, no ``onerror=``), and links are limited to
    relative paths, anchors and http(s)."""
    import markdown

    md = markdown.Markdown(
        extensions=["tables", "fenced_code", "toc"],
        extension_configs={"toc": {"toc_depth": "2-2"}},
        output_format="html",
    )
    md.preprocessors.deregister("html_block")  # raw HTML blocks: escaped as text
    md.inlinePatterns.deregister("html")  # inline tags: escaped as text
    body = _safe_links(md.convert(text))
    body = body.replace("<table>", '<div class="table-wrap">\n<table>').replace(
        "</table>", "</table>\n</div>"
    )
    # figures: the crisp SVG in the page (the Markdown shows the PNG), a click opens it whole
    body = re.sub(
        r'(<img alt="[^"]*" src="(plots/[^"]+)\.png"\s*/?>)',
        lambda m: f'<a href="{m.group(2)}.svg">{m.group(1).replace(".png", ".svg")}</a>',
        body,
    )
    return _wrap_published(body), md.toc


def dataset_page(board, markdown_text: str) -> str:
    body, toc = markdown_to_html(markdown_text)
    # the table of contents goes after the title and the facts list
    first_h2 = body.find("<h2")
    if first_h2 != -1 and "<li>" in toc:
        body = (
            body[:first_h2]
            + f'<nav class="toc"><strong>Sections</strong>{toc}</nav>\n'
            + body[first_h2:]
        )
    name = html.escape(board.dataset)
    nav = (
        f'<a href="index.html">All leaderboards</a> · <a href="{name}.md">Markdown</a> · '
        f'<a href="records/{name}.jsonl">records</a>'
    )
    footer = (
        f"Generated by <code>rsbench leaderboard</code> from <code>records/{name}.jsonl</code>. "
        "Measured numbers were measured by rsbench; published numbers are marked as published "
        "and carry their source."
    )
    return _page(f"{board.dataset} leaderboard · rsbench", nav, body, footer)


def index_page(entries: list[dict]) -> str:
    """The folder's index: one row per dataset, with what its leaderboard covers."""
    rows = []
    for e in entries:
        ok = [r for r in e["records"] if r.get("status") == "ok"]
        name = html.escape(e["dataset"])
        methods = sorted({r["method"]["name"] for r in ok})
        models = sorted({r["noise"]["model"] for r in ok})
        ratios = sorted({r["noise"]["ratio"] for r in ok})
        profiles = sorted({r["method"].get("profile", "small") for r in ok})
        rows.append(
            "<tr>"
            f'<td><a href="{name}.html">{name}</a></td>'
            f"<td>{len(e['records'])}</td>"
            f"<td>{len(e['records']) - len(ok)}</td>"
            f"<td>{html.escape(', '.join(methods)) or '–'}</td>"
            f"<td>{html.escape(', '.join(models)) or '–'}</td>"
            f"<td>{html.escape(', '.join(f'{r * 100:g}%' for r in ratios)) or '–'}</td>"
            f"<td>{html.escape(', '.join(profiles)) or '–'}</td>"
            f'<td><a href="{name}.md">Markdown</a> · <a href="records/{name}.jsonl">records</a></td>'
            "</tr>"
        )
    table = (
        '<div class="table-wrap">\n<table>\n<thead><tr><th>Dataset</th><th>Cells</th>'
        "<th>Failed</th><th>Methods</th><th>Noise models</th><th>Noise ratios</th>"
        "<th>Profiles</th><th>Files</th></tr></thead>\n<tbody>\n"
        + "\n".join(rows)
        + "\n</tbody>\n</table>\n</div>"
        if rows
        else "<p>No leaderboard in this folder yet.</p>"
    )
    body = (
        "<h1>rsbench leaderboards</h1>\n"
        "<p>Robust remote-sensing image-text retrieval under noisy correspondence: every number "
        "on these pages was measured by rsbench from the records linked beside it, except the "
        "blocks marked as published, which carry their source.</p>\n" + table
    )
    return _page(
        "rsbench leaderboards", "rsbench", body, "Generated by <code>rsbench leaderboard</code>."
    )
