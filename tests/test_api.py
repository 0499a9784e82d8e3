"""`rsbench.api`, the module plugins import: every name resolves, and importing it stays light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import rsbench.api as api


@pytest.mark.parametrize("name", api.__all__)
def test_every_public_name_resolves(name):
    assert getattr(api, name) is not None


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Runner'"):
        api.Runner  # noqa: B018


def test_the_type_checking_imports_name_the_same_objects():
    """Type checkers and import-linter read the ``TYPE_CHECKING`` block; it must list what
    ``__getattr__`` serves, from the same modules."""
    tree = ast.parse(Path(api.__file__).read_text(encoding="utf-8"))
    block = next(
        n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"
    )
    imported = {alias.name: node.module for node in block.body for alias in node.names}
    assert imported == api._HOME


def test_importing_it_stays_as_light_as_the_package_root():
    """Registration modules import from here: no numpy for the import itself, and no torch for
    any name (torch comes with `rsbench.engine`, imported by a method when it is used)."""
    code = (
        "import sys; import rsbench.api; light = 'numpy' not in sys.modules; "
        f"from rsbench.api import {', '.join(api.__all__)}; "
        "print(light, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"], out.stdout + out.stderr
