"""Everything around the Markdown leaderboard that a reader or a web page needs.

- ``published``: the published reference numbers shipped as data (with their sources) and the
  "published" blocks shown under the measured tables;
- ``plots``: deterministic matplotlib figures (PNG and SVG) of each section;
- ``export``: the CSV, JSON and LaTeX exports;
- ``html``: the static HTML pages (one per dataset, and an index);
- ``board``: one leaderboard folder as a whole (Markdown, plots, exports, the records behind
  them), written atomically or compared with what is on disk (``rsbench leaderboard --check``).

The Markdown tables themselves stay in ``rsbench.report.markdown``.
"""
