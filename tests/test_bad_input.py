"""The bad-input catalogue: every case is refused with exit code 2 and one line on stderr that
names the problem and what is valid, with no traceback, and changes nothing already written.

Each case runs the real command line (`rsbench.cli.main.main`, in this process for speed) in a copy
of a workspace holding a finished tiny run (records, noise file, leaderboard), a small local
dataset and an ordinary file; the workspace and the cache are compared byte for byte, with
modification times, before and after.

Classes (the ``CLASS`` of each case): records, output locations, YAML types, booleans, values
that would fail (or alias) later, epochs, noise-model options, images, symbolic links, dataset
folders, plugins and command-line usage.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rsbench.cli.main import main
from rsbench.plugin.manager import reset_plugins
from rsbench.testing import write_distribution
from tests.fixtures.rs_datasets import make_ucm

TINY_RUN = ["--datasets", "synthrs-tiny", "--epochs", "1", "--seeds", "0"]
# a cell the workspace has not run: a refusal that came after training would show as a record
NEW_CELL = ["run", "--methods", "infonce", *TINY_RUN, "--noise", "0.2"]
OUTS = ["--out", "runs", "--leaderboard-dir", "boards"]
UCM = ["data", "check", "ucm", "--data-root", "data"]
GOOD_CONFIG = {
    "methods": ["infonce"],
    "datasets": ["synthrs-tiny"],
    "noise": [0.2],
    "epochs": 1,
    "out": "runs",
    "leaderboard_dir": "boards",
}


@dataclass
class Case:
    id: str
    kind: str  # the class of bad input
    argv: list[str]
    problem: str  # names what was wrong
    valid: str  # says what is valid, or what to do
    setup: Callable[[Path], None] | None = None
    env: dict[str, str] = field(default_factory=dict)


# ---- setups -----------------------------------------------------------------------------------


def good_record(ws: Path) -> dict:
    (path,) = sorted((ws / "runs" / "cells").glob("*.json"))
    return json.loads(path.read_text())


def crafted_record(dotted: str, value=None, delete: bool = False):
    """A copy of the workspace's record with one field changed (or deleted), as a new file."""

    def setup(ws: Path) -> None:
        record = good_record(ws)
        *parents, last = dotted.split(".")
        node = record
        for part in parents:
            node = node[part]
        if delete:
            del node[last]
        else:
            node[last] = value
        (ws / "runs" / "cells" / "0000000000000000.json").write_text(json.dumps(record))

    return setup


def config(**changes):
    """``g.yaml``: the good config with some settings changed (None deletes one)."""

    def setup(ws: Path) -> None:
        import yaml

        settings = {**GOOD_CONFIG, **changes}
        (ws / "g.yaml").write_text(yaml.safe_dump(settings))

    return setup


def raw_config(text: str):
    def setup(ws: Path) -> None:
        (ws / "g.yaml").write_text(text)

    return setup


def make_dir(relpath: str):
    def setup(ws: Path) -> None:
        (ws / relpath).mkdir(parents=True)

    return setup


def make_file(relpath: str):
    def setup(ws: Path) -> None:
        (ws / relpath).parent.mkdir(parents=True, exist_ok=True)
        (ws / relpath).write_text("not a folder\n")

    return setup


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG file whose header claims ``width`` × ``height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def ucm_image(ws: Path) -> Path:
    return sorted((ws / "data" / "UCM_captions" / "imgs").glob("*.tif"))[-1]


def replace_image(make: Callable[[bytes], bytes]):
    def setup(ws: Path) -> None:
        path = ucm_image(ws)
        path.write_bytes(make(path.read_bytes()))

    return setup


def link_image_outside(ws: Path) -> None:
    path = ucm_image(ws)
    outside = ws / "outside" / path.name
    outside.parent.mkdir()
    shutil.copy2(path, outside)
    path.unlink()
    path.symlink_to(outside)


def link_image_folder_outside(ws: Path) -> None:
    folder = ws / "data" / "UCM_captions" / "imgs"
    shutil.move(folder, ws / "elsewhere")
    folder.symlink_to(ws / "elsewhere", target_is_directory=True)


