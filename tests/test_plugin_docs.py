"""Meta-tests in the manner of datasette's: every hook has a test, and every hook, base-class
member and helper of the plugin surface is documented in docs/plugins.md with its exact
signature; a signature documented there that the code does not have fails too."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from rsbench.cli.parser import build_parser
from rsbench.plugin.manager import HOOKS

from . import plugin_surface

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "plugins.md"
#: a documented signature: a heading or a bullet that opens with it in backticks
_DOCUMENTED = re.compile(r"^(?:#{2,4} |- )`([^`]+)`", re.MULTILINE)
_HEAD = re.compile(r"^([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?(?=[( ]|$)")
SURFACE = plugin_surface.surface()


def documented() -> list[str]:
    """Every backticked span that opens a heading or a bullet: one signature each."""
    return _DOCUMENTED.findall(DOC.read_text(encoding="utf-8"))


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_every_hook_has_a_test(hook):
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "tests").glob("test_*.py"))
    assert re.search(rf"^def test_hook_{hook}\(", sources, re.MULTILINE), (
        f"no test_hook_{hook} in tests/: every hook needs a test"
    )


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_every_hook_is_a_heading_with_its_exact_signature(hook):
    signature = plugin_surface.hook_signatures()[hook]
    headings = re.findall(r"^### `([^`]+)`", DOC.read_text(encoding="utf-8"), re.MULTILINE)
    assert signature in headings, f"docs/plugins.md needs the heading ### `{signature}`"


@pytest.mark.parametrize("name", sorted(SURFACE))
def test_the_surface_is_documented_with_exact_signatures(name):
    spans = documented()
    expected = SURFACE[name]
    if expected in spans:
        return
    near = [s for s in spans if _HEAD.match(s) and _name_of(s) == name]
    hint = f"; documented as `{near[0]}`" if near else ""
    pytest.fail(f"docs/plugins.md lacks `{expected}`{hint}")


def test_every_documented_signature_is_the_codes():
    owners = plugin_surface.owners()
    wrong = []
    for span in documented():
        match = _HEAD.match(span)
        if not match or not re.search(r"\(|->", span):
            continue
        owner, member = match.groups()
        name = f"{owner}.{member}" if member else owner
        if name in SURFACE:
            if span != SURFACE[name]:
                wrong.append(f"`{span}` (the code: `{SURFACE[name]}`)")
        elif member and owner in owners:
            wrong.append(f"`{span}` ({owner} has no public member {member!r})")
    assert not wrong, "docs/plugins.md documents signatures the code lacks:\n" + "\n".join(wrong)


def test_the_documented_commands_parse():
    """Every ``rsbench ...`` command in the page's code blocks is valid for the parser."""
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    commands = [
        part.strip()
        for block in blocks
        for line in block.splitlines()
        for part in line.split("#")[0].split("&&")
        if part.strip().startswith("rsbench ")
    ]
    assert len(commands) >= 3
    parser = build_parser()
    for command in commands:
        try:
            parser.parse_args(shlex.split(command)[1:])
        except SystemExit:
            pytest.fail(f"docs/plugins.md: `{command}` does not parse")


def test_the_readme_points_plugin_authors_to_the_page():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "docs/plugins.md" in readme and "rsbench new-plugin" in readme


def _name_of(span: str) -> str:
    owner, member = _HEAD.match(span).groups()
    return f"{owner}.{member}" if member else owner
