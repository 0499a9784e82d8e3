"""`rsbench data check`, `rsbench data where` and `rsbench noise show`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from PIL import Image

from rsbench.testing import write_distribution

LOCAL_PLUGIN = '''
from dataclasses import dataclass, field
from pathlib import Path

from rsbench import hookimpl
from rsbench.plugin.components import Dataset
from rsbench.plugin.split import DatasetSplits, make_split
from rsbench.data.karpathy import read_karpathy
from rsbench.plugin.options import LOCAL


class Folder(Dataset):
    """A Karpathy-style dataset in a folder."""

    version = "1"

    @dataclass
    class Options:
        data_root: str | None = field(default=None, metadata=LOCAL)

    def locate(self):
        return Path(self.options.data_root)

    def read(self):
        root = self.locate()
        s = read_karpathy(root / "captions.json", root / "images")
        return DatasetSplits(make_split("train", s["train"]), make_split("val", s["val"]),
                             make_split("test", s["test"]), split_name="karpathy")

    load = read


@hookimpl
def register_datasets(register):
    register("folder", Folder)
'''


def make_folder_dataset(root, missing: str | None = None):
    (root / "images").mkdir(parents=True)
    entries = []
    for i, split in enumerate(["train", "train", "val", "test"]):
        name = f"farm_{i}.png"
        if name != missing:
            Image.new("RGB", (10, 12), (i * 40, 100, 50)).save(root / "images" / name)
        sentences = [{"raw": "green fields"}, {"raw": "."}, {"raw": "green fields"}]
        entries.append({"filename": name, "split": split, "sentences": sentences})
    (root / "captions.json").write_text(json.dumps({"images": entries}))


def rsbench(*args, tmp_path, plugin=False):
    env = {**os.environ}
    if plugin:
        site = write_distribution(
            tmp_path / "site",
            "rsbench-folder",
            {"folder": "rsb_folder"},
            {"rsb_folder.py": LOCAL_PLUGIN},
        )
        env["PYTHONPATH"] = str(site)
        env["RSBENCH_LOAD_PLUGINS"] = "rsbench,folder"
    return subprocess.run(
        [sys.executable, "-m", "rsbench", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )


def test_data_check_reports_statistics_and_usability(tmp_path):
    make_folder_dataset(tmp_path / "data")
    result = rsbench(
        "data",
        "check",
        "folder",
        "--data-root",
        str(tmp_path / "data"),
        tmp_path=tmp_path,
        plugin=True,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "split definition 'karpathy'" in out and "folder: usable" in out
    rows = {line.split("  ")[0]: line.split() for line in out.splitlines() if "  " in line}
    assert rows["images"][-3:] == ["2", "1", "1"]
    assert rows["empty or '.' captions"][-3:] == ["2", "1", "1"]
    assert rows["duplicates within an image"][-3:] == ["2", "1", "1"]
    assert rows["captions shared across images"][-3:] == ["6", "0", "0"]
    assert "10x12 (2)" in out


def test_data_check_fails_clearly_on_a_missing_image(tmp_path):
    make_folder_dataset(tmp_path / "data", missing="farm_1.png")
    args = ["data", "check", "folder", "--data-root", str(tmp_path / "data")]
    result = rsbench(*args, tmp_path=tmp_path, plugin=True)
    assert result.returncode == 2
    assert "missing images" in result.stdout and "farm_1.png: missing" in result.stdout
    last = result.stderr.strip().splitlines()
    assert len(last) == 1 and "folder is not usable: 1 images are missing or unreadable" in last[0]
    assert "--skip-bad-images" in last[0]
    skipped = rsbench(*args, "--skip-bad-images", tmp_path=tmp_path, plugin=True)
    assert skipped.returncode == 0


def test_data_where(tmp_path):
    make_folder_dataset(tmp_path / "data")
    result = rsbench(
        "data", "where", "--data-root", str(tmp_path / "data"), tmp_path=tmp_path, plugin=True
    )
    assert result.returncode == 0
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert str(tmp_path / "data") in lines["folder"]
    assert "synthrs" in lines


SHOW_SHUFFLE = ["noise", "show", "--dataset", "synthrs-tiny", "--noise-model", "caption_shuffle"]


def test_noise_show(tmp_path):
    result = rsbench(
        *SHOW_SHUFFLE,
        "--ratio",
        "0.4",
        "--n",
        "3",
        "-o",
        "mode=independent",
        tmp_path=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "effective noise rate:" in out and "39.26%" in out
    assert "noisy pairs within the same scene class" in out
    assert out.count("true caption:") == 3 and out.count("assigned caption:") == 3
    image = rsbench(
        "noise",
        "show",
        "--dataset",
        "synthrs-tiny",
        "--noise-model",
        "image_shuffle",
        "--ratio",
        "0.5",
        "--n",
        "2",
        tmp_path=tmp_path,
    )
    assert image.returncode == 0 and "image_shuffle v1 (image-level)" in image.stdout


def test_noise_show_bad_input(tmp_path):
    for args, message in [
        (["--ratio", "1.2"], "outside [0, 1)"),
        (["--ratio", "0.2", "-o", "mode"], "malformed option 'mode'"),
        (["--ratio", "0.3", "-o", "mode=rrsitr"], "supports ratios 0, 0.2"),
        (["--ratio", "0.2", "-o", "speed=3"], "unknown option 'speed'"),
    ]:
        result = rsbench(
            *SHOW_SHUFFLE,
            *args,
            tmp_path=tmp_path,
        )
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