def link_annotations_outside(ws: Path) -> None:
    path = ws / "data" / "UCM_captions" / "dataset.json"
    shutil.move(path, ws / "dataset.json")
    path.symlink_to(ws / "dataset.json")


def link_to_system_file(ws: Path) -> None:
    path = ucm_image(ws)
    path.unlink()
    path.symlink_to("/etc/hostname")


def annotations(change: Callable[[dict], object]):
    def setup(ws: Path) -> None:
        path = ws / "data" / "UCM_captions" / "dataset.json"
        doc = json.loads(path.read_text())
        result = change(doc)
        path.write_text(json.dumps(doc if result is None else result))

    return setup


def set_filename(name: str):
    def change(doc: dict) -> None:
        doc["images"][0]["filename"] = name

    return change


PLUGIN = """
import sys
from rsbench import hookimpl
from rsbench_plugins.methods.infonce import InfoNCE


class Broken(InfoNCE):
    '''A method that fails when it is created.'''
    version = "1"

    def __init__(self, **options):
        {body}


@hookimpl
def register_methods(register):
    register("broken", Broken)
"""


def plugin(module: str, body: str):
    def setup(ws: Path) -> None:
        write_distribution(
            ws / "site",
            f"rsbench-{module}",
            {module: module},
            {f"{module}.py": PLUGIN.format(body=body)},
        )

    return setup


# ---- the catalogue ------------------------------------------------------------------------------

