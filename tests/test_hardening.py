"""Writes stay in their folder, honour the umask and clean up after kills; damaged caches
recover; a plugin's ``sys.exit`` fails its cell only; plugin problems are always reported."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rsbench.cli.main import main
from rsbench.data.noise_file import noise_file_for
from rsbench.io.cleanup import remove_stale_temps
from rsbench.io.errors import RsbenchError
from rsbench.io.files import (
    DIR_LOCK,
    atomic_directory,
    atomic_save,
    atomic_write_text,
    held_lock,
)
from rsbench.plugin.manager import get_plugins
from rsbench.plugin.names import child_path
from rsbench.records.read import iter_records
from rsbench.report.markdown import write_leaderboards
from rsbench.testing import tiny_split, write_distribution
from rsbench_plugins.datasets import synthrs
from tests.fixtures.rs_datasets import make_ucm

TINY = ["--datasets", "synthrs-tiny", "--epochs", "1", "--seeds", "0"]


def run_main(argv, capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


# ---- names never leave their folder -----------------------------------------------------------


@pytest.mark.parametrize("name", ["../x", "../../x", "/tmp/x", "a/b", "a\\b", "..", ".hidden", ""])
def test_names_that_would_leave_their_folder_are_refused(tmp_path, name):
    with pytest.raises(RsbenchError, match="plain name|must be a string"):
        child_path(tmp_path, name, ".md")


def test_a_crafted_dataset_name_never_writes_outside_the_leaderboard_folder(tmp_path):
    from tests.test_leaderboard import record

    crafted = record("infonce", 0.2, 0, 50.0)
    crafted["dataset"]["name"] = "../escaped"
    with pytest.raises(RsbenchError, match="not a plain name"):
        write_leaderboards([crafted], tmp_path / "boards")
    assert sorted(p.name for p in tmp_path.rglob("*")) == []


def test_the_leaderboard_command_refuses_a_crafted_record(tmp_path, monkeypatch, capsys):
    from tests.test_leaderboard import record

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "cells").mkdir(parents=True)
    for n, name in enumerate(["toy", "../../escaped", "/tmp/rsbench-escaped"]):
        r = record("infonce", 0.2, n, 50.0)
        r["dataset"]["name"] = name
        (tmp_path / "runs" / "cells" / f"{n}.json").write_text(json.dumps(r))
    code, _, err = run_main(["leaderboard", "runs", "--out", "boards"], capsys)
    assert code == 2 and "must be a plain name" in err and "runs/cells/1.json" in err
    assert not (tmp_path / "boards").exists()
    assert not (tmp_path.parent / "escaped.md").exists()
    assert not Path("/tmp/rsbench-escaped.md").exists()


def test_a_plugin_cannot_register_a_name_that_is_a_path(tmp_path, monkeypatch):
    from rsbench.plugin.manager import load_plugins
    from rsbench.testing import entry_point

    (tmp_path / "rsb_pathname.py").write_text(
        "from rsbench import hookimpl\n"
        "from rsbench_plugins.noise.caption_shuffle import CaptionShuffle\n"
        "@hookimpl\n"
        "def register_noise_models(register):\n"
        "    register('../evil', CaptionShuffle)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins = load_plugins([entry_point("rsb_pathname", "rsb_pathname")])
    (failure,) = plugins.failures()
    assert "is not a plain name" in failure.errors[0]
    assert "../evil" not in plugins.noise_models


# ---- a method's sys.exit ends its cell, not the grid ------------------------------------------

EXITING = """
import sys
from rsbench import hookimpl
from rsbench_plugins.methods.infonce import InfoNCE


class Exits(InfoNCE):
    '''A method that ends the process from inside fit.'''
    version = "1"

    def fit(self, task):
        sys.exit(0)


@hookimpl
def register_methods(register):
    register("exits", Exits)
