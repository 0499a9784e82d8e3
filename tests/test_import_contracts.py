"""The import contracts of pyproject.toml (``lint-imports``) hold on the tree, and catch a
tree that breaks them; and no module of rsbench or its plugins is part of an import circle."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` with the contracts of ``cwd/pyproject.toml``, importing from ``cwd``."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(cwd), os.environ.get("PYTHONPATH", "")]))
    command = [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)


def test_the_tree_keeps_its_contracts():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _copy_tree(to: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "weights", "*.json", "*.txt", "*.yaml", "*.tmpl")
    shutil.copytree(ROOT / "rsbench", to / "rsbench", ignore=ignore)
    shutil.copytree(ROOT / "plugins", to / "rsbench_plugins", ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", to / "pyproject.toml")


def test_a_private_import_in_a_plugin_and_an_upward_import_break_the_contracts(tmp_path):
    _copy_tree(tmp_path)
    (tmp_path / "rsbench_plugins" / "methods" / "peek.py").write_text(
        "from rsbench.run.runner import Runner\n", encoding="utf-8"
    )  # a plugin reaching past rsbench.api
    errors = (
        tmp_path / "rsbench" / "io" / "errors.py"
    )  # the bottom floor importing the command line
    errors.write_text(errors.read_text(encoding="utf-8") + "\nimport rsbench.cli.main.main\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert "rsbench's packages: each imports only those below it BROKEN" in out
    assert "rsbench.testing BROKEN" in out  # the plugin contract
    assert "rsbench_plugins.methods.peek -> rsbench.run.runner" in out
    assert "Contracts: 0 kept, 3 broken." in out  # errors -> cli also closes a circle


def test_no_module_is_part_of_an_import_circle():
    graph = grimp.build_graph("rsbench", "rsbench_plugins", cache_dir=None)
    circles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if module < imported and graph.chain_exists(imported, module):
                circles.append((module, imported))
    assert circles == [], f"import circles through: {circles}"
