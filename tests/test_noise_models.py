"""The noise models beyond the two shuffles: contract, nominal vs effective rate, exact cases.

Most checks run on a synthrs-like split: real synthrs captions (``render_scene`` at 16 px, a
millisecond each) for all 21 classes, so that class maps, vocabularies and TF-IDF see the
sentences they are meant for.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from rsbench.data.noise_file import build_noise_file
from rsbench.io.errors import RsbenchError
from rsbench.plugin.manager import get_plugins
from rsbench.plugin.split import ImageItem, Split, make_split
from rsbench.testing import check_noise_model, tiny_split
from rsbench_plugins.datasets.synthrs_scenes import SCENE_CLASSES, render_scene
from rsbench_plugins.noise.classes import DATA, confusion_maps, readable
from rsbench_plugins.noise.mixture import allocate, parse_mixture
from rsbench_plugins.noise.tfidf import STOP_WORDS
from rsbench_plugins.noise.word_swap import lexicon

NEW_MODELS = [
    "partial_image",
    "class_confusion",
    "within_class",
    "nearest_neighbour",
    "word_swap",
    "degenerate",
    "compound",
    "wrong_class",
]
#: models whose every chosen row is made noisy for certain (a donor text checked against the
#: image's own captions, or an edit checked the same way)
EXACT = ["class_confusion", "within_class", "nearest_neighbour", "word_swap", "degenerate"]


def model(name: str, **options):
    return get_plugins().noise_models.get(name).create(options)


def synth_split(per_class: int, seed: int = 0, classless: int = 0) -> Split:
    """``per_class`` synthrs images of each class; the last ``classless`` have no class."""
    items = []
    for cls in SCENE_CLASSES:
        for i in range(per_class):
            _, captions = render_scene(cls, random.Random(f"{seed}-{cls}-{i}"), size=16)
            items.append(ImageItem(f"{cls}_{i}.tif", Path(f"{cls}_{i}.tif"), tuple(captions), cls))
    for k in range(len(items) - classless, len(items)):
        items[k] = ImageItem(f"{k}.tif", items[k].path, items[k].captions, None)
    return make_split("train", items)


@pytest.fixture(scope="module")
def synth() -> Split:
    return synth_split(8)


def noise(split: Split, name: str, ratio: float, seed: int = 42, **options):
    return build_noise_file(split, model(name, **options), ratio, seed, {"name": "t"})


def donor_image(split: Split, nf, row: int) -> int:
    return int(split.caption_image[nf.caption[row]])


# --- the contract -------------------------------------------------------------------------


@pytest.mark.parametrize("name", NEW_MODELS)
def test_contract_on_realistic_captions(name, synth):
    check_noise_model(model(name), synth)


@pytest.mark.parametrize("name", sorted(set(NEW_MODELS) - {"word_swap"}))
def test_contract_on_uneven_caption_counts(name):
    # tiny_split's captions ("caption 3 of image 7") hold no swappable word: word_swap is
    # checked on realistic captions only
    check_noise_model(model(name), tiny_split(30, [1, 2, 3, 4, 5, 6] * 5))


@pytest.mark.parametrize("name", NEW_MODELS)
def test_names_versions_and_documented_sources(name):
    instance = get_plugins().noise_models.get(name).create()
    assert instance.name == name and instance.version == "1"
    assert instance.level in ("caption", "image")
    doc = sys.modules[type(instance).__module__].__doc__ or ""
    assert doc.startswith(f"{name}: "), "the module docstring opens with the model's name"
    assert "Source" in doc and "Ratio mapping" in doc, f"{name}: cite the source, map the ratio"


def test_registering_the_noise_models_imports_no_torch():
    code = (
        "import sys; from rsbench.plugin.manager import get_plugins; p = get_plugins();"
        "assert 'nearest_neighbour' in p.noise_models.names();"
        "assert 'torch' not in sys.modules, 'registration imported torch'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("partial_image", {"j": 0}, "j must be at least 1"),
        ("class_confusion", {"confusion_map": "mars"}, "not one of: auto, none, nwpu"),
        ("class_confusion", {"similar_k": 0}, "similar_k"),
        ("nearest_neighbour", {"lo": 5, "hi": 5}, "0 <= lo < hi"),
        ("nearest_neighbour", {"encoder": "clip"}, "'tfidf'"),
        ("word_swap", {"categories": ["verbs"]}, "some of: objects, counts, colours, relations"),
        ("word_swap", {"edits": 0}, "edits must be at least 1"),
        ("degenerate", {"forms": "dot:1,haiku:1"}, "unknown degenerate form 'haiku'"),
        ("degenerate", {"templates": ["this is {kind}"]}, "only use {class} and {a_class}"),
        ("compound", {"mixture": "caption_shuffle:1,telepathy:1"}, "valid: partial_image"),
        ("compound", {"mixture": "degenerate"}, "needs a weight"),
        ("compound", {"component_options": {"word_swap": {}}}, "not in the mixture"),
        (
            "compound",
            {"mixture": "partial_image:1", "component_options": {"partial_image": {"j": 0}}},
            "compound part 'partial_image'",
        ),
        ("wrong_class", {"protected": 1.0}, "protected must be in [0, 1)"),
        ("wrong_class", {"captions": "two"}, "'all', 'one'"),
    ],
)
def test_bad_options_are_refused_with_a_clear_message(name, options, message):
    with pytest.raises(RsbenchError, match=re.escape(message)):
        model(name, **options)


# --- nominal vs effective rate ------------------------------------------------------------


@pytest.mark.parametrize("name", EXACT)
@pytest.mark.parametrize("ratio", [0.2, 0.5, 0.8])
def test_effective_rate_equals_the_ratio_for_models_that_make_every_chosen_row_noisy(
    name, ratio, synth
):
    nf = noise(synth, name, ratio)
    n = len(synth.texts)
    # round(N·ratio) rows, each made wrong for certain: exact, no tolerance needed
    assert nf.effective_rate == pytest.approx(round(n * ratio) / n, abs=1e-12)
    assert nf.stats["shortfall_rows"] == 0


def test_partial_image_rate_is_j_times_the_chosen_images(synth):
    n = len(synth.texts)
    for j, ratio in [(1, 0.1), (2, 0.3), (3, 0.5), (5, 0.8)]:
        nf = noise(synth, "partial_image", ratio, j=j)
        images = round(round(n * ratio) / j)
        # whole images only: within j/2 rows of the nominal count (0.5 more for rounding N·r)
        assert nf.effective_rate == pytest.approx(j * images / n, abs=1e-12)
        assert abs(nf.effective_rate - ratio) <= (j / 2 + 0.5) / n


def test_partial_image_cannot_exceed_j_of_k_and_says_so(synth):
    nf = noise(synth, "partial_image", 0.6, j=2)
    n = len(synth.texts)
    assert nf.effective_rate == pytest.approx(2 / 5)
    assert nf.stats["shortfall_rows"] == round(0.6 * n) - 2 * len(synth.images)


def test_compound_rate_loses_only_the_shuffle_fixed_points(synth):
    for ratio in (0.2, 0.6):
        nf = noise(synth, "compound", ratio)
        n = len(synth.texts)
        parts = nf.stats["parts"]
        assert sum(p["target_rows"] for p in parts.values()) == round(n * ratio)
        # class_confusion and degenerate rows are all noisy; caption_shuffle's permutation
        # sends a handful of rows back to a caption of their own image (a fixed point, a
        # sibling row, or a repeated generic sentence): over 20 seeds at most 7 of these 840
        # rows, so 1 % of N (8.4 rows) bounds it
        assert round(n * ratio) / n - 0.01 <= nf.effective_rate <= round(n * ratio) / n


@pytest.mark.parametrize("ratio", [0.2, 0.5])
def test_wrong_class_effective_rate_is_about_0_8_p(ratio):
    split = synth_split(20, seed=1)  # 420 images
    m = len(split.images)
    nf = noise(split, "wrong_class", ratio, seed=3)
    q = 0.8 * ratio  # each image: drawn with p, not protected (0.8), whole image noisy
    sigma = math.sqrt(q * (1 - q) / m)  # binomial spread of the share of noisy images
    assert abs(nf.effective_rate - q) < 4 * sigma
    assert nf.stats["p"] == ratio and nf.stats["protected_images"] == int(0.2 * m)


def test_wrong_class_ratio_is_rate_calibrates_p():
    split = synth_split(20, seed=1)
    nf = noise(split, "wrong_class", 0.4, seed=3, ratio_is="rate")
    assert nf.stats["p"] == pytest.approx(0.5)
    assert abs(nf.effective_rate - 0.4) < 4 * math.sqrt(0.4 * 0.6 / len(split.images))
    with pytest.raises(RsbenchError, match="reaches at most 0.8"):
        noise(split, "wrong_class", 0.85, ratio_is="rate")


# --- hand-made cases: the exact rows and texts --------------------------------------------


def test_partial_image_corrupts_exactly_j_captions_of_each_chosen_image():
    split = tiny_split(40, [5, 5, 2, 1] * 10, classes=4)
    nf = noise(split, "partial_image", 0.3, j=3)
    noisy_per_image = Counter(split.caption_image[~nf.clean].tolist())
    assert set(noisy_per_image.values()) == {3}
    assert all(len(split.images[i].captions) >= 3 for i in noisy_per_image)
    assert len(noisy_per_image) == round(round(0.3 * len(split.texts)) / 3)
    assert (nf.image == split.caption_image).all()  # images never move
    assert nf.stats["chosen_images"] == len(noisy_per_image)


def test_class_confusion_only_pairs_confusable_classes(synth):
    nf = noise(synth, "class_confusion", 0.6)
    groups = confusion_maps()["synthrs"]
    partners = nf.stats["confusable_by_similarity"]
    assert nf.stats["confusion_map"] == "synthrs"
    # synthrs's map leaves airport and intersection to caption similarity
    assert set(partners) == {"airport", "intersection"}
    assert all(len(p) == 2 and cls not in p for cls, p in partners.items())
    classes = synth.classes()
    for row in np.flatnonzero(~nf.clean).tolist():
        own, other = classes[synth.caption_image[row]], classes[donor_image(synth, nf, row)]
        allowed = groups.partners(own) or set(partners[own])
        assert other in allowed, f"{own} took a caption of {other}"
    assert nf.stats["same_class_rate"] == 0.0


def test_class_confusion_reads_nwpu_style_names_and_skips_unclassed_images():
    names = ["dense_residential", "medium_residential", "sparse_residential", "harbor", "ship"]
    items = [
        ImageItem(f"{c}_{i}.jpg", Path(f"{c}_{i}.jpg"), (f"{c} {i} a", f"{c} {i} b"), c)
        for c in names
        for i in range(4)
    ] + [ImageItem(f"{i}.jpg", Path(f"{i}.jpg"), (f"numeric {i}",), None) for i in range(5)]
    split = make_split("train", items)
    nf = noise(split, "class_confusion", 0.5)
    assert nf.stats["confusion_map"] == "nwpu" and nf.stats["rows_without_class"] == 5
    residential = {"dense_residential", "medium_residential", "sparse_residential"}
    for row in np.flatnonzero(~nf.clean).tolist():
        own = split.images[split.caption_image[row]].scene_class
        other = split.images[donor_image(split, nf, row)].scene_class
        assert own is not None and other != own
        assert {own, other} <= residential or {own, other} == {"harbor", "ship"}


@pytest.mark.parametrize("name", ["class_confusion", "within_class", "wrong_class"])
def test_class_models_refuse_a_split_without_classes(name):
    items = [ImageItem(f"{i}.tif", Path(f"{i}.tif"), (f"text {i}",)) for i in range(10)]
    with pytest.raises(RsbenchError, match="needs scene classes"):
        noise(make_split("train", items), name, 0.3)


def test_within_class_stays_in_class_on_another_image():
    split = synth_split(8, classless=12)
    nf = noise(split, "within_class", 0.5)
    classes = split.classes()
    noisy = np.flatnonzero(~nf.clean)
    assert len(noisy) == round(0.5 * len(split.texts))
    for row in noisy.tolist():
        own, donor = int(split.caption_image[row]), donor_image(split, nf, row)
        assert classes[own] is not None and classes[donor] == classes[own] and donor != own
    assert nf.stats["rows_without_class"] == 60


def test_nearest_neighbour_picks_inside_the_rank_band_by_brute_force(synth):
    lo, hi = 2, 6
    nf = noise(synth, "nearest_neighbour", 0.3, lo=lo, hi=hi)
    texts = sorted(set(synth.texts))
    vectors = _brute_tfidf(texts)
    position = {t: i for i, t in enumerate(texts)}
    checked = 0
    for row in np.flatnonzero(nf.caption != np.arange(len(synth.texts))).tolist():
        query, chosen = synth.texts[row], synth.texts[nf.caption[row]]
        assert nf.caption[row] == synth.texts.index(chosen)  # the first row with that text
        own = set(synth.images[synth.caption_image[row]].captions)
        candidates = [i for i, t in enumerate(texts) if t not in own]
        sims = vectors[candidates] @ vectors[position[query]]
        s = float(vectors[position[chosen]] @ vectors[position[query]])
        # rank of the chosen text among the candidates, allowing float near-ties either way
        best_rank = int((sims > s + 1e-4).sum())
        worst_rank = int((sims >= s - 1e-4).sum()) - 1
        assert best_rank < hi and worst_rank >= lo, (query, chosen, best_rank, worst_rank)
        checked += 1
    assert checked == round(0.3 * len(synth.texts))
    assert nf.stats["rank_band"] == [lo, hi]


def _brute_tfidf(docs: list[str]) -> np.ndarray:
    """TF-IDF exactly as documented, dense, written independently of the plugin."""
    tokenised = [
        [w for w in re.findall(r"[a-z0-9]+", d.lower()) if w not in STOP_WORDS] for d in docs
    ]
    vocab = sorted({w for t in tokenised for w in t})
    col = {w: i for i, w in enumerate(vocab)}
    tf = np.zeros((len(docs), len(vocab)))
    for i, t in enumerate(tokenised):
        for w in t:
            tf[i, col[w]] += 1
    df = (tf > 0).sum(0)
    x = tf * (np.log((1 + len(docs)) / (1 + df)) + 1)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1)


def test_nearest_neighbour_is_harder_than_a_random_shuffle(synth):
    near = noise(synth, "nearest_neighbour", 0.4, hi=3)
    shuffle = noise(synth, "caption_shuffle", 0.4)
    assert near.stats["same_class_rate"] > 0.5 > 0.2 > shuffle.stats["same_class_rate"]


def test_word_swap_edits_exactly_one_listed_word(synth):
    nf = noise(synth, "word_swap", 0.5)
    assert len(nf.texts) == round(0.5 * len(synth.texts))
    assert (nf.caption == np.arange(len(nf.caption))).all()  # edits, not swaps
    for row, new in nf.texts.items():
        assert _swapped(synth.texts[row], new, 1), (synth.texts[row], new)
        assert not nf.clean[row]
    assert sum(nf.stats["edits_by_category"].values()) == len(nf.texts)


WORDS = lexicon(("colours", "counts", "objects", "relations"))


def _swapped(old: str, new: str, k: int) -> list[tuple[str, str]] | None:
    """The (old, new) phrases if ``new`` is ``old`` with exactly ``k`` phrases swapped within
    their swap set (another concept, same number), else None."""
    spans = WORDS.spans(old)
    for chosen in itertools.combinations(spans, k):
        pieces, last = [], 0
        for start, end in chosen:
            pieces += [re.escape(old[last:start]), "(.+?)"]
            last = end
        match = re.fullmatch("".join(pieces) + re.escape(old[last:]), new)
        if not match:
            continue
        pairs = [(old[a:b], got) for (a, b), got in zip(chosen, match.groups(), strict=True)]
        if all(_other_concept(before, after) for before, after in pairs):
            return pairs
    return None


def _other_concept(before: str, after: str) -> bool:
    x = WORDS.entries[" ".join(before.lower().split())]
    y = WORDS.entries.get(after.lower())
    return (
        y is not None
        and (x.swap_set, x.plural) == (y.swap_set, y.plural)
        and x.concept != y.concept
    )


def test_word_swap_keeps_number_and_capitals_and_reports_a_shortfall():
    captions = [
        ("Two planes are parked on the left.", "nothing to swap here."),
        ("a red car beside the road.", "again nothing."),
    ]
    items = [ImageItem(f"x_{i}", Path(f"x_{i}"), c, "x") for i, c in enumerate(captions)]
    split = make_split("train", items)
    nf = noise(split, "word_swap", 0.75, edits=2)
    assert set(nf.texts) == {0, 2}  # only captions with two swappable phrases
    assert nf.stats["shortfall_rows"] == 1 and nf.stats["eligible_rows"] == 2
    for row in (0, 2):
        assert _swapped(split.texts[row], nf.texts[row], 2), nf.texts[row]
    assert not _swapped(split.texts[0], nf.texts[0], 1)
    assert nf.texts[0][0].isupper()


def test_degenerate_texts_are_among_the_allowed_forms(synth):
    nf = noise(synth, "degenerate", 0.6)
    allowed_templates = ["this is {a_class}.", "it is {a_class}.", "{a_class}."]
    for row, text in nf.texts.items():
        cls = readable(synth.images[synth.caption_image[row]].scene_class)
        article = ("an " if cls[0] in "aeiou" else "a ") + cls
        forms = {".", "", cls} | {t.format(a_class=article) for t in allowed_templates}
        assert text in forms, text
    shares = nf.stats["forms"]
    n = round(0.6 * len(synth.texts))
    assert sum(shares.values()) == n and max(shares.values()) - min(shares.values()) <= 1


def test_degenerate_gives_classless_images_only_classless_forms():
    split = synth_split(2, classless=6)
    nf = noise(split, "degenerate", 0.9, forms={"dot": 1, "class_name": 3})
    for row, text in nf.texts.items():
        if split.images[split.caption_image[row]].scene_class is None:
            assert text == "."
    assert "" not in nf.texts.values()
    assert nf.stats["forms"]["class_name"] > nf.stats["forms"]["dot"]


def test_compound_parts_are_disjoint_and_in_proportion(synth):
    mixture = "caption_shuffle:0.5,class_confusion:0.3,degenerate:0.2"
    nf = noise(synth, "compound", 0.5, mixture=mixture)
    n = round(0.5 * len(synth.texts))
    parts = nf.stats["parts"]
    expected = allocate(
        n, parse_mixture(mixture, ["caption_shuffle", "class_confusion", "degenerate"], "part")
    )
    assert {k: v["target_rows"] for k, v in parts.items()} == expected
    assert {k: v["selected_rows"] for k, v in parts.items()} == expected
    texts = set(nf.texts)
    moved = set(np.flatnonzero(nf.caption != np.arange(len(nf.caption))).tolist())
    assert not texts & moved  # a row belongs to one part
    assert len(texts) == expected["degenerate"]
    assert parts["class_confusion"]["changed_rows"] == expected["class_confusion"]


def test_compound_accepts_a_mapping_and_ignores_the_written_order(synth):
    a = noise(synth, "compound", 0.4, mixture="degenerate:1,within_class:3")
    b = noise(synth, "compound", 0.4, mixture={"within_class": 0.75, "degenerate": 0.25})
    assert a.content_hash == b.content_hash
    c = noise(
        synth,
        "compound",
        0.4,
        mixture="partial_image:1,word_swap:1,wrong_class:1,nearest_neighbour:1",
        component_options={"partial_image": {"j": 1}, "nearest_neighbour": {"hi": 3}},
    )
    assert c.stats["parts"]["partial_image"]["j"] == 1
    assert c.stats["parts"]["nearest_neighbour"]["rank_band"] == [0, 3]
    assert c.stats["shortfall_rows"] <= 2  # partial images round to whole images


def test_wrong_class_protects_its_subset_and_uses_other_classes():
    split = synth_split(10)
    classes, first = split.classes(), split.first_row
    clean_images = {}
    for ratio in (0.5, 0.99):
        nf = noise(split, "wrong_class", ratio)
        noisy = sorted(set(split.caption_image[~nf.clean].tolist()))
        clean_images[ratio] = set(range(len(split.images))) - set(noisy)
        for image in noisy:
            rows = np.arange(first[image], first[image + 1])
            donors = {donor_image(split, nf, r) for r in rows.tolist()}
            assert len(donors) == 1 and classes[donors.pop()] != classes[image]
            assert not nf.clean[rows].any()  # all captions of a noisy image go wrong
    protected = int(0.2 * len(split.images))
    # at p = 0.99 the images left clean are the protected ones (and ~1 % of the others)...
    assert protected <= len(clean_images[0.99]) <= protected + 6
    # ...and the protected subset depends on the seed only: also clean at p = 0.5
    assert len(clean_images[0.99] - clean_images[0.5]) <= 6


def test_wrong_class_one_caption_per_image_is_chnrs_selection():
    split = synth_split(6)
    for ratio in (0.0, 0.5):
        nf = noise(split, "wrong_class", ratio, captions="one")
        texts = nf.row_texts(split)
        for i in range(len(split.images)):
            rows = range(split.first_row[i], split.first_row[i + 1])
            assert len({texts[r] for r in rows}) == 1  # one caption, on all the image's rows
        assert nf.clean.all() if ratio == 0 else not nf.clean.all()
    selected_at_0 = noise(split, "wrong_class", 0.0, captions="one").caption
    at_half = noise(split, "wrong_class", 0.5, captions="one").caption
    kept = split.caption_image[at_half] == split.caption_image  # images not made noisy
    assert kept.mean() > 0.5
    assert (at_half[kept] == selected_at_0[kept]).all()  # the selection depends on the seed only


# --- shipped data -------------------------------------------------------------------------


def test_shipped_confusion_maps_cover_the_datasets_class_lists():
    maps = confusion_maps()
    sizes = {name: len(m.classes) for name, m in maps.items()}
    assert sizes == {"nwpu": 45, "rsicd": 30, "rsitmd": 33, "sydney": 7, "synthrs": 21, "ucm": 21}
    assert maps["synthrs"].classes == set(SCENE_CLASSES)
    assert {"mediumresidential", "sparseresidential"} <= maps["rsitmd"].partners("denseresidential")
    assert "runway" in maps["sydney"].partners("airport")
    names = json.loads((DATA / "class_names.json").read_text())["names"]
    missing = {c for m in maps.values() for c in m.classes} - set(names)
    assert not missing, f"class_names.json lacks {sorted(missing)}"
