"""The README and the documentation site (docs/, mkdocs.yml) against the code and the files.

The README stays a short front page; every relative link leads to a file (and, in docs/, to
one inside docs/, the only folder the site holds); every page is in the site's navigation;
every ``rsbench`` command of a ``bash`` block parses, every flag of a command synopsis or an
inline command exists in the parser, and the commands of blocks marked ``<!-- docs: cheap -->``
run (they list, or dry-run) and exit 0. ``mkdocs build --strict`` itself runs in CI.
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest
import yaml

from rsbench.cli.main import main
from rsbench.cli.parser import build_parser

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
README = REPO / "README.md"
PAGES = [README, *sorted(DOCS.rglob("*.md"))]
CHEAP_MARK = "<!-- docs: cheap -->"
README_MAX_LINES = 150

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_SPAN = re.compile(r"`([^`\n]+)`")
_FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-z])\b")


def rel(page: Path) -> str:
    return page.relative_to(REPO).as_posix()


def prose(text: str) -> str:
    """The text without fenced blocks and inline code, where links are not links."""
    return _SPAN.sub("", _FENCE.sub("", text))


def blocks(text: str, language: str) -> list[tuple[str, bool]]:
    """(body, marked cheap) of every fenced block in ``language``."""
    found = []
    for match in _FENCE.finditer(text):
        if match.group(1) == language:
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            found.append((match.group(2), before.strip() == CHEAP_MARK))
    return found


def shell_commands(block: str) -> list[str]:
    """The ``rsbench ...`` commands of a bash block: continuations joined, comments dropped,
    ``&&`` chains split; a command with a ``...`` placeholder is left out."""
    joined = re.sub(r"\\\n\s*", " ", block)
    commands = []
    for line in joined.splitlines():
        for part in line.split(" #")[0].split("&&"):
            part = part.strip()
            if part.startswith("rsbench ") and "..." not in part:
                commands.append(part)
    return commands


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def command_parser(words: list[str]) -> tuple[argparse.ArgumentParser, list[str]]:
    """The (sub)parser that ``rsbench WORDS`` reaches, and the subcommand words it took;
    fails when a word that should be a subcommand is not one."""
    parser, taken = build_parser(), []
    for word in words:
        choices = subcommands(parser)
        if not choices:
            break
        assert word in choices, f"`rsbench {' '.join([*taken, word])}`: no such subcommand"
        parser, taken = choices[word], [*taken, word]
    assert not subcommands(parser), f"`rsbench {' '.join(taken)}` needs a subcommand"
    return parser, taken


def options(parser: argparse.ArgumentParser) -> set[str]:
    parser.complete()  # the flags `run` and `tune` add when used
    return {s for action in parser._actions for s in action.option_strings}


def synopses(page: Path) -> list[str]:
    """Command synopses: ``rsbench ...`` lines of ``text`` blocks with their indented
    continuation lines, and inline ``rsbench ...`` spans of the prose."""
    text = page.read_text(encoding="utf-8")
    found = []
    for body, _ in blocks(text, "text"):
        current = None
        for line in body.splitlines():
            line = line.split(" #")[0].rstrip()
            if line.startswith("rsbench "):
                current = len(found)
                found.append(line)
            elif current is not None and line.startswith(" ") and line.strip():
                found[current] += " " + line.strip()
            else:
                current = None
    found += [s for s in _SPAN.findall(_FENCE.sub("", text)) if s.startswith("rsbench ")]
    return found


def check_synopsis(synopsis: str) -> list[str]:
    """What in one synopsis the parser lacks: its subcommand, or flags."""
    words = [w for w in re.split(r"[\s\[\]|]+", synopsis)[1:] if w]
    leading = []
    for word in words:
        if not re.fullmatch(r"[a-z][a-z-]*", word):
            break
        leading.append(word)
    parser = build_parser()
    for n, word in enumerate(leading):  # descend while words are subcommands
        choices = subcommands(parser)
        if not choices:
            break
        if word not in choices:
            return [f"`{synopsis}`: no subcommand {' '.join(leading[: n + 1])!r}"]
        parser = choices[word]
    if subcommands(parser) and "--help" not in synopsis:
        return [f"`{synopsis}`: a subcommand is missing"]
    known = options(parser)
    return [
        f"`{synopsis}`: {flag} is not an option"
        for flag in _FLAG.findall(synopsis)
        if flag not in known
    ]


# -- the README ------------------------------------------------------------------------------


def test_the_readme_is_a_short_front_page():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines; at most {README_MAX_LINES}: move detail to docs/"
    )


def test_the_readme_keeps_the_blocks_ci_runs():
    """.ci/run reads the ```bash block after each marker line and runs it."""
    lines = README.read_text(encoding="utf-8").splitlines()
    for marker in ("<!-- ci: setup-and-run -->", "<!-- ci: tests -->"):
        assert marker in lines, f"README.md lacks the line {marker}"
        at = lines.index(marker)
        assert lines[at + 1] == "```bash" and lines[at + 3] == "```", marker


def test_getting_started_installs_with_the_readme_command():
    readme = README.read_text(encoding="utf-8")
    setup = readme.split("<!-- ci: setup-and-run -->\n```bash\n", 1)[1].split("```", 1)[0]
    page = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    assert blocks(page, "bash")[0][0] == setup, "getting-started.md's install differs from CI's"


# -- links and the site ----------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_every_relative_link_leads_to_a_file(page):
    broken = []
    for target in _LINK.findall(prose(page.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL (http:, mailto:) or an anchor of the page itself
        path = (page.parent / target.split("#", 1)[0]).resolve()
        if not path.exists():
            broken.append(f"{target} (no such file)")
        elif page != README and not path.is_relative_to(DOCS.resolve()):
            broken.append(f"{target} (outside docs/: the site lacks it; write the path as code)")
    assert not broken, f"{rel(page)}: broken links:\n" + "\n".join(broken)


def test_the_link_check_finds_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("[a](missing.md) `[b](not-a-link.md)` [c](https://example.org)\n")
    targets = _LINK.findall(prose(page.read_text()))
    assert targets == ["missing.md", "https://example.org"]


def nav_files(nav) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [f for value in nav.values() for f in nav_files(value)]
    return [f for item in nav for f in nav_files(item)]


def test_every_page_is_in_the_site_navigation_and_every_entry_exists():
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    listed = nav_files(config["nav"])
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    assert sorted(set(listed)) == sorted(listed), "a page is twice in the navigation"
    assert sorted(listed) == pages, (
        f"not in the nav: {sorted(set(pages) - set(listed))}; "
        f"in the nav but missing: {sorted(set(listed) - set(pages))}"
    )


def test_the_api_reference_documents_the_plugin_modules():
    reference = (DOCS / "reference.md").read_text(encoding="utf-8")
    modules = re.findall(r"^::: ([\w.]+)$", reference, re.MULTILINE)
    assert {"rsbench.api", "rsbench.engine", "rsbench.testing"} <= set(modules)
    for module in modules:
        __import__(module)
    # rsbench.api loads its names lazily, so its page lists them: each must be a real API name
    import rsbench.api

    listed = re.search(r"::: rsbench\.api\n\s+options:\n\s+members: \[(.*?)\]", reference)
    assert listed, "the API reference lists rsbench.api's members"
    names = [n.strip() for n in listed.group(1).split(",")]
    assert {"Dataset", "NoiseModel", "Method", "TrainTask", "Split"} <= set(names)
    assert set(names) <= set(rsbench.api.__all__), set(names) - set(rsbench.api.__all__)


# -- commands --------------------------------------------------------------------------------


def documented_commands() -> list[tuple[str, str, bool]]:
    """(page, command, cheap) for every rsbench command of every page's bash blocks."""
    return [
        (rel(page), command, cheap)
        for page in PAGES
        for body, cheap in blocks(page.read_text(encoding="utf-8"), "bash")
        for command in shell_commands(body)
    ]


def test_the_pages_have_commands_to_check():
    commands = documented_commands()
    assert len(commands) >= 20
    assert sum(cheap for _, _, cheap in commands) >= 5


@pytest.mark.parametrize(
    ("page", "command"),
    [(page, command) for page, command, _ in documented_commands()],
)
def test_every_documented_command_parses(page, command):
    words = shlex.split(command)[1:]
    command_parser([w for w in words if not w.startswith("-")][:2])
    try:
        build_parser().parse_args(words)
    except SystemExit:
        pytest.fail(f"{page}: `{command}` does not parse")


def test_every_flag_of_a_synopsis_exists():
    wrong = [
        f"{rel(page)}: {problem}"
        for page in PAGES
        for synopsis in synopses(page)
        for problem in check_synopsis(synopsis)
    ]
    assert not wrong, "\n".join(wrong)


#: flags of other programs named in the pages: benchmarks/chnr_features.py, CHNR's own code
OTHER_PROGRAMS_FLAGS = {"--paper-random-weights", "--clean-epochs", "--noise-weights"}


def all_options(parser: argparse.ArgumentParser) -> set[str]:
    found = options(parser)
    for sub in subcommands(parser).values():
        found |= all_options(sub)
    return found


def test_every_flag_named_alone_exists():
    """An inline flag (`--keep-checkpoints`) names an option of some rsbench command."""
    known = all_options(build_parser()) | OTHER_PROGRAMS_FLAGS
    wrong = [
        f"{rel(page)}: `{span}`"
        for page in PAGES
        for span in _SPAN.findall(_FENCE.sub("", page.read_text(encoding="utf-8")))
        if span.startswith("-") and any(f not in known for f in _FLAG.findall(span))
    ]
    assert not wrong, "flags no rsbench command has:\n" + "\n".join(wrong)


def test_the_synopsis_check_finds_a_wrong_flag_or_subcommand():
    assert check_synopsis("rsbench run --methods x [--seeds 0] [--no-such-flag]") == [
        "`rsbench run --methods x [--seeds 0] [--no-such-flag]`: --no-such-flag is not an option"
    ]
    assert check_synopsis("rsbench data check rsitmd --quick") == []
    assert check_synopsis("rsbench frobnicate --x")[0].endswith("no subcommand 'frobnicate'")
    assert check_synopsis("rsbench data --quick")[0].endswith("a subcommand is missing")


def cheap_commands() -> list[tuple[str, str]]:
    return [(page, command) for page, command, cheap in documented_commands() if cheap]


@pytest.mark.parametrize(("page", "command"), cheap_commands())
def test_the_cheap_commands_run(page, command, tmp_path, monkeypatch, capsys):
    """Listing and dry-run commands, as written, in an empty folder: exit 0. A ``run`` or
    ``tune`` must be a dry run, so that the check stays cheap."""
    words = shlex.split(command)[1:]
    if words[0] in ("run", "tune"):
        assert "--dry-run" in words, f"{page}: `{command}` is marked cheap but trains"
    for folder in ("experiments", "configs", "leaderboards"):  # grid files, read as written
        (tmp_path / folder).symlink_to(REPO / folder)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RSBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RSBENCH_PROGRESS", "0")
    code = main(words)
    out = capsys.readouterr()
    assert code == 0, f"{page}: `{command}` exited {code}:\n{out.err[-2000:]}"
    assert out.out or out.err
