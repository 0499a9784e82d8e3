"""Screenshots of a leaderboard folder's HTML pages in headless Chromium, to look at them.

    python tools/screenshot_leaderboards.py leaderboards /tmp/shots [--width 1280]

Writes ``<page>.png`` per HTML page (the whole page, one window as tall as the content) and
prints, per page, what ``tests/browser.py`` finds broken (figures not loaded, tables without
rows, a page wider than the window, published blocks without their label).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.browser import find_chromium, probe_page, problems  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=0, help="window height [the page's]")
    args = parser.parse_args()
    chromium = find_chromium()
    if chromium is None:
        print("no Chromium found (apt-get install chromium)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rsbench-shots-") as tmp:
        # the pages are inspected in a copy: nothing is written into the folder itself
        copy = Path(tmp) / "site"
        shutil.copytree(args.folder, copy)
        return shoot(copy, args, chromium)


def shoot(folder: Path, args, chromium: str) -> int:
    home = folder.parent / "home"
    for page in sorted(folder.glob("*.html")):
        findings = probe_page(page, chromium, width=args.width)
        height = args.height or findings["height"] + 40
        shot = args.out / f"{page.stem}-{args.width}.png"
        subprocess.run(
            [
                chromium,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--window-size={args.width},{height}",
                "--virtual-time-budget=10000",
                f"--screenshot={shot.resolve()}",
                f"--user-data-dir={home}",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            timeout=120,
            check=True,
            env={**os.environ, "HOME": str(home)},
        )
        found = problems(findings)
        print(f"{shot}: {'; '.join(found) if found else 'no problem found'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
