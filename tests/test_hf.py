"""Backbones from transformers: tiny checkpoints written with save_pretrained, loaded offline
through rsbench's own loading code, and the transformers 5 traps that code must avoid."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rsbench.engine.hf import (
    MissingCheckpointError,
    find_checkpoint,
    load_pretrained,
    load_tokenizer,
)
from rsbench.engine.models import CLIPDualEncoder
from rsbench.engine.text import HFTokenizer
from rsbench.io.errors import RsbenchError

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("RSBENCH_WEIGHTS", raising=False)


def char_clip_tokenizer():
    """A CLIP tokenizer over single bytes (no merges): enough to tokenize any caption."""
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokens = alphabet + [c + "</w>" for c in alphabet] + ["<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=[])


def tiny_clip(image_size: int = 32):
    from transformers import CLIPConfig, CLIPModel, CLIPTextConfig, CLIPVisionConfig

    tokenizer = char_clip_tokenizer()
    common = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    text = CLIPTextConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=40,
        eos_token_id=len(tokenizer) - 1,
        bos_token_id=len(tokenizer) - 2,
        projection_dim=16,
        **common,
    )
    vision = CLIPVisionConfig(image_size=image_size, patch_size=8, projection_dim=16, **common)
    torch.manual_seed(0)
    model = CLIPModel(
        CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=16)
    )
    return model, tokenizer


@pytest.fixture
def weights(tmp_path):
    """A weights folder holding a tiny CLIP, BERT and ResNet-18 / -50 in the Hub's layout."""
    from tests.fixtures.tiny_checkpoints import save_tiny_bert, save_tiny_resnet

    root = tmp_path / "weights"
    clip, clip_tok = tiny_clip()
    clip.save_pretrained(root / "org" / "tiny-clip")
    clip_tok.save_pretrained(root / "org" / "tiny-clip")
    save_tiny_bert(
        root / "org" / "tiny-bert",
        hidden_size=32,
        num_hidden_layers=2,
        intermediate_size=64,
        extra_words=["plane", "red", "roof", "two"],
    )
    for layout, kind in (("resnet-18", "basic"), ("resnet-50", "bottleneck")):
        save_tiny_resnet(root / "org" / f"tiny-{layout}", [8, 16, 32, 64], kind)
    return root


def test_tiny_checkpoints_load_offline_with_equal_weights(weights):
    from transformers import BertModel, CLIPModel, ResNetModel

    for cls, name in (
        (CLIPModel, "org/tiny-clip"),
        (BertModel, "org/tiny-bert"),
        (ResNetModel, "org/tiny-resnet-50"),
    ):
        model, info = load_pretrained(cls, name, weights)
        saved = cls.from_pretrained(weights / name)
        for (n, a), (_, b) in zip(
            model.state_dict().items(), saved.state_dict().items(), strict=True
        ):
            assert torch.equal(a, b), n
        assert info["checkpoint"] == name and len(info["sha256"]) == 64
    # also found under its bare name, and through RSBENCH_WEIGHTS
    assert find_checkpoint("tiny-bert", weights / "org") == weights / "org" / "tiny-bert"


def test_resnet_stage_maps_are_hidden_states_one_to_four(weights):
    from transformers import ResNetModel

    model, _ = load_pretrained(ResNetModel, "org/tiny-resnet-18", weights)
    out = model(pixel_values=torch.randn(2, 3, 64, 64), output_hidden_states=True)
    assert len(out.hidden_states) == 5  # stem, then stages 1-4
    assert [h.shape[-1] for h in out.hidden_states[1:]] == [16, 8, 4, 2]