RECORD_ARGS = ["leaderboard", "runs", "--out", "boards"]
# fmt: off
CASES = [
    # records that are valid JSON with missing or wrong-typed fields
    Case("record-no-dataset", "records", RECORD_ARGS, "field 'dataset' is missing", "fix the file or delete it", crafted_record("dataset", delete=True)),
    Case("record-dataset-name-traversal", "records", RECORD_ARGS, "'dataset.name' must be a plain name (letters, digits, . _ + -), got '../../x'", "fix the file or delete it", crafted_record("dataset.name", "../../x")),
    Case("record-dataset-name-absolute", "records", RECORD_ARGS, "got '/tmp/board'", "fix the file or delete it", crafted_record("dataset.name", "/tmp/board")),
    Case("record-dataset-name-number", "records", RECORD_ARGS, "dataset.name' must be a plain name", "letters, digits", crafted_record("dataset.name", 5)),
    Case("record-ratio-string", "records", RECORD_ARGS, "'noise.ratio' must be a finite number", "fix the file", crafted_record("noise.ratio", "0.4")),
    Case("record-ratio-range", "records", RECORD_ARGS, "'noise.ratio' must be in [0, 1), got 1.5", "fix the file", crafted_record("noise.ratio", 1.5)),
    Case("record-no-metrics", "records", RECORD_ARGS, "field 'metrics' is missing", "delete it", crafted_record("metrics", delete=True)),
    Case("record-metric-null", "records", RECORD_ARGS, "'metrics.mR' must be a finite number, got null", "fix the file", crafted_record("metrics.mR", None)),
    Case("record-status", "records", RECORD_ARGS, "'status' must be 'ok' or 'failed', got 'done'", "fix the file", crafted_record("status", "done")),
    Case("record-seed-negative", "records", RECORD_ARGS, "'seed' must be an integer >= 0, got -1", "fix the file", crafted_record("seed", -1)),
    Case("record-method-list", "records", RECORD_ARGS, "'method' must be a JSON object, got []", "fix the file", crafted_record("method", [])),
    Case("record-params-string", "records", RECORD_ARGS, "'method.params' must be a JSON object", "fix the file", crafted_record("method.params", "x")),
    Case("record-effective-rate", "records", RECORD_ARGS, "'noise.effective_rate' must be a finite number", "fix the file", crafted_record("noise.effective_rate", "high")),
    Case("record-cell-id-traversal", "records", RECORD_ARGS, "'cell_id' must be a plain name", "fix the file", crafted_record("cell_id", "../x")),
    Case("record-sizes", "records", RECORD_ARGS, "'dataset.sizes.train.images' must be an integer >= 0", "fix the file", crafted_record("dataset.sizes.train.images", "ten")),
    Case("record-noise-model-path", "records", RECORD_ARGS, "'noise.model' must be a plain name (letters, digits, . _ + -), got 'a/b'", "fix the file", crafted_record("noise.model", "a/b")),
    Case("record-no-environment", "records", RECORD_ARGS, "field 'environment' is missing", "delete it", crafted_record("environment", delete=True)),
    Case("record-checked-by-run-before-training", "records", [*NEW_CELL, *OUTS], "field 'noise.seed' is missing", "delete it", crafted_record("noise.seed", delete=True)),
    Case("record-leaderboard-check", "records", [*RECORD_ARGS, "--check"], "'validation' must be 'clean' or 'noisy'", "fix the file", crafted_record("validation", "dirty")),
    # an output location that is a file (or under one), checked before training
    Case("leaderboard-dir-is-file", "outputs", [*NEW_CELL, "--out", "runs", "--leaderboard-dir", "afile"], "afile exists and is not a folder", "--no-leaderboard"),
    Case("leaderboard-out-is-file", "outputs", ["leaderboard", "runs", "--out", "afile"], "afile exists and is not a folder", "give a writable folder"),
    Case("run-out-is-file", "outputs", [*NEW_CELL, "--out", "afile"], "afile exists and is not a folder", "give a writable folder"),
    Case("run-out-under-file", "outputs", [*NEW_CELL, "--out", "afile/runs"], "afile is a file", "give a writable folder"),
    Case("leaderboard-dir-under-file", "outputs", [*NEW_CELL, "--out", "runs", "--leaderboard-dir", "afile/boards"], "afile is a file", "--no-leaderboard"),
    Case("leaderboard-file-is-folder", "outputs", ["leaderboard", "runs", "--out", "b2"], "b2/synthrs-tiny.md is a folder", "move it away", make_dir("b2/synthrs-tiny.md")),
    Case("run-leaderboard-file-is-folder", "outputs", [*NEW_CELL, "--out", "runs", "--leaderboard-dir", "b2"], "b2/synthrs-tiny.md is a folder", "move it away", make_dir("b2/synthrs-tiny.md")),
    Case("run-cells-is-file", "outputs", [*NEW_CELL, "--out", "r2", "--no-leaderboard"], "r2/cells is not a folder", "keeps its cells there", make_file("r2/cells")),
    Case("run-noise-folder-is-file", "outputs", [*NEW_CELL, "--out", "r2", "--no-leaderboard"], "r2/noise/synthrs-tiny is not a folder", "run folder", make_file("r2/noise/synthrs-tiny")),
    Case("cache-is-file", "outputs", [*NEW_CELL, *OUTS], "is not a folder", "set RSBENCH_CACHE", make_file("cachefile"), {"RSBENCH_CACHE": "cachefile"}),
    Case("data-check-cache-is-file", "outputs", ["data", "check", "synthrs-tiny", "--quick"], "cannot generate synthrs-tiny into afile/datasets/", "set RSBENCH_CACHE to a folder", env={"RSBENCH_CACHE": "afile"}),
    Case("noise-show-cache-datasets-is-file", "outputs", ["noise", "show", "--dataset", "synthrs-tiny", "--noise-model", "caption_shuffle", "--ratio", "0.2"], "File exists (c2/datasets)", "set RSBENCH_CACHE to a folder", make_file("c2/datasets"), {"RSBENCH_CACHE": "c2"}),
    Case("config-out-is-file", "outputs", ["run", "--config", "g.yaml"], "afile exists and is not a folder", "give a writable folder", config(out="afile")),
    # YAML values of the wrong type where a path or a string is expected
    Case("yaml-out-number", "yaml", ["run", "--config", "g.yaml"], "out must be a path (a non-empty string), got 5", "non-empty string", config(out=5)),
    Case("yaml-out-list", "yaml", ["run", "--config", "g.yaml"], "out must be a path", "got ['a', 'b']", config(out=["a", "b"])),
    Case("yaml-leaderboard-dir-mapping", "yaml", ["run", "--config", "g.yaml"], "leaderboard_dir must be a path", "non-empty string", config(leaderboard_dir={"a": 1})),
    Case("yaml-data-root-number", "yaml", ["run", "--config", "g.yaml"], "data_root must be a path", "got 7", config(data_root=7)),
    Case("yaml-out-empty", "yaml", ["run", "--config", "g.yaml"], "out must be a path", "got ''", config(out="")),
    Case("yaml-out-null", "yaml", ["run", "--config", "g.yaml"], "out must be a path", "got None", config(out=None)),
    Case("yaml-device-number", "yaml", ["run", "--config", "g.yaml"], "unknown device 5", "valid: auto, cpu, cuda or cuda:N", config(device=5)),
    Case("yaml-validation-number", "yaml", ["run", "--config", "g.yaml"], "validation 3 is not one of", "clean, noisy", config(validation=3)),
    Case("yaml-not-a-mapping", "yaml", ["run", "--config", "g.yaml"], "must be a mapping of settings", "methods: [infonce]", raw_config("- infonce\n- vse\n")),
    Case("yaml-unknown-key", "yaml", ["run", "--config", "g.yaml"], "unknown key 'epoch'", "valid keys: methods", config(epoch=3)),
    Case("yaml-invalid", "yaml", ["run", "--config", "g.yaml"], "is not valid YAML (line 2)", "g.yaml", raw_config("methods: [infonce\nout: : runs\n")),
    Case("yaml-component-options-list", "yaml", ["run", "--config", "g.yaml"], "options of 'infonce' in methods must be a mapping", "got [1]", config(methods={"infonce": [1]})),
    # booleans must be booleans
    Case("yaml-skip-bad-images-no", "booleans", ["run", "--config", "g.yaml"], "skip_bad_images must be true or false, got 'no'", "true or false", config(skip_bad_images="no")),
    Case("yaml-skip-bad-images-one", "booleans", ["run", "--config", "g.yaml"], "skip_bad_images must be true or false, got 1", "true or false", config(skip_bad_images=1)),
    Case("yaml-follow-symlinks-yes", "booleans", ["run", "--config", "g.yaml"], "follow_symlinks must be true or false, got 'yes'", "true or false", config(follow_symlinks="yes")),
    Case("yaml-skip-bad-images-null", "booleans", ["run", "--config", "g.yaml"], "skip_bad_images must be true or false, got None", "true or false", config(skip_bad_images=None)),
    Case("yaml-dataset-option-bool", "booleans", ["run", "--config", "g.yaml"], "option skip_bad_images must be true or false, got 'no'", "true or false", config(datasets={"synthrs-tiny": {"skip_bad_images": "no"}})),
    Case("yaml-method-option-int", "booleans", ["run", "--config", "g.yaml"], "option batch_size must be an integer, got '3'", "integer", config(methods={"infonce": {"batch_size": "3"}})),
    # values that would fail in every cell, or silently alias another value: refused up front
    Case("seed-2-to-63", "values", [*NEW_CELL, "--seeds", str(2**63), *OUTS], "seed '9223372036854775808' is out of range", "from 0 to 4294967295"),
    Case("seed-2-to-32", "values", [*NEW_CELL, "--seeds", str(2**32), *OUTS], "seed '4294967296' is out of range", "from 0 to 4294967295"),
    Case("seed-negative", "values", [*NEW_CELL, "--seeds", "-1", *OUTS], "seed '-1' is out of range", "from 0 to 4294967295"),
    Case("seed-fraction", "values", [*NEW_CELL, "--seeds", "1.5", *OUTS], "seed '1.5' is not an integer", "from 0 to 4294967295"),
    Case("noise-seed-2-to-32", "values", [*NEW_CELL, "--noise-seed", str(2**32), *OUTS], "noise seed '4294967296' is out of range", "from 0 to 4294967295"),
    Case("noise-seed-rrsitr-yaml", "values", ["run", "--config", "g.yaml"], "noise seed 4294967296 is out of range", "from 0 to 4294967295", config(noise_models={"caption_shuffle": {"mode": "rrsitr"}}, noise_seed=2**32)),
    Case("noise-show-seed", "values", ["noise", "show", "--dataset", "synthrs-tiny", "--noise-model", "caption_shuffle", "--ratio", "0.2", "--noise-seed", str(2**40)], "noise seed '1099511627776' is out of range", "from 0 to 4294967295"),
    Case("ratio-one", "values", [*NEW_CELL, "--noise", "1.0", *OUTS], "noise ratio '1.0' is outside [0, 1)", "[0, 1)"),
    Case("ratio-nan", "values", [*NEW_CELL, "--noise", "nan", *OUTS], "noise ratio 'nan' is outside [0, 1)", "[0, 1)"),
    Case("ratio-list-malformed", "values", [*NEW_CELL, "--noise", "0.2,,0.4", *OUTS], "malformed noise ratios list '0.2,,0.4'", "comma-separated values"),
    Case("dataset-size-zero", "values", ["run", "--config", "g.yaml"], "train, val and test sizes must be at least 1", "synthrs-tiny", config(datasets={"synthrs-tiny": {"train": 0}})),
    Case("dataset-image-size", "values", ["run", "--config", "g.yaml"], "image_size must be at least 32", "synthrs-tiny", config(datasets={"synthrs-tiny": {"image_size": -4}})),
    Case("method-warmup", "values", ["run", "--config", "g.yaml"], "warmup_epochs must be in [0, epochs)", "infonce_gmm", config(methods={"infonce_gmm": {"warmup_epochs": 5}})),
    Case("method-lr", "values", ["run", "--config", "g.yaml"], "lr must be a positive number", "infonce", config(methods={"infonce": {"lr": -1}})),
    Case("method-width", "values", ["run", "--config", "g.yaml"], "width must be at least 1, got -4", "infonce", config(methods={"infonce": {"backbone": "scratch", "width": -4}})),
    Case("method-embed-dim", "values", ["run", "--config", "g.yaml"], "embed_dim must be at least 1, got 0", "vse", config(methods={"vse": {"embed_dim": 0}})),
    Case("method-weight-decay", "values", ["run", "--config", "g.yaml"], "weight_decay must be >= 0, got -1.0", "infonce", config(methods={"infonce": {"weight_decay": -1}})),
    Case("method-margin", "values", ["run", "--config", "g.yaml"], "margin must be >= 0, got -0.2", "vse", config(methods={"vse": {"margin": -0.2}})),
    Case("method-crop-scale", "values", ["run", "--config", "g.yaml"], "crop_scale must satisfy 0 < lo <= hi <= 1", "infonce", config(methods={"infonce": {"crop_scale": [0.9, 1.5]}})),
    Case("method-chnr-meta", "values", ["run", "--config", "g.yaml"], "noise_weights 'normal' needs meta_epochs > 0", "use noise_weights: ones", config(methods={"chnr": {"meta_epochs": 0}})),
    Case("method-chnr-weights", "values", ["run", "--config", "g.yaml"], "option noise_weights='soft' is not one of", "'normal', 'exp', 'dis', 'ones'", config(methods={"chnr": {"noise_weights": "soft"}})),
    Case("method-profile", "values", ["run", "--config", "g.yaml"], "has no 'huge' profile; valid: small, paper", "infonce", config(methods={"infonce": {"profile": "huge"}})),
    Case("grid-profile", "values", ["run", "--config", "g.yaml"], "profile 'big' is not one of: auto, small, paper", "auto", config(profile="big")),
    Case("amfmn-image-size", "values", ["run", "--config", "g.yaml"], "AMFMN needs image_size a multiple of 32", "amfmn", config(methods={"amfmn": {"image_size": 48}})),
    Case("amfmn-vga", "values", ["run", "--config", "g.yaml"], "option vga='cosine' is not one of", "'soft', 'fusion', 'sim'", config(methods={"amfmn": {"vga": "cosine"}})),
    Case("amfmn-word-vectors", "values", ["run", "--config", "g.yaml"], "word vectors file 'missing.txt' not found", "GloVe-format text file", config(methods={"amfmn": {"word_vectors": "missing.txt"}})),
    Case("scratch-paper", "values", ["run", "--config", "g.yaml", "--profile", "paper"], "backbone 'scratch' exists in the small profile only", "infonce", config(methods={"infonce": {"backbone": "scratch"}})),
    # epochs
    Case("epochs-negative", "epochs", [*NEW_CELL, "--epochs", "-1", *OUTS], "epochs '-1' is out of range", "valid: an integer >= 1"),
    Case("epochs-zero", "epochs", [*NEW_CELL, "--epochs", "0", *OUTS], "epochs '0' is out of range", "valid: an integer >= 1"),
    Case("epochs-word", "epochs", [*NEW_CELL, "--epochs", "two", *OUTS], "epochs 'two' is not an integer", "valid: an integer >= 1"),
    Case("epochs-yaml-fraction", "epochs", ["run", "--config", "g.yaml"], "epochs 1.5 is not an integer", "valid: an integer >= 1", config(epochs=1.5)),
    Case("epochs-yaml-boolean", "epochs", ["run", "--config", "g.yaml"], "epochs True is not an integer", "valid: an integer >= 1", config(epochs=True)),
    # noise-model options
    Case("partial-image-j-99", "noise options", ["noise", "show", "--dataset", "synthrs-tiny", "--noise-model", "partial_image", "--ratio", "0.4", "-o", "j=99"], "no image of the train split has 99 captions", "valid here: j from 1 to 5"),
    Case("partial-image-j-0", "noise options", ["noise", "show", "--dataset", "synthrs-tiny", "--noise-model", "partial_image", "--ratio", "0.4", "-o", "j=0"], "option j must be at least 1, got 0", "partial_image"),
    Case("partial-image-j-word", "noise options", ["noise", "show", "--dataset", "synthrs-tiny", "--noise-model", "partial_image", "--ratio", "0.4", "-o", "j=two"], "option j must be an integer, got 'two'", "integer"),
    Case("noise-unknown-option", "noise options", ["noise", "show", "--dataset", "synthrs-tiny", "--noise-model", "partial_image", "--ratio", "0.4", "-o", "k=1"], "unknown option 'k'", "valid options: j"),
    Case("noise-option-malformed", "noise options", ["noise", "show", "--dataset", "synthrs-tiny", "--noise-model", "partial_image", "--ratio", "0.4", "-o", "j"], "malformed option 'j'", "expected KEY=VALUE"),
    Case("noise-mode", "noise options", ["noise", "show", "--dataset", "synthrs-tiny", "--noise-model", "caption_shuffle", "--ratio", "0.4", "-o", "mode=weird"], "option mode='weird' is not one of", "'independent'"),
    Case("noise-model-unknown", "noise options", ["noise", "show", "--dataset", "synthrs-tiny", "--noise-model", "caption_shufle", "--ratio", "0.4"], "unknown noise model 'caption_shufle'", "did you mean 'caption_shuffle'"),
    Case("noise-show-ratio", "noise options", ["noise", "show", "--dataset", "synthrs-tiny", "--noise-model", "caption_shuffle", "--ratio", "1.5"], "noise ratio '1.5' is outside [0, 1)", "[0, 1)"),
    Case("noise-show-n", "noise options", ["noise", "show", "--dataset", "synthrs-tiny", "--noise-model", "caption_shuffle", "--ratio", "0.4", "--n", "-1"], "--n must be >= 0", ">= 0"),
    # images
    Case("image-decompression-bomb", "images", UCM, "400,000,000 pixels is more than the 89,478,485 rsbench decodes", "--skip-bad-images", replace_image(lambda _: png_header(20000, 20000))),
    Case("image-too-large", "images", UCM, "12000 x 12000 pixels is more than", "--skip-bad-images", replace_image(lambda _: png_header(12000, 12000))),
    Case("image-bomb-quick", "images", [*UCM, "--quick"], "decompression bomb", "--skip-bad-images", replace_image(lambda _: png_header(20000, 20000))),
    Case("image-truncated-tiff", "images", UCM, "truncated or damaged TIFF", "--skip-bad-images", replace_image(lambda data: data[: len(data) // 2])),
    Case("image-empty-file", "images", UCM, "unreadable", "--skip-bad-images", replace_image(lambda _: b"")),
    Case("image-not-an-image", "images", UCM, "unreadable (header=b'GIF8')", "--skip-bad-images", replace_image(lambda _: b"GIF89a but not really")),
    Case("image-missing", "images", UCM, ": missing)", "--skip-bad-images", lambda ws: ucm_image(ws).unlink()),
    # symbolic links leading out of the dataset folder
    Case("symlink-image", "symlinks", UCM, "are symbolic links, or in linked folders, that lead outside it", "follow_symlinks: true (--follow-symlinks)", link_image_outside),
    Case("symlink-image-folder", "symlinks", UCM, "lead outside it (first:", "--follow-symlinks", link_image_folder_outside),
    Case("symlink-annotations", "symlinks", UCM, "dataset.json ->", "--follow-symlinks", link_annotations_outside),
    Case("symlink-system-file", "symlinks", UCM, "-> /etc/hostname", "--follow-symlinks", link_to_system_file),
    # dataset folders and annotation files
    Case("data-root-missing", "dataset folders", ["data", "check", "ucm", "--data-root", "nowhere"], "dataset 'ucm' not found", "looked for dataset.json in"),
    Case("annotations-not-json", "dataset folders", UCM, "cannot read annotation file", "dataset.json", lambda ws: (ws / "data" / "UCM_captions" / "dataset.json").write_text("{")),
    Case("annotations-no-images", "dataset folders", UCM, "is not a Karpathy-style caption file", "no top-level 'images' list", annotations(lambda doc: {"pictures": []})),
    Case("annotations-filename-traversal", "dataset folders", UCM, "refusing image file name '../../../etc/passwd'", "outside the data folder", annotations(set_filename("../../../etc/passwd"))),
    Case("annotations-filename-absolute", "dataset folders", UCM, "refusing image file name '/etc/passwd'", "absolute", annotations(set_filename("/etc/passwd"))),
    Case("annotations-filename-number", "dataset folders", UCM, "'filename' must be a string, got 7", "string", annotations(set_filename(7))),
    Case("split-unknown", "dataset folders", [*UCM, "--split", "rrsitr"], "unknown split definition 'rrsitr'", "valid: karpathy, amfmn"),
    Case("dataset-unknown", "dataset folders", ["data", "check", "ucmm", "--data-root", "data"], "unknown dataset 'ucmm'", "did you mean 'ucm'"),
    # plugins
    Case("plugin-init-raises", "plugins", ["run", "--methods", "broken", *TINY_RUN, "--noise", "0.2", *OUTS], "method 'broken' (plugin rsb_init_raises, rsbench-rsb_init_raises 0.1) failed to start: RuntimeError: no GPU driver", "plugin rsb_init_raises", plugin("rsb_init_raises", "raise RuntimeError('no GPU driver')"), {"RSBENCH_LOAD_PLUGINS": "rsbench,rsb_init_raises"}),
    Case("plugin-init-exits", "plugins", ["run", "--methods", "broken", *TINY_RUN, "--noise", "0.2", *OUTS], "failed to start: SystemExit: 3", "plugin rsb_init_exits", plugin("rsb_init_exits", "sys.exit(3)"), {"RSBENCH_LOAD_PLUGINS": "rsbench,rsb_init_exits"}),
    Case("method-unknown", "plugins", ["run", "--methods", "infonse", *TINY_RUN, *OUTS], "unknown method 'infonse'", "did you mean 'infonce'"),
    Case("method-twice", "plugins", ["run", "--methods", "infonce,infonce", *TINY_RUN, *OUTS], "'infonce' is listed twice", "listed twice"),
    # command-line usage
    Case("no-methods", "usage", ["run", *TINY_RUN, *OUTS], "no methods given", "--methods infonce,vse"),
    Case("validation-choice", "usage", [*NEW_CELL, "--validation", "sloppy", *OUTS], "validation 'sloppy' is not one of", "clean, noisy"),
    Case("device-unknown", "usage", [*NEW_CELL, "--device", "tpu", *OUTS], "unknown device 'tpu'", "valid: auto, cpu, cuda or cuda:N"),
    Case("leaderboard-run-dir-missing", "usage", ["leaderboard", "nosuch", "--out", "boards"], "run directory not found: nosuch", "nosuch"),
    Case("config-missing", "usage", ["run", "--config", "missing.yaml"], "config file not found: missing.yaml", "missing.yaml"),
    Case("data-root-empty", "usage", [*NEW_CELL, "--data-root", "", *OUTS], "data_root must be a path (a non-empty string), got ''", "non-empty string"),
    Case("leaderboard-no-records", "usage", ["leaderboard", "empty", "--out", "boards"], "no cell records found in empty", "expected <dir>/cells/*.json", make_dir("empty/cells")),
]
# fmt: on


def test_the_catalogue_covers_every_class_with_several_cases():
    kinds: dict[str, int] = {}
    for case in CASES:
        kinds[case.kind] = kinds.get(case.kind, 0) + 1
    assert len(CASES) >= 60 and len({c.id for c in CASES}) == len(CASES)
    assert all(n >= 3 for n in kinds.values()), kinds
    assert set(kinds) == {
        "records", "outputs", "yaml", "booleans", "values", "epochs", "noise options",
        "images", "symlinks", "dataset folders", "plugins", "usage",
    }  # fmt: skip


# ---- running a case -------------------------------------------------------------------------------

_WORKSPACE: list[Path] = []


def workspace(factory) -> Path:
    """A finished tiny run, a leaderboard, a local dataset and a plain file (made once)."""
    if not _WORKSPACE:
        ws = factory.mktemp("workspace")
        cwd = os.getcwd()
        os.chdir(ws)
        try:
            code = main(["run", "--methods", "infonce", *TINY_RUN, "--noise", "0.4", *OUTS])
        finally:
            os.chdir(cwd)
        assert code == 0
        make_ucm(ws / "data")
        (ws / "afile").write_text("an ordinary file\n")
        _WORKSPACE.append(ws)
    return _WORKSPACE[0]


def snapshot(*roots: Path) -> dict[str, tuple]:
    """Every file and folder under ``roots``: kind, size, modification time and content hash."""
    state = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            st = path.lstat()
            if path.is_symlink():
                state[str(path)] = ("link", os.readlink(path))
            elif path.is_dir():
                state[str(path)] = ("dir",)
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                state[str(path)] = ("file", st.st_size, st.st_mtime_ns, digest)
    return state


def invoke(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's usage errors
        return exc.code


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_clear_line(case, tmp_path, tmp_path_factory, monkeypatch, capsys):
    ws = tmp_path / "ws"
    shutil.copytree(workspace(tmp_path_factory), ws, symlinks=True)
    if case.setup:
        case.setup(ws)
    monkeypatch.chdir(ws)
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    if (ws / "site").is_dir():
        monkeypatch.syspath_prepend(str(ws / "site"))
    reset_plugins()  # building the workspace may have loaded plugins before this case's
    cache = Path(os.environ["RSBENCH_CACHE"])
    before = snapshot(ws, cache) if cache.is_dir() else snapshot(ws)
    capsys.readouterr()

    code = invoke(case.argv)

    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1, err
    assert lines[0].startswith("rsbench") and ": error: " in lines[0], err
    assert case.problem in lines[0], err
    assert case.valid in lines[0], err
    after = snapshot(ws, cache) if cache.is_dir() else snapshot(ws)
    assert after == before  # nothing already written changed, nothing new was written