"""


def test_sys_exit_inside_fit_is_that_cells_failure(tmp_path, monkeypatch, capsys):
    site = write_distribution(
        tmp_path / "site",
        "rsbench-exits",
        {"exits": "rsb_exit_in_fit"},
        {"rsb_exit_in_fit.py": EXITING},
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("RSBENCH_LOAD_PLUGINS", "rsbench,exits")
    monkeypatch.chdir(tmp_path)
    argv = ["run", "--methods", "exits,infonce", *TINY, "--noise", "0.2"]
    code, _, err = run_main([*argv, "--out", "runs", "--leaderboard-dir", "boards"], capsys)
    assert code == 1, err
    assert "1 cells run, 0 skipped (already done), 1 failed" in err
    records = {r["method"]["name"]: r for r in iter_records([tmp_path / "runs"])}
    assert records["infonce"]["status"] == "ok"
    failed = records["exits"]
    assert failed["status"] == "failed" and failed["error"]["type"] == "SystemExit"
    assert failed["error"]["message"] == "SystemExit: the cell called sys.exit(0)"
    board = (tmp_path / "boards" / "synthrs-tiny.md").read_text()
    assert "## Failed cells" in board and "sys.exit(0)" in board


# ---- modes follow the umask -------------------------------------------------------------------


def modes(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]
    }


@pytest.mark.parametrize(
    "umask, file_mode, dir_mode", [(0o002, 0o664, 0o775), (0o077, 0o600, 0o700)]
)
def test_files_and_folders_get_the_modes_the_umask_gives(tmp_path, umask, file_mode, dir_mode):
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "out" / "record.json", "{}\n")
        atomic_save(tmp_path / "out" / "scores.npz", lambda fh: np.savez(fh, a=np.ones(3)))
        with atomic_directory(tmp_path / "out" / "dataset") as folder:
            (folder / "images").mkdir()
            atomic_write_text(folder / "images" / "a.txt", "x")
        with held_lock(tmp_path / "out" / ".dataset.lock"):
            pass
    finally:
        os.umask(old)
    found = modes(tmp_path / "out")
    folders = {k for k in found if (tmp_path / "out" / k).is_dir()}
    assert {found[k] for k in folders} == {dir_mode}
    assert {found[k] for k in set(found) - folders} == {file_mode}
    assert not (tmp_path / "out" / "dataset" / DIR_LOCK).exists()


def test_a_generated_dataset_follows_the_umask(tmp_path, monkeypatch):
    monkeypatch.setenv("RSBENCH_CACHE", str(tmp_path / "cache"))
    dataset = get_plugins().datasets.get("synthrs-tiny").create({"train": 3, "val": 1, "test": 1})
    old = os.umask(0o002)
    try:
        dataset.load()
    finally:
        os.umask(old)
    found = modes(dataset.root())
    assert set(found.values()) == {0o664, 0o775}


# ---- a damaged generated dataset is generated again -------------------------------------------


def digest_tree(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


@pytest.fixture
def small_synthrs(tmp_path, monkeypatch):
    """A freshly generated small synthrs-tiny in a private cache, and its tree digest."""
    monkeypatch.setenv("RSBENCH_CACHE", str(tmp_path / "cache"))
    dataset = get_plugins().datasets.get("synthrs-tiny").create({"train": 6, "val": 2, "test": 2})
    dataset.load()
    return dataset, digest_tree(dataset.root())


@pytest.mark.parametrize(
    "damage",
    [
        "delete the annotation file",
        "truncate an image",
        "delete an image",
        "delete the marker",
        "garble the marker",
        "add a byte to the annotation file",
    ],
)
def test_a_damaged_generated_dataset_is_generated_again(small_synthrs, damage, capfd):
    dataset, digest = small_synthrs
    root = dataset.root()
    image = sorted((root / "images").glob("*.tif"))[0]
    if damage == "delete the annotation file":
        (root / synthrs.JSON_NAME).unlink()
    elif damage == "truncate an image":
        image.write_bytes(image.read_bytes()[:100])
    elif damage == "delete an image":
        image.unlink()
    elif damage == "delete the marker":
        (root / synthrs.MARKER).unlink()
    elif damage == "garble the marker":
        (root / synthrs.MARKER).write_text("{")
    else:
        with open(root / synthrs.JSON_NAME, "a") as fh:
            fh.write(" ")
    capfd.readouterr()
    splits = dataset.load()
    assert "incomplete or damaged" in capfd.readouterr().err
    assert len(splits.train) == 6 and digest_tree(root) == digest
    assert [p.name for p in root.parent.iterdir() if p.name.startswith(".synthrs-")] == [
        f".{root.name}.lock"
    ]  # the damaged copy is gone, only the generation lock stays


def test_data_check_recovers_from_a_deleted_annotation_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RSBENCH_CACHE", str(tmp_path / "cache"))
    dataset = get_plugins().datasets.get("synthrs-tiny").create({})
    dataset.load()
    (dataset.root() / synthrs.JSON_NAME).unlink()
    code, out, err = run_main(["data", "check", "synthrs-tiny", "--quick"], capsys)
    assert code == 0 and "synthrs-tiny: usable" in out and "Traceback" not in err


def test_leftovers_of_an_interrupted_generation_are_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("RSBENCH_CACHE", str(tmp_path / "cache"))
    datasets = tmp_path / "cache" / "datasets"
    (datasets / ".synthrs-0123456789ab.k2j_9x0a").mkdir(parents=True)  # an older version's
    (datasets / ".synthrs-0123456789ab.ab12cd34.tmp" / "images").mkdir(parents=True)
    get_plugins().datasets.get("synthrs-tiny").create({"train": 3, "val": 1, "test": 1}).load()
    hidden = sorted(p.name for p in datasets.iterdir() if p.name.startswith("."))
    assert len(hidden) == 1 and hidden[0].endswith(".lock")  # only the generation lock


# ---- a damaged noise file is built again -------------------------------------------------------


@pytest.mark.parametrize("damage", ["truncate", "empty", "edit a flag", "not JSON"])
def test_a_damaged_noise_file_is_built_again(tmp_path, damage, capfd):
    split = tiny_split(12)
    model = get_plugins().noise_models.get("caption_shuffle").create({})
    spec = {"name": "tiny", "split": "train", "fingerprint": split.fingerprint()}
    nf, path = noise_file_for(tmp_path, split, model, 0.4, 42, spec)
    original = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(original[: len(original) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "edit a flag":
        doc = json.loads(original)
        doc["clean"][0] = 1 - doc["clean"][0]
        path.write_text(json.dumps(doc))
    else:
        path.write_bytes(b"\xff\xfe garbage")
    capfd.readouterr()
    again, again_path = noise_file_for(tmp_path, split, model, 0.4, 42, spec)
    assert "building it again" in capfd.readouterr().err
    assert again_path == path and path.read_bytes() == original
    assert again.content_hash == nf.content_hash


# ---- stale temporaries, and only stale ones, are removed ---------------------------------------

HOLDER = """
import sys, time
from pathlib import Path
from rsbench.io.files import atomic_directory, atomic_file

