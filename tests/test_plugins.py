"""Plugin loading: isolation of broken plugins, duplicates, misspelled hooks, strict mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib import metadata

import pytest

from rsbench.io.errors import RsbenchError, UnknownComponentError
from rsbench.plugin.manager import get_plugins, load_plugins
from rsbench.testing import entry_point, write_distribution

BUILTINS = [
    entry_point("builtin-methods", "rsbench_plugins.methods"),
    entry_point("builtin-datasets", "rsbench_plugins.datasets"),
    entry_point("builtin-noise", "rsbench_plugins.noise"),
]

GOOD = """
from rsbench import hookimpl
from rsbench_plugins.noise.caption_shuffle import CaptionShuffle

class Reverse(CaptionShuffle):
    '''Reverse the caption rows.'''
    version = "3"

@hookimpl
def register_noise_models(register):
    register("reverse", Reverse)
"""


@pytest.fixture
def module_dir(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name: str, source: str):
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        sys.modules.pop(name, None)
        return entry_point(name, name)

    return write


def test_builtins_register_without_failures():
    plugins = get_plugins()
    assert plugins.failures() == []
    assert {"infonce", "vse"} <= set(plugins.methods.names())
    assert {"synthrs", "synthrs-tiny"} <= set(plugins.datasets.names())
    assert {"caption_shuffle", "image_shuffle"} <= set(plugins.noise_models.names())
    entry = plugins.methods.get("infonce")
    assert entry.version == "1" and entry.plugin == "builtin-methods" and entry.description


def test_a_plugin_that_fails_to_import_is_reported_and_the_rest_works(module_dir):
    broken = module_dir("rsb_broken_import", "import not_a_module_anywhere\n")
    good = module_dir("rsb_good", GOOD)
    plugins = load_plugins([*BUILTINS, broken, good])
    assert "reverse" in plugins.noise_models
    assert "infonce" in plugins.methods
    (failure,) = plugins.failures()
    assert failure.name == "rsb_broken_import"
    assert "ModuleNotFoundError" in failure.errors[0]


def test_a_plugin_whose_hook_raises_loses_only_itself(module_dir):
    raising = module_dir(
        "rsb_raising",
        """
        from rsbench import hookimpl
        @hookimpl
        def register_methods(register):
            raise RuntimeError("boom")
    """,
    )
    plugins = load_plugins([*BUILTINS, raising])
    assert "infonce" in plugins.methods
    (failure,) = plugins.failures()
    assert failure.errors == ["register_methods failed: RuntimeError: boom"]


def test_a_misspelled_hook_is_an_error(module_dir):
    typo = module_dir(
        "rsb_typo",
        """
        from rsbench import hookimpl
        @hookimpl
        def register_method(register):
            register("x", "a:B", version="1", description="x")
    """,
    )
    plugins = load_plugins([*BUILTINS, typo])
    (failure,) = plugins.failures()
    assert "invalid hook" in failure.errors[0] and "register_method" in failure.errors[0]
    assert "x" not in plugins.methods


def test_duplicate_names_are_an_error_naming_both_plugins(module_dir):
    dup = module_dir(
        "rsb_dup",
        """
        from rsbench import hookimpl
        @hookimpl
        def register_methods(register):
            register("infonce", "rsb_dup:Nothing", version="9", description="an impostor")
    """,
    )
    plugins = load_plugins([*BUILTINS, dup])
    with pytest.raises(RsbenchError, match="builtin-methods and rsb_dup"):
        plugins.methods.get("infonce")
    assert "vse" in plugins.methods  # the rest of both plugins is fine
    names = {f.name for f in plugins.failures()}
    assert names == {"builtin-methods", "rsb_dup"}


def test_strict_mode_reraises(module_dir, monkeypatch):
    broken = module_dir("rsb_broken_strict", "raise ValueError('bad plugin')\n")
    monkeypatch.setenv("RSBENCH_STRICT_PLUGINS", "1")
    with pytest.raises(ValueError, match="bad plugin"):
        load_plugins([*BUILTINS, broken])


def test_load_plugins_env_restricts_loading(monkeypatch):
    monkeypatch.setenv("RSBENCH_LOAD_PLUGINS", "builtin-noise")
    plugins = load_plugins()
    assert plugins.methods.names() == []
    assert "caption_shuffle" in plugins.noise_models
    monkeypatch.setenv("RSBENCH_LOAD_PLUGINS", "")
    assert load_plugins().noise_models.names() == []


def test_unknown_names_get_the_valid_list_and_a_suggestion():
    with pytest.raises(UnknownComponentError) as info:
        get_plugins().methods.get("infonse")
    message = str(info.value)
    assert "did you mean 'infonce'?" in message and "vse" in message


def test_a_lazy_target_that_fails_to_import_names_its_plugin(module_dir):
    lazy = module_dir(
        "rsb_lazy",
        """
        from rsbench import hookimpl
        @hookimpl
        def register_methods(register):
            register("ghost", "rsb_lazy_missing_module:Ghost", version="1", description="never importable")
    """,
    )
    plugins = load_plugins([*BUILTINS, lazy])
    with pytest.raises(RsbenchError, match=r"method 'ghost' \(plugin rsb_lazy\) failed to load"):
        plugins.methods.get("ghost").create()


def test_a_lazy_target_without_version_is_refused(module_dir):
    bad = module_dir(
        "rsb_noversion",
        """
        from rsbench import hookimpl
        @hookimpl
        def register_methods(register):
            register("nov", "somewhere:Thing")
    """,
    )
    plugins = load_plugins([*BUILTINS, bad])
    (failure,) = plugins.failures()
    assert "needs version= and description=" in failure.errors[0]


def test_registration_imports_neither_torch_nor_transformers():
    code = (
        "import sys; from rsbench.plugin.manager import get_plugins; p = get_plugins();"
        "assert p.methods.names() and p.datasets.names() and p.noise_models.names();"
        "print(sorted(m for m in ('torch', 'transformers', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_survives_a_broken_third_party_distribution(tmp_path):
    site = write_distribution(
        tmp_path,
        "rsbench-broken",
        {"broken": "rsb_dist_broken", "extra": "rsb_dist_good"},
        {
            "rsb_dist_broken.py": "raise ImportError('missing dependency xyz')\n",
            "rsb_dist_good.py": GOOD,
        },
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("RSBENCH_LOAD_PLUGINS", None)
    listing = subprocess.run(
        [sys.executable, "-m", "rsbench", "list", "noise"], env=env, capture_output=True, text=True
    )
    assert listing.returncode == 0
    assert "reverse" in listing.stdout and "caption_shuffle" in listing.stdout
    warnings = listing.stderr.strip().splitlines()
    assert (
        len(warnings) == 1
        and "plugin 'broken' (rsbench-broken 0.1) is broken" in warnings[0]
        and "missing dependency xyz" in warnings[0]
    )
    shown = subprocess.run(
        [sys.executable, "-m", "rsbench", "plugins"], env=env, capture_output=True, text=True
    )
    assert shown.returncode == 0
    infos = {p["name"]: p for p in json.loads(shown.stdout)}
    # built-ins only with --all (other plugins installed in this environment may show too)
    assert {"broken", "extra"} <= set(infos)
    assert all(p["distribution"] != "rsbench" for p in infos.values())
    assert (
        infos["broken"]["distribution"] == "rsbench-broken" and infos["broken"]["version"] == "0.1"
    )
    assert "missing dependency xyz" in infos["broken"]["errors"][0]
    assert infos["extra"]["hooks"] == ["register_noise_models"] and infos["extra"]["errors"] == []
    assert metadata.version("rsbench")  # the package under test is installed


def test_plugin_components_are_usable_through_the_registry(module_dir):
    good = module_dir("rsb_good2", GOOD)
    plugins = load_plugins([*BUILTINS, good])
    model = plugins.noise_models.get("reverse").create({"mode": "rrsitr"})
    assert model.name == "reverse" and model.version == "3"
    with pytest.raises(RsbenchError, match="unknown option 'speed'"):
        plugins.noise_models.get("reverse").create({"speed": 3})


# ---- one test per hook (tests/test_plugin_docs.py checks that every hook has one) --------------


def test_hook_register_methods(module_dir):
    plugin = module_dir(
        "rsb_hook_methods",
        """
        from rsbench import hookimpl
        from rsbench_plugins.methods.infonce import InfoNCE

        class Eager(InfoNCE):
            '''An eagerly registered method.'''
            version = "2"

        @hookimpl
        def register_methods(register):
            register("eager", Eager)
            register("lazy", "rsbench_plugins.methods.vse:VSE", version="5", description="lazy")
        """,
    )
    plugins = load_plugins([*BUILTINS, plugin])
    assert plugins.failures() == []
    eager, lazy = plugins.methods.get("eager"), plugins.methods.get("lazy")
    assert (eager.version, eager.description, eager.plugin) == (
        "2",
        "An eagerly registered method.",
        "rsb_hook_methods",
    )
    assert lazy.lazy and (lazy.version, lazy.description) == ("5", "lazy")
    method = lazy.create({"epochs": 1})
    assert (method.name, method.version, method.options.epochs) == ("lazy", "5", 1)
    assert plugins.infos["rsb_hook_methods"].hooks == ["register_methods"]
    assert plugins.infos["rsb_hook_methods"].components == {"methods": ["eager", "lazy"]}


def test_hook_register_datasets(module_dir, tmp_path):
    plugin = module_dir(
        "rsb_hook_datasets",
        """
        from rsbench import hookimpl

        @hookimpl
        def register_datasets(register):
            register(
                "folder-data",
                "rsbench_plugins.datasets.ucm:UCMCaptions",
                version="1",
                description="UCM under another name",
            )
        """,
    )
    plugins = load_plugins([*BUILTINS, plugin])
    assert plugins.failures() == []
    entry = plugins.datasets.get("folder-data")
    assert entry.plugin == "rsb_hook_datasets" and entry.lazy
    dataset = entry.create({"data_root": str(tmp_path)})
    assert dataset.name == "folder-data" and dataset.options.data_root == str(tmp_path)
    assert plugins.infos["rsb_hook_datasets"].hooks == ["register_datasets"]


def test_hook_register_noise_models(module_dir):
    plugins = load_plugins([*BUILTINS, module_dir("rsb_hook_noise", GOOD)])
    assert plugins.failures() == []
    entry = plugins.noise_models.get("reverse")
    assert (entry.version, entry.description, entry.plugin) == (
        "3",
        "Reverse the caption rows.",
        "rsb_hook_noise",
    )
    assert plugins.infos["rsb_hook_noise"].hooks == ["register_noise_models"]


# ---- failure isolation end to end: import, registration, training ------------------------------

RAISES_IN_TRAINING = """
from rsbench_plugins.methods.infonce import InfoNCE