def test_bert_tokenizer_reads_its_vocabulary_not_the_five_token_trap(weights):
    from transformers import BertTokenizer

    tokenizer = load_tokenizer(BertTokenizer, "org/tiny-bert", weights)
    assert len(tokenizer) == 61
    assert tokenizer.tokenize("two red plane") == ["two", "red", "plane"]
    # the trap: the constructor's vocab_file= is silently ignored (5 tokens, every word [UNK])
    trapped = BertTokenizer(vocab_file=str(weights / "org" / "tiny-bert" / "vocab.txt"))
    assert len(trapped) < 32
    # a folder whose tokenizer comes out that small is refused with a clear message
    broken = weights / "org" / "broken-bert"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    (broken / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n")
    with pytest.raises(RsbenchError, match="only 5 tokens"):
        load_tokenizer(BertTokenizer, "org/broken-bert", weights)


def test_clip_features_apply_the_post_layernorm_to_every_patch(weights):
    from transformers import CLIPModel, CLIPTokenizer

    clip, _ = load_pretrained(CLIPModel, "org/tiny-clip", weights)
    clip.eval()
    model = CLIPDualEncoder(clip, tokens=True)
    pixels = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        features = model.encode_image(pixels)
        hidden = clip.vision_model(pixel_values=pixels).last_hidden_state
        ln = clip.vision_model.post_layernorm
        expected_tokens = clip.visual_projection(ln(hidden[:, 1:]))
        expected_emb = F.normalize(clip.visual_projection(ln(hidden[:, 0])), dim=-1)
        # transformers normalises the class token only: raw patches differ from ours
        unnormalised = clip.visual_projection(hidden[:, 1:])
        image_features = clip.get_image_features(pixel_values=pixels)
    assert features.tokens.shape == (3, 16, 16)
    assert torch.allclose(features.tokens, expected_tokens, atol=1e-5)
    assert not torch.allclose(features.tokens, unnormalised, atol=1e-3)
    assert torch.allclose(features.emb, expected_emb, atol=1e-5)
    # get_image_features returns an output object in transformers 5, not a tensor: not used
    pooled = getattr(image_features, "pooler_output", image_features)
    assert torch.allclose(F.normalize(pooled, dim=-1), expected_emb, atol=1e-5)
    # text: every position (padding included) after the final LayerNorm and the projection
    tokenizer = HFTokenizer(load_tokenizer(CLIPTokenizer, "org/tiny-clip", weights), 40, pad_id=0)
    batch = tokenizer(["a red roof", "two planes"])
    assert batch.ids[0, -1].item() == 0 and not batch.mask[0, -1]  # padded with 0, as OpenCLIP
    with torch.no_grad():
        text = model.encode_text(batch)
        states = clip.text_model(input_ids=batch.ids).last_hidden_state
    assert text.tokens.shape == (2, 40, 16)
    assert torch.allclose(text.tokens, clip.text_projection(states), atol=1e-5)
    eot = batch.ids.argmax(dim=1)  # <|endoftext|> is the largest id
    expected_text = F.normalize(clip.text_projection(states[torch.arange(2), eot]), dim=-1)
    assert torch.allclose(text.emb, expected_text, atol=1e-5)


def test_infonce_fine_tunes_a_checkpoint_through_the_real_path(weights):
    from rsbench.testing import check_method
    from rsbench_plugins.methods.infonce import InfoNCE

    method = InfoNCE(
        checkpoint="org/tiny-clip",
        weights_dir=str(weights),
        image_size=32,
        decode_size=40,
        text_length=40,
        epochs=1,
    )
    metrics = check_method(method)
    assert 0 <= metrics["mR"] <= 100
    with pytest.raises(RsbenchError, match="takes 32 px images, but image_size is 48"):
        check_method(
            InfoNCE(checkpoint="org/tiny-clip", weights_dir=str(weights), image_size=48, epochs=1)
        )


def test_unused_checkpoint_weights_are_quiet_and_missing_ones_one_line(tmp_path, capfd):
    """transformers' load-report table is not printed; weights the class lacks in the checkpoint
    (initialised at random) are named in one line, weights it does not use are not."""
    from transformers import BertModel

    from rsbench.engine.backbones import load_bert
    from rsbench.engine.hf import load_pretrained
    from tests.fixtures.tiny_checkpoints import save_tiny_bert

    common = dict(hidden_size=16, num_hidden_layers=1, intermediate_size=32)
    save_tiny_bert(tmp_path / "org" / "with-pooler", **common)
    save_tiny_bert(tmp_path / "org" / "no-pooler", add_pooling_layer=False, **common)
    capfd.readouterr()
    load_bert("org/with-pooler", tmp_path)  # the pooler's weights are unused: nothing said
    assert capfd.readouterr().err == ""
    load_pretrained(BertModel, "org/no-pooler", tmp_path, add_pooling_layer=True)
    err = capfd.readouterr().err
    assert "LOAD REPORT" not in err and len(err.strip().splitlines()) == 1
    assert "lacks 2 weights of BertModel, initialised at random: pooler.dense.bias" in err
    with pytest.raises(
        RsbenchError, match=r"does not fit BertModel: \d+ weights have other shapes"
    ):
        load_pretrained(BertModel, "org/no-pooler", tmp_path, intermediate_size=64)


def test_a_missing_checkpoint_is_one_line_and_exit_2_before_training(tmp_path):
    env = {
        **os.environ,
        "RSBENCH_PROGRESS": "0",
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
    }
    env.pop("RSBENCH_WEIGHTS", None)
    out = tmp_path / "runs"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rsbench",
            "run",
            "--methods",
            "infonce",
            "--datasets",
            "synthrs-tiny",
            "--noise",
            "0",
            "--profile",
            "paper",
            "--weights-dir",
            str(tmp_path / "none"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "checkpoint 'openai/clip-vit-base-patch32' not found offline" in lines[0]
    assert str(tmp_path / "none" / "openai" / "clip-vit-base-patch32") in lines[0]
    assert not (out / "cells").exists()


def test_missing_checkpoint_error_type():
    with pytest.raises(MissingCheckpointError):
        load_pretrained(object, "nobody/nothing-here", None)


def test_shipped_small_encoders_are_listed_in_their_manifest():
    from rsbench.engine.hf import SHIPPED_DIR

    manifest = json.loads((SHIPPED_DIR / "MANIFEST.json").read_text())
    for name in ("small-clip", "small-bert", "small-resnet-18", "small-resnet-50"):
        folder = find_checkpoint(f"rsbench/{name}")
        assert folder == SHIPPED_DIR / "rsbench" / name
        weights_file = f"rsbench/{name}/model.safetensors"
        import hashlib

        assert (
            hashlib.sha256((SHIPPED_DIR / weights_file).read_bytes()).hexdigest()
            == manifest["files"][weights_file]
        )
    assert np.isfinite(manifest["history"]["small-clip"][-1]["val_mR"])
