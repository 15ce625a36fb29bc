"""`GUDNDataCollator`: each document's label texts for the guide network, with label reinforcement (§3.5)."""

from __future__ import annotations

import logging

import pytest
import torch
from tiny_checkpoints import tiny_bert_tokenizer

from hf_xmc.data import LabelVocabulary, XMCInputError
from hf_xmc.training.gudn_collator import GUDNDataCollator

LABEL_TEXTS = ["python library", "web server", "game", "sound editor", "math science tool"]


def collator(**kwargs) -> GUDNDataCollator:
    kwargs.setdefault("max_length", 16)
    kwargs.setdefault("max_label_length", 12)
    return GUDNDataCollator(tiny_bert_tokenizer(), LABEL_TEXTS, **kwargs)


def words(collate: GUDNDataCollator, ids: torch.Tensor) -> list[str]:
    return collate.tokenizer.convert_ids_to_tokens(ids.tolist())


EXAMPLES = [{"text": "a python library for the web", "labels": [0, 1]}, {"text": "a game", "labels": [2]}]


def test_ordered_fill_repeats_the_label_sequence_to_the_length():
    collate = collator(reinforcement="ordered")
    batch = collate(EXAMPLES)
    assert batch["guide_input_ids"].shape == (2, 12) and bool(batch["guide_attention_mask"].all())
    assert words(collate, batch["guide_input_ids"][0]) == [
        "[CLS]", "python", "library", "web", "server", "python", "library", "web", "server", "python", "library",
        "[SEP]",
    ]  # fmt: skip
    assert words(collate, batch["guide_input_ids"][1])[1:-1] == ["game"] * 10
    assert batch["guide_mask"].tolist() == [1.0, 1.0]
    assert batch["labels"].tolist() == [[0, 1], [2, -1]] and batch["input_ids"].shape[0] == 2


def test_no_reinforcement_pads_the_label_sequence():
    collate = collator(reinforcement="none")
    batch = collate(EXAMPLES)
    assert words(collate, batch["guide_input_ids"][0][:6]) == ["[CLS]", "python", "library", "web", "server", "[SEP]"]
    assert batch["guide_attention_mask"].sum(1).tolist() == [6, 3]


def test_disordered_fill_starts_with_the_labels_then_appends_seeded_shuffles():
    example = [{"text": "t", "labels": [0, 1, 2, 3, 4]}]
    first = collator(reinforcement="disordered", seed=1, max_label_length=64)
    sequence = words(first, first(example)["guide_input_ids"][0])[1:-1]
    in_order = "python library web server game sound editor math science tool".split()
    assert sequence[:10] == in_order and sorted(sequence[10:20]) == sorted(in_order)
    draws = [first(example)["guide_input_ids"] for _ in range(6)]
    assert any(not torch.equal(draws[0], draw) for draw in draws[1:])  # a new shuffle per batch
    again = collator(reinforcement="disordered", seed=1, max_label_length=64)
    again(example)
    assert all(torch.equal(draw, again(example)["guide_input_ids"]) for draw in draws)  # the same seed, same stream
    other = collator(reinforcement="disordered", seed=2, max_label_length=64)
    other(example)
    assert not all(torch.equal(draw, other(example)["guide_input_ids"]) for draw in draws)


def test_documents_without_labels_get_no_guide_and_are_counted(caplog):
    collate = collator()
    with caplog.at_level(logging.WARNING):
        batch = collate([{"text": "a", "labels": []}, *EXAMPLES])
    assert batch["guide_mask"].tolist() == [0.0, 1.0, 1.0]
    assert collate.num_documents_without_labels == 1
    assert "has no label" in caplog.text


def test_long_label_texts_are_truncated_and_counted():
    texts = ["python " * 30, "web"]
    with pytest.warns(UserWarning, match="1 of 2 label texts are longer than max_label_length=8 tokens"):
        collate = GUDNDataCollator(tiny_bert_tokenizer(), texts, max_length=16, max_label_length=8)
    assert collate.num_truncated_label_texts == 1
    batch = collate([{"text": "a", "labels": [0, 1]}])
    assert batch["guide_input_ids"].shape == (1, 8) and collate.num_label_sequences_cut == 1


def test_label_texts_come_from_the_vocabulary_or_its_label_strings():
    with_texts = LabelVocabulary.from_label_lists([["b", "a"], ["b"]], texts={"a": "web server", "b": "game"})
    collate = GUDNDataCollator(tiny_bert_tokenizer(), with_texts, max_label_length=6, reinforcement="none")
    assert words(collate, collate([{"text": "x", "labels": [0]}])["guide_input_ids"][0])[1] == "game"
    without = LabelVocabulary.from_label_lists([["python"], ["web"]])
    with pytest.warns(UserWarning, match="has no label texts"):
        collate = GUDNDataCollator(tiny_bert_tokenizer(), without, max_label_length=6, reinforcement="none")
    assert words(collate, collate([{"text": "x", "labels": [1]}])["guide_input_ids"][0])[1] == "web"


def test_bad_input_is_explained():
    with pytest.raises(XMCInputError, match="label texts are empty"):
        GUDNDataCollator(tiny_bert_tokenizer(), ["web", " "])
    with pytest.raises(ValueError, match="reinforcement must be one of"):
        collator(reinforcement="shuffled")
    with pytest.raises(ValueError, match="leaves no room"):
        collator(max_label_length=2)
    with pytest.raises(XMCInputError, match="outside"):
        collator()([{"text": "a", "labels": [7]}])


def test_without_guides_it_batches_like_the_plain_collator():
    batch = collator(guides=False)(EXAMPLES)
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask", "labels"}