class RaisesInTraining(InfoNCE):
    '''A method whose first training step raises.'''

    def training_step(self, state, batch):
        raise RuntimeError("boom at step 1")
"""

BROKEN_REGISTRATION = """
from rsbench import hookimpl


@hookimpl
def register_methods(register):
    raise RuntimeError("registration bug")
"""

REGISTERS_RAISING = """
from rsbench import hookimpl


@hookimpl
def register_methods(register):
    register("raises", "rsb_e2e_raises_method:RaisesInTraining", version="1", description="raises")
"""


def test_three_broken_plugins_the_rest_runs_and_each_failure_names_plugin_and_version(
    tmp_path, monkeypatch, capsys
):
    """A package that fails at import, one that fails at registration and one whose method
    raises in training: the grid runs the rest, exits 1 (a failed cell), and every failure
    names its plugin with its distribution and version."""
    from rsbench.cli.main import main
    from rsbench.records.read import iter_records

    site = tmp_path / "site"
    write_distribution(
        site,
        "rsbench-imports-badly",
        {"imports_badly": "rsb_e2e_import"},
        {"rsb_e2e_import.py": "raise ImportError('needs the package xyz')\n"},
        version="0.3",
    )
    write_distribution(
        site,
        "rsbench-registers-badly",
        {"registers_badly": "rsb_e2e_register"},
        {"rsb_e2e_register.py": BROKEN_REGISTRATION},
        version="0.4",
    )
    write_distribution(
        site,
        "rsbench-raises",
        {"raises": "rsb_e2e_raises"},
        {"rsb_e2e_raises.py": REGISTERS_RAISING, "rsb_e2e_raises_method.py": RAISES_IN_TRAINING},
        version="0.5",
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("RSBENCH_LOAD_PLUGINS", "rsbench,imports_badly,registers_badly,raises")
    monkeypatch.chdir(tmp_path)

    def run(argv):
        capsys.readouterr()
        code = main(argv)
        return code, *capsys.readouterr()

    argv = ["run", "--methods", "raises,infonce", "--datasets", "synthrs-tiny", "--noise", "0.2"]
    code, _, err = run([*argv, "--epochs", "1", "--out", "runs", "--leaderboard-dir", "boards"])
    assert code == 1, err  # the documented code for a grid with a failed cell
    assert (
        "plugin 'imports_badly' (rsbench-imports-badly 0.3) is broken "
        "(import failed: ImportError: needs the package xyz)" in err
    )
    assert (
        "plugin 'registers_badly' (rsbench-registers-badly 0.4) is broken "
        "(register_methods failed: RuntimeError: registration bug)" in err
    )
    assert (
        "FAILED: RuntimeError: boom at step 1 (method 'raises' from plugin raises, "
        "rsbench-raises 0.5)" in err
    )
    assert "1 cells run, 0 skipped (already done), 1 failed" in err
    records = {r["method"]["name"]: r for r in iter_records([tmp_path / "runs"])}
    assert records["infonce"]["status"] == "ok"
    assert records["infonce"]["method"]["plugin_source"] == f"rsbench {metadata.version('rsbench')}"
    failed = records["raises"]
    assert failed["status"] == "failed" and failed["error"]["type"] == "RuntimeError"
    assert (failed["method"]["plugin"], failed["method"]["plugin_source"]) == (
        "raises",
        "rsbench-raises 0.5",
    )
    board = (tmp_path / "boards" / "synthrs-tiny.md").read_text()
    assert "| infonce " in board and "## Failed cells" in board and "boom at step 1" in board

    code, out, err = run(["plugins"])
    assert code == 0
    shown = {p["name"]: p for p in json.loads(out)}
    assert shown["imports_badly"]["version"] == "0.3" and shown["imports_badly"]["errors"]
    assert shown["registers_badly"]["distribution"] == "rsbench-registers-badly"
    assert shown["raises"]["errors"] == [] and shown["raises"]["components"] == {
        "methods": ["raises"]
    }

    code, out, _ = run(["list", "methods"])
    assert code == 0 and "raises" in out and "infonce" in out
