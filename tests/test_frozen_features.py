"""Frozen-backbone features (`rsbench.engine.frozen`): each extraction quirk against a manual
computation through the same tiny checkpoints, the cache, and the retriever over features."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from rsbench.engine import frozen
from rsbench.engine.binary_codes import binary_codes
from rsbench.engine.frozen import (
    FrozenFeatureRetriever,
    ImageRecipe,
    TextRecipe,
    augment_draws,
    clean_caption,
    gaussian_blur,
    image_features,
    prepare_image,
    text_features,
)
from rsbench.io.cache import clear_memo
from rsbench.plugin.split import ImageItem

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A tiny ResNet-18-shaped and a tiny 4-layer BERT, written with save_pretrained."""
    from tests.fixtures.tiny_checkpoints import save_tiny_bert, save_tiny_resnet

    root = tmp_path_factory.mktemp("weights")
    save_tiny_resnet(root / "t" / "resnet", [8, 8, 16, 24])
    save_tiny_bert(root / "t" / "bert", extra_words=["plane", "red", "two", "roofs"])
    return root


@pytest.fixture
def pictures(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(5):
        path = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 40, 3)).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def _models(weights):
    from transformers import BertModel, BertTokenizer, ResNetModel

    return (
        ResNetModel.from_pretrained(weights / "t" / "resnet"),
        BertModel.from_pretrained(weights / "t" / "bert"),
        BertTokenizer.from_pretrained(weights / "t" / "bert"),
    )


# ---- captions -----------------------------------------------------------------------------------


def test_captions_are_stripped_and_lower_cased():
    recipe = TextRecipe("x")
    assert clean_caption("Two Roofs, a plane! Red? yes.", recipe) == "two roofs a plane red yes"
    assert clean_caption("A, b.", TextRecipe("x", strip="", lowercase=False)) == "A, b."


@pytest.mark.parametrize("pool", ["all", "masked"])
def test_text_features_sum_the_last_four_layers_and_pool(weights, pool):
    texts = ["A plane, red!", "two roofs."]
    recipe = TextRecipe("t/bert", max_length=10, pool=pool)
    got = text_features(texts, recipe, weights_dir=weights)
    _, bert, tokenizer = _models(weights)
    bert.eval()
    for row, text in enumerate(texts):
        enc = tokenizer(clean_caption(text, recipe), max_length=10, padding="max_length")
        ids = torch.tensor([enc["input_ids"]])
        mask = torch.tensor([enc["attention_mask"]])
        with torch.no_grad():
            hidden = bert(
                input_ids=ids, attention_mask=mask, output_hidden_states=True
            ).hidden_states
        states = [h[0].numpy().astype(np.float64) for h in hidden]
        positions = (
            range(10) if pool == "all" else [p for p in range(10) if enc["attention_mask"][p]]
        )
        expected = np.zeros(16)
        for p in positions:  # the sum of the last four layers at each position, then the mean
            expected += states[-1][p] + states[-2][p] + states[-3][p] + states[-4][p]
        expected /= len(positions)
        np.testing.assert_allclose(got[row], expected, rtol=1e-4, atol=1e-5)
    # the quirk matters: padding pulls the mean
    other = "masked" if pool == "all" else "all"
    assert not np.allclose(
        got, text_features(texts, TextRecipe("t/bert", 10, pool=other), weights_dir=weights)
    )


# ---- images --------------------------------------------------------------------------------------


