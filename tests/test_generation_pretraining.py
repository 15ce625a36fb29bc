"""The small-T5 pre-training step: T5 span corruption, the Unigram tokenizer (labels kept whole) and the budgeted
pre-training loop that saves an ordinary T5 folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
from transformers import AutoTokenizer, T5ForConditionalGeneration
from xlgen_fixtures import debtags, tiny_t5_folder

from hf_xmc.cli.main import main as cli_main
from hf_xmc.t5_pretraining import (
    SpanCorruptionCollator,
    T5PretrainingArguments,
    corrupt,
    input_and_target_lengths,
    pretrain_t5,
    random_spans_noise_mask,
    whole_label_share,
)

SENTINELS = list(range(1000, 1100))


def test_noise_masks_have_t5s_density_and_never_start_with_noise():
    rng = np.random.default_rng(0)
    for _ in range(20):
        mask = random_spans_noise_mask(100, 0.15, 3.0, rng)
        assert mask.sum() == 15 and not mask[0]
        spans = int((mask & ~np.r_[False, mask[:-1]]).sum())
        assert spans == 5


def test_corruption_hides_spans_behind_sentinels_and_the_target_restores_them():
    tokens = np.arange(10, 40)
    mask = random_spans_noise_mask(len(tokens), 0.15, 3.0, np.random.default_rng(1))
    source, target = corrupt(tokens, mask, SENTINELS, eos_token_id=1)
    assert source[-1] == 1 and target[-1] == 1
    restored, spans = [], dict()
    current = None
    for token in target[:-1]:  # sentinel, its tokens, next sentinel, ...
        if token in SENTINELS:
            current = token
            spans[current] = []
        else:
            spans[current].append(token)
    for token in source[:-1]:
        restored.extend(spans[token] if token in SENTINELS else [token])
    assert restored == tokens.tolist()


def test_chunk_length_gives_exactly_the_requested_input_length():
    tokens_length, targets_length = input_and_target_lengths(128)
    collator = SpanCorruptionCollator(SENTINELS, eos_token_id=1, pad_token_id=0)
    batch = collator([{"input_ids": list(range(10, 10 + tokens_length))} for _ in range(3)])
    assert batch["input_ids"].shape == (3, 128)
    assert batch["labels"].shape == (3, targets_length)
    with pytest.raises(ValueError, match="noise_density"):
        SpanCorruptionCollator(SENTINELS, 1, 0, noise_density=1.5)


def test_the_trained_tokenizer_is_a_t5_tokenizer_with_every_label_whole():
    tokenizer = AutoTokenizer.from_pretrained(tiny_t5_folder())
    labels = debtags().vocabulary.labels
    assert whole_label_share(tokenizer, labels) == 1.0
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)
    assert tokenizer.convert_tokens_to_ids("<extra_id_0>") != tokenizer.unk_token_id
    ids = tokenizer("role::program ; interface::x11").input_ids
    assert tokenizer.convert_ids_to_tokens(ids) == ["▁role::program", "▁;", "▁interface::x11", "</s>"]


def test_budgeted_pretraining_lowers_the_held_out_loss_and_saves_a_t5_folder(tmp_path):
    args = T5PretrainingArguments(
        output_dir=str(tmp_path / "t5"), max_texts=200, vocab_size=300, d_model=32, d_ff=64, num_layers=2,
        num_heads=2, inputs_length=48, batch_size=16, learning_rate=3e-3, minutes=0.15, eval_chunks=16,
    )  # fmt: skip
    report = pretrain_t5(args)
    assert report["steps"] >= 5 and report["budget"]["train_seconds"] < 0.15 * 60 + 5
    assert report["eval_loss_after"] < report["eval_loss_before"] - 0.5
    model = T5ForConditionalGeneration.from_pretrained(tmp_path / "t5")
    assert model.config.vocab_size == len(AutoTokenizer.from_pretrained(tmp_path / "t5"))
    saved = json.loads((tmp_path / "t5" / "pretraining.json").read_text())
    assert saved["eval_loss_after"] == pytest.approx(report["eval_loss_after"])


def test_the_command_line_rejects_a_bad_budget(capsys):
    assert cli_main(["pretrain-t5", "--minutes", "0", "--output_dir", "unused"]) == 2
    assert "--minutes" in capsys.readouterr().err