folder = Path(sys.argv[1])
with atomic_file(folder / "record.json", text=True) as fh, atomic_directory(folder / "data"):
    fh.write("{")
    print("writing", flush=True)
    time.sleep(60)
"""


def test_a_write_in_progress_in_another_process_is_never_removed(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "writing"
        in_progress = sorted(p.name for p in tmp_path.iterdir())
        assert len(in_progress) == 2 and all(name.endswith(".tmp") for name in in_progress)
        assert remove_stale_temps(tmp_path) == []  # both are held by a live writer
        assert sorted(p.name for p in tmp_path.iterdir()) == in_progress
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    removed = remove_stale_temps(tmp_path)  # the writer died: both are stale now
    assert sorted(p.name for p in removed) == in_progress
    assert list(tmp_path.iterdir()) == []


def test_only_rsbench_temporaries_are_removed(tmp_path):
    ours = [".a.json.k2j_9x0a.tmp", ".0123456789abcdef0123456789abcdef.ab_12cd3.npy"]
    theirs = ["notes.tmp", ".x.tmp", "a.json", ".profile", ".a.json.k2j_9x0a.tmp.bak"]
    for name in ours + theirs:
        (tmp_path / name).write_text("x")
    (tmp_path / ".b.md.abcdefgh.tmp").symlink_to(tmp_path / "a.json")  # never ours
    removed = remove_stale_temps(tmp_path)
    assert sorted(p.name for p in removed) == sorted(ours)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*theirs, ".b.md.abcdefgh.tmp"])


def test_a_run_cleans_its_folders_when_it_starts(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    stale = [
        tmp_path / "runs" / "cells" / ".0f0f0f0f0f0f0f0f.json.abcdefgh.tmp",
        tmp_path / "runs" / "noise" / "synthrs-tiny" / ".caption_shuffle-r0.2.json.12345678.tmp",
        tmp_path / "runs" / "scores" / ".0f0f0f0f0f0f0f0f.npz.abcd_fgh.tmp",
        tmp_path / "boards" / ".synthrs-tiny.md.a1b2c3d4.tmp",
    ]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("half")
    code, _, err = run_main(
        ["run", "--methods", "infonce", *TINY, "--noise", "0", "--out", "runs",
         "--leaderboard-dir", "boards"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert not any(path.exists() for path in stale)
    assert err.count("stale temporary file(s)") == 4


# ---- records the leaderboard leaves out are named -----------------------------------------------


def test_a_truncated_record_is_left_out_and_named(tmp_path, monkeypatch, capsys):
    from tests.test_leaderboard import record

    monkeypatch.chdir(tmp_path)
    cells = tmp_path / "runs" / "cells"
    cells.mkdir(parents=True)
    good = json.dumps(record("infonce", 0.2, 0, 50.0))
    (cells / "good.json").write_text(good)
    (cells / "cut.json").write_text(good[: len(good) // 2])
    (cells / "other.json").write_text(
        json.dumps({**record("vse", 0.2, 0, 40.0), "schema_version": 9})
    )
    code, out, err = run_main(["leaderboard", "runs", "--out", "boards"], capsys)
    assert code == 0 and out.split() == ["boards/records/toy.jsonl", "boards/toy.md"]
    assert "left out runs/cells/cut.json: not valid JSON (truncated or damaged)" in err
    assert "left out runs/cells/other.json: schema_version 9, this rsbench reads 1" in err
    board = (tmp_path / "boards" / "toy.md").read_text()
    assert "| infonce " in board and "| vse " not in board


# ---- plugin problems are reported by every command that loads plugins ---------------------------


BROKEN = "import not_a_module_anywhere\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["list"],
        ["data", "where", "synthrs-tiny"],
        ["data", "check", "synthrs-tiny", "--quick"],
        ["noise", "show", "--dataset", "synthrs-tiny", "--noise-model", "caption_shuffle",
         "--ratio", "0.2", "--n", "0"],
    ],
)  # fmt: skip
def test_every_command_that_loads_plugins_names_a_broken_one(tmp_path, monkeypatch, capsys, argv):
    site = write_distribution(
        tmp_path / "site", "rsbench-broken", {"broken": "rsb_broken"}, {"rsb_broken.py": BROKEN}
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("RSBENCH_LOAD_PLUGINS", "rsbench,broken")
    code, _, err = run_main(argv, capsys)
    assert code == 0
    assert (
        "plugin 'broken' (rsbench-broken 0.1) is broken (import failed: ModuleNotFoundError" in err
    )


def test_load_plugins_naming_nothing_installed_is_reported(monkeypatch, capsys):
    monkeypatch.setenv("RSBENCH_LOAD_PLUGINS", "nosuch")
    code, out, err = run_main(["list", "methods"], capsys)
    assert code == 0
    assert "RSBENCH_LOAD_PLUGINS names nosuch, which no installed plugin is called" in err
    assert "builtin-methods" in err and "rsbench" in err
    assert "RSBENCH_LOAD_PLUGINS='nosuch' selects the plugins loaded" in out
    assert "is rsbench installed" not in out


# ---- symbolic links -------------------------------------------------------------------------------


def test_links_out_of_a_dataset_folder_are_read_when_allowed(tmp_path, monkeypatch, capsys):
    fixture = make_ucm(tmp_path / "data")
    image = sorted((fixture.root / "imgs").glob("*.tif"))[0]
    shutil.move(image, tmp_path / image.name)
    image.symlink_to(tmp_path / image.name)
    monkeypatch.chdir(tmp_path)
    argv = ["data", "check", "ucm", "--data-root", "data", "--quick"]
    code, _, err = run_main(argv, capsys)
    assert code == 2 and "lead outside it" in err
    code, out, _ = run_main([*argv, "--follow-symlinks"], capsys)
    assert code == 0 and "ucm: usable" in out
    dataset = get_plugins().datasets.get("ucm")
    splits = dataset.create({"data_root": "data", "follow_symlinks": True}).load()
    paths = [i.path for s in (splits.train, splits.val, splits.test) for i in s.images]
    assert Path("data/UCM_captions/imgs") / image.name in paths


def test_a_dataset_folder_that_is_itself_a_link_is_fine(tmp_path, monkeypatch, capsys):
    fixture = make_ucm(tmp_path / "store")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "UCM_captions").symlink_to(fixture.root, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(["data", "check", "ucm", "--data-root", "data", "--quick"], capsys)
    assert code == 0 and "ucm: usable" in out, err


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_record_is_one_line(tmp_path, monkeypatch, capsys):
    from tests.test_leaderboard import record

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "cells").mkdir(parents=True)
    path = tmp_path / "runs" / "cells" / "a.json"
    path.write_text(json.dumps(record("infonce", 0.2, 0, 50.0)))
    path.chmod(0)
    code, _, err = run_main(["leaderboard", "runs", "--out", "boards"], capsys)
    assert code == 2 and "permission denied" in err and len(err.strip().splitlines()) == 1


def test_follow_symlinks_reaches_the_dataset_and_is_not_part_of_the_cell_id(tmp_path):
    from rsbench.run.runner import Runner
    from rsbench.run.settings import parse_settings

    make_ucm(tmp_path / "data")
    base = {
        "methods": "infonce",
        "datasets": "ucm",
        "noise": "0.2",
        "data_root": str(tmp_path / "data"),
    }
    plain, allowed = (
        Runner(parse_settings({**base, **extra})).prepare()[0]
        for extra in ({}, {"follow_symlinks": True})
    )
    assert plain.dataset.options.follow_symlinks is False
    assert allowed.dataset.options.follow_symlinks is True
    assert plain.cell_id == allowed.cell_id  # where files are read from is not the experiment


WRITER = """
import sys
from pathlib import Path
from rsbench.io.files import atomic_write_text