def _manual_pixels(path, size, crop, normalize="none"):
    image = Image.open(path).convert("RGB")
    w, h = image.size
    left, top = int(round((w - crop) / 2)), int(round((h - crop) / 2))
    image = image.crop((left, top, left + crop, top + crop)).resize((size, size), Image.BILINEAR)
    x = np.asarray(image, dtype=np.float32) / 255.0
    if normalize == "imagenet":
        x = (x - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    return torch.from_numpy(x.astype(np.float32)).permute(2, 0, 1)


@pytest.mark.parametrize("normalize", ["none", "imagenet"])
def test_image_features_in_eval_mode_match_a_manual_pipeline(weights, pictures, normalize):
    recipe = ImageRecipe("t/resnet", size=32, center_crop=24, normalize=normalize, batchnorm="eval")
    got = image_features(pictures, recipe, weights_dir=weights)
    resnet, _, _ = _models(weights)
    resnet.eval()
    for i, path in enumerate(pictures):
        with torch.no_grad():
            x = _manual_pixels(path, 32, 24, normalize)[None]
            expected = resnet(pixel_values=x).pooler_output.flatten().numpy()
        np.testing.assert_allclose(got[i], expected, rtol=1e-4, atol=1e-5)


def test_batch_statistics_in_chnrs_shuffled_batches(weights, pictures):
    """BatchNorm in training mode: a feature depends on its batch, the batches are those of
    ``RandomState(seed).permutation``, as CHNR's extraction script makes them."""
    recipe = ImageRecipe("t/resnet", size=32, center_crop=24, batch_size=2, seed=42)
    got = image_features(pictures, recipe, weights_dir=weights)
    resnet, _, _ = _models(weights)
    resnet.train()
    order = np.random.RandomState(42).permutation(5)
    for rows in (order[:2], order[2:]):  # 2 + 2 + 1: the single last image joins its neighbours
        x = torch.stack([_manual_pixels(pictures[i], 32, 24) for i in rows])
        with torch.no_grad():
            expected = resnet(pixel_values=x).pooler_output.flatten(1).numpy()
        np.testing.assert_allclose(got[rows], expected, rtol=1e-4, atol=1e-5)
    # another batch composition changes a feature; under running statistics it does not
    swapped = image_features(pictures[::-1], recipe, weights_dir=weights)[::-1]
    assert not np.allclose(got, swapped, atol=1e-4)
    running = ImageRecipe("t/resnet", size=32, center_crop=24, batch_size=2, batchnorm="eval")
    a = image_features(pictures, running, weights_dir=weights)
    b = image_features(pictures[::-1], running, weights_dir=weights)[::-1]
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_crop_larger_than_the_image_takes_the_whole_image(pictures):
    recipe = ImageRecipe("x", size=40, center_crop=500)
    x = prepare_image(pictures[0], recipe)
    expected = np.asarray(Image.open(pictures[0]).convert("RGB"), dtype=np.float32) / 255
    np.testing.assert_allclose(x.permute(1, 2, 0).numpy(), expected, atol=1e-6)


def test_gaussian_blur_equals_a_3x3_convolution_with_reflected_borders():
    image = Image.fromarray(np.random.default_rng(1).integers(0, 255, (9, 7, 3)).astype(np.uint8))
    sigma = 1.2
    taps = np.exp(-0.5 * (np.array([-1.0, 0.0, 1.0]) / sigma) ** 2)
    taps /= taps.sum()
    x = np.asarray(image, dtype=np.float64)
    padded = np.pad(x, ((1, 1), (1, 1), (0, 0)), mode="reflect")
    expected = np.zeros_like(x)
    for r in range(9):  # a loop over pixels and kernel taps
        for c in range(7):
            for dr in range(3):
                for dc in range(3):
                    expected[r, c] += taps[dr] * taps[dc] * padded[r + dr, c + dc]
    got = np.asarray(gaussian_blur(image, sigma)).astype(np.int64)
    assert np.abs(got - np.round(expected)).max() <= 1  # rounding of float32 vs float64


def test_the_augmented_view_blurs_rotates_then_crops_with_fixed_draws(pictures):
    recipe = ImageRecipe("x", size=32, center_crop=24, view="augmented", seed=7)
    sigma, angle = augment_draws(5, recipe)
    assert ((sigma >= 1.1) & (sigma <= 1.3)).all() and ((angle >= -10) & (angle <= -5)).all()
    assert np.array_equal(angle, augment_draws(5, recipe)[1])
    got = prepare_image(pictures[2], recipe, float(sigma[2]), float(angle[2]))
    image = gaussian_blur(Image.open(pictures[2]).convert("RGB"), float(sigma[2]))
    image = image.rotate(float(angle[2]), resample=Image.NEAREST, fillcolor=(0, 0, 0))
    image = image.crop((8, 8, 32, 32)).resize((32, 32), Image.BILINEAR)
    expected = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)
    assert torch.allclose(got, expected, atol=1e-6)
    assert not torch.allclose(
        got, prepare_image(pictures[2], ImageRecipe("x", size=32, center_crop=24))
    )


# ---- the cache ----------------------------------------------------------------------------------


def test_features_are_extracted_once_and_a_change_makes_a_new_entry(weights, pictures, monkeypatch):
    calls = []
    original = frozen.extract_images

    def counting(paths, recipe, **kwargs):
        calls.append(len(paths))
        return original(paths, recipe, **kwargs)

    monkeypatch.setattr(frozen, "extract_images", counting)
    recipe = ImageRecipe("t/resnet", size=32, center_crop=20, batch_size=5)
    first = image_features(pictures, recipe, weights_dir=weights)
    clear_memo()  # another process: read from the disk cache
    again = image_features(pictures, recipe, weights_dir=weights)
    assert calls == [5] and np.array_equal(first, again)
    os.utime(pictures[3], ns=(1, 1))  # a touched image: its size and mtime are in the key
    image_features(pictures, recipe, weights_dir=weights)
    image_features(pictures, ImageRecipe("t/resnet", size=32, center_crop=22), weights_dir=weights)
    assert calls == [5, 5, 5]
    monkeypatch.setenv("RSBENCH_ARRAY_CACHE", "0")  # (set when a process starts: no memo then)
    clear_memo()
    image_features(pictures, recipe, weights_dir=weights)
    image_features(pictures, recipe, weights_dir=weights)
    assert calls == [5, 5, 5, 5, 5]


# ---- the retriever -------------------------------------------------------------------------------


def test_retriever_scores_and_codes_through_the_model(tmp_path):
    from rsbench_plugins.methods.chnr import CHNRModel

    torch.manual_seed(0)
    model = CHNRModel(6, 4, 16, 8, 0.2).eval()
    table = {f"img{i}": np.random.default_rng(i).standard_normal(6) for i in range(7)}
    extracted = []

    def images(paths):
        extracted.append(len(paths))
        return np.array([table[p.stem] for p in paths], dtype=np.float32)

    def texts(items):
        return np.array([np.full(4, float(len(t))) for t in items], dtype=np.float32)

    retriever = FrozenFeatureRetriever(model, images, texts, "cpu")
    items = [ImageItem(f"img{i}", tmp_path / f"img{i}.png", ()) for i in range(7)]
    captions = ["a", "bb", "a", "ccc"]  # a duplicate caption
    scores = retriever.scorer(items, captions).block(slice(0, 4), slice(0, 7))
    with torch.no_grad():
        image = model.encode_image(torch.from_numpy(images([i.path for i in items])))
        text = model.encode_text(torch.from_numpy(texts(captions)))
        expected = model.score(image, text).numpy()
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
    assert np.array_equal(scores[0], scores[2])
    image_bits, text_bits = retriever.codes(items, captions)
    assert image_bits.dtype == np.int8 and image_bits.shape == (7, 8) and text_bits.shape == (4, 8)
    assert np.array_equal(image_bits, binary_codes(image.emb).numpy())
    retriever.scorer(items, captions)
    assert extracted.count(7) == 2  # the test's own call, and the retriever's one (memo after)
