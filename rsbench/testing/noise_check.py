"""`check_noise_model`: corrupt a small training split and check the noise-model contract."""

from __future__ import annotations

from rsbench.data.noise_file import build_noise_file, clean_by_text
from rsbench.io.errors import RsbenchError
from rsbench.plugin.components import NoiseModel
from rsbench.plugin.split import Split
from rsbench.testing.fixtures import tiny_split
from rsbench.testing.rules import ConformanceError, check_options, label, require


def check_noise_model(
    model: NoiseModel, split: Split | None = None, ratios=(0.0, 0.2, 0.6)
) -> None:
    """Corrupt ``split`` (default: `tiny_split` of 40 images) at each ratio and check the contract.

    Raises `ConformanceError` naming the rule a noise model breaks:

    - its options are recorded (`check_options`); ``level`` is ``caption`` or ``image``;
    - it is deterministic: the same seed gives the same noise file, from this instance and from
      a new one built from its ``params()``; another seed gives another one (ratio > 0);
    - clean flags follow the text rule (a row is clean when its text is one of its image's own
      captions): ratio 0 leaves every pair clean, a ratio above 0 corrupts some;
    - training split only: it pairs rows only with images and captions of the split it is given
      (plus the texts it edits), one entry per caption row, and leaves that split unchanged.
    """
    split = split or tiny_split(40)
    model.name = model.name or type(model).__name__
    check_options(model)
    require(
        model.level in ("caption", "image"),
        model,
        f"level must be 'caption' or 'image', got {model.level!r}",
    )
    fresh = type(model)(**model.params())
    fresh.name, fresh.version = model.name, model.version
    spec = {"name": "tiny"}
    before = split.fingerprint()
    for ratio in ratios:
        a = _build(model, split, ratio, 7, spec)
        b = _build(fresh, split, ratio, 7, spec)
        require(
            a.content_hash == b.content_hash,
            model,
            f"the same seed gave different noise at ratio {ratio} (keep no state between calls; "
            "draw every random number from a generator seeded by `seed`)",
        )
        expected = clean_by_text(split, a.image, a.row_texts(split))
        require((a.clean == expected).all(), model, "clean flags disagree with the text rule")
        if ratio == 0:
            require(a.clean.all(), model, "ratio 0 must leave every pair clean")
        else:
            c = _build(model, split, ratio, 8, spec)
            require(
                c.content_hash != a.content_hash,
                model,
                f"the noise seed has no effect at ratio {ratio}",
            )
            require(not a.clean.all(), model, f"ratio {ratio} corrupted nothing")
    require(
        split.fingerprint() == before,
        model,
        "corrupt changed the split it was given (its images, captions or their order)",
    )


def _build(model: NoiseModel, split: Split, ratio: float, seed: int, spec: dict):
    try:  # `build_noise_file` refuses indices and edits outside the split (check_corruption)
        return build_noise_file(split, model, ratio, seed, spec)
    except RsbenchError as exc:
        raise ConformanceError(f"{label(model)}: {exc} (training split only)") from None