folder, tag = Path(sys.argv[1]), sys.argv[2]
for i in range(300):
    atomic_write_text(folder / f"{tag}-{i % 7}.json", "x" * 4000 + f" {i}\\n")
"""


def test_cleaning_while_others_write_never_breaks_a_write(tmp_path):
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), tag]) for tag in "ab"]
    while any(w.poll() is None for w in writers):
        remove_stale_temps(tmp_path)  # races every writer's temporaries, all the time
    assert [w.returncode for w in writers] == [0, 0]
    files = sorted(tmp_path.iterdir())
    assert [p.name for p in files] == sorted(f"{t}-{i}.json" for t in "ab" for i in range(7))
    assert all(p.read_text().startswith("x" * 4000) for p in files)  # each one whole


def test_a_run_writes_its_leaderboards_inside_its_run_folder_by_default(
    tmp_path, monkeypatch, capsys
):
    """The README's main command in a checkout must not rewrite committed leaderboards: a
    run's boards go to <out>/leaderboards unless a config or --leaderboard-dir says otherwise."""
    from tests.quick import install_quick

    install_quick(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "leaderboards").mkdir()  # as in a checkout
    args = ["run", "--methods", "quick", "--datasets", "synthrs-tiny", "--noise", "0"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert (tmp_path / "runs/leaderboards/synthrs-tiny.md").is_file()
    assert "wrote runs/leaderboards/synthrs-tiny.md" in err
    assert list((tmp_path / "leaderboards").iterdir()) == []
    assert main([*args, "--out", "elsewhere"]) == 0
    assert (tmp_path / "elsewhere/leaderboards/synthrs-tiny.md").is_file()
    assert main([*args, "--leaderboard-dir", "boards"]) == 0
    assert (tmp_path / "boards/synthrs-tiny.md").is_file()
