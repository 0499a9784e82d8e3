"""``rsbench new-plugin``: the package it writes installs, lints and passes its own tests; bad
input is one line and exit 2 with nothing written."""

from __future__ import annotations

import importlib.util
import inspect
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rsbench.cli.main import main
from rsbench.plugin.manager import reset_plugins
from rsbench.scaffold import plugin_names
from rsbench.testing import write_distribution

FILES = {
    "method": ["README.md", "pyproject.toml", "{m}/__init__.py", "{m}/method.py",
               "tests/test_method.py"],
    "dataset": ["README.md", "pyproject.toml", "{m}/__init__.py", "{m}/dataset.py",
                "tests/test_dataset.py"],
    "noise": ["README.md", "pyproject.toml", "{m}/__init__.py", "{m}/noise.py",
              "tests/test_noise.py"],
}  # fmt: skip


def run(argv, capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def run_generated_tests(package, names, tmp_path, monkeypatch):
    """Install the package as pip would (a dist-info with its entry point on the path) and
    call its test functions."""
    write_distribution(tmp_path / "site", names.dist, {names.name: names.module}, version="0.1.0")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.syspath_prepend(str(package))
    monkeypatch.setenv("RSBENCH_LOAD_PLUGINS", f"rsbench,{names.name}")
    reset_plugins()
    path = package / "tests" / f"test_{names.kind}.py"
    spec = importlib.util.spec_from_file_location(f"generated_{names.module}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tests = [f for n, f in vars(module).items() if n.startswith("test_") and callable(f)]
    assert len(tests) == (3 if names.kind == "method" else 2)  # a method's search space too
    for test in tests:
        wanted = inspect.signature(test).parameters
        test(**({"tmp_path": tmp_path / "test-tmp"} if "tmp_path" in wanted else {}))


@pytest.mark.parametrize("kind", ["method", "dataset", "noise"])
def test_the_package_is_complete_lints_and_passes_its_own_tests(
    kind, tmp_path, monkeypatch, capsys
):
    name = f"my-{kind}-x"
    code, out, err = run(
        ["new-plugin", name, "--kind", kind, "--dir", str(tmp_path / "pkgs")], capsys
    )
    assert code == 0, err
    names = plugin_names(name, kind)
    package = tmp_path / "pkgs" / names.dist
    assert sorted(p.name for p in (tmp_path / "pkgs").iterdir()) == [names.dist]  # nothing else
    written = sorted(str(p.relative_to(package)) for p in package.rglob("*") if p.is_file())
    assert written == sorted(f.format(m=names.module) for f in FILES[kind])
    assert f"cd {package} && pip install -e '.[test]' && pytest" in out
    pyproject = (package / "pyproject.toml").read_text()
    assert f'[project.entry-points.rsbench]\n{name} = "{names.module}"' in pyproject
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or "ruff"
    for args in (["check", "."], ["format", "--check", "."]):
        lint = subprocess.run([ruff, *args], cwd=package, capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout + lint.stderr
    run_generated_tests(package, names, tmp_path, monkeypatch)


@pytest.mark.parametrize(
    "name, message",
    [
        ("My-Method", "is not valid: use lower-case letters and digits"),
        ("1method", "is not valid"),
        ("a/b", "is not valid"),
        ("../escape", "is not valid"),
        ("a--b", "is not valid"),
        ("x" * 41, "at most 40 characters"),
        ("rsbench-foo", "leave out the 'rsbench' prefix"),
        ("dual-encoder", "makes the class name DualEncoderMethod, which the package imports"),
        ("infonce", "a method named 'infonce' is already registered"),
    ],
)
def test_a_bad_name_is_one_line_and_exit_2_and_nothing_is_written(name, message, tmp_path, capsys):
    code, out, err = run(["new-plugin", name, "--dir", str(tmp_path / "out")], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err
    assert not (tmp_path / "out").exists()


def test_an_existing_folder_is_never_overwritten(tmp_path, capsys):
    (tmp_path / "rsbench-mine" / "mine").mkdir(parents=True)
    (tmp_path / "rsbench-mine" / "notes.txt").write_text("keep me")
    code, _, err = run(["new-plugin", "mine", "--dir", str(tmp_path)], capsys)
    assert code == 2 and "rsbench-mine already exists; refusing to overwrite it" in err
    assert sorted(p.name for p in (tmp_path / "rsbench-mine").iterdir()) == ["mine", "notes.txt"]
    assert (tmp_path / "rsbench-mine" / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rsbench-mine"]  # no temporary left


def test_a_dir_that_is_a_file_and_an_unknown_kind_are_exit_2(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    code, _, err = run(["new-plugin", "mine", "--dir", str(tmp_path / "file")], capsys)
    assert code == 2 and "is a file, not a folder" in err
    code, _, err = run(["new-plugin", "mine", "--kind", "model"], capsys)
    assert code == 2 and "invalid choice: 'model'" in err and len(err.strip().splitlines()) == 1
