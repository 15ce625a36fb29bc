"""Label generation: target order, the label codec (targets and parsing), the label trie, decoding strategies, label
scores, the decoding ensemble and the metrics of generated labels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from xlgen_fixtures import debtags, tiny_xlgen, train_examples

from hf_xmc.data import XMCInputError
from hf_xmc.generation import (
    DECODING_STRATEGIES,
    GenerationResult,
    LabelCodec,
    LabelTrie,
    LabelTrieLogitsProcessor,
    document_clusters,
    ensemble_generate,
    evaluate_generated_labels,
    generate_labels,
    join_generations,
    multi_hot_clusters,
    order_labels,
)
from hf_xmc.hub.inference import RankedLabel


# ------------------------------------------------------------------------------------------------ targets
def test_label_orders_follow_training_frequency():
    # vocabulary ids are frequency ranks: 0 is the most frequent label
    assert order_labels([7, 2, 9, 2], "frequency") == [2, 7, 9]
    assert order_labels([7, 2, 9], "inverse") == [9, 7, 2]
    assert order_labels([7, 2, 9], "given") == [7, 2, 9]
    rng = np.random.default_rng(0)
    shuffles = {tuple(order_labels(list(range(8)), "shuffle", rng)) for _ in range(5)}
    assert len(shuffles) > 1 and all(sorted(s) == list(range(8)) for s in shuffles)
    with pytest.raises(ValueError, match="shuffle"):
        order_labels([1, 2], "shuffle")
    with pytest.raises(ValueError, match="order"):
        order_labels([1, 2], "alphabet")


def test_document_clusters_most_populated_first():
    label_clusters = np.array([0, 1, 1, 2, 2, 2])
    assert document_clusters([0, 3, 4, 1], label_clusters) == [2, 0, 1]  # cluster 2 holds two, ties by id
    assert document_clusters([], label_clusters) == []
    assert multi_hot_clusters([0, 3], label_clusters, 3).tolist() == [1.0, 0.0, 1.0]


# -------------------------------------------------------------------------------------------------- codec
@pytest.fixture(scope="module")
def base():
    return tiny_xlgen("base")


def test_targets_join_labels_with_the_separator_and_end_with_one_eos(base):
    _, tokenizer, _, codec, _ = base
    target = codec.target_ids([0, 5, 9])
    assert target.count(tokenizer.eos_token_id) == 1 and target[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(target, skip_special_tokens=True).split(" ; ") == [codec.labels[i] for i in (0, 5, 9)]
    # too long: whole labels only, still one EOS
    short = codec.target_ids(list(range(50)), max_length=8)
    assert len(short) <= 8 and short[-1] == tokenizer.eos_token_id
    assert [label.label_id for label in codec.parse(short)] == list(range(len(codec.parse(short))))


def test_parse_maps_generations_back_to_ids_and_keeps_new_labels_apart(base):
    _, tokenizer, _, codec, _ = base
    target = codec.target_ids([3, 1])
    parsed = codec.parse(target, [-0.5] * len(target))
    assert [(label.label_id, label.seen) for label in parsed] == [(3, True), (1, True)]
    assert parsed[0].score == pytest.approx(-0.5 * len(codec.label_token_ids[3]))
    new = tokenizer("role::program ; totally-new::label ; role::program", add_special_tokens=False)["input_ids"]
    parsed = codec.parse(new + [tokenizer.eos_token_id])
    assert [label.label for label in parsed] == ["role::program", "totally-new::label"]  # the repeat is dropped
    assert [label.seen for label in parsed] == [True, False] and parsed[1].label_id is None
    assert codec.parse([tokenizer.eos_token_id]) == []  # a generation that parses to nothing: no labels


def test_bad_label_vocabularies_are_rejected(base):
    _, tokenizer, _, _, _ = base
    with pytest.raises(XMCInputError, match="separator"):
        LabelCodec(tokenizer, ["a;b", "c"])
    with pytest.raises(XMCInputError, match="empty"):
        LabelCodec(tokenizer, ["a", " "])
    with pytest.raises(ValueError, match="label_separator"):
        LabelCodec(tokenizer, ["a"], separator=" ")


# --------------------------------------------------------------------------------------------------- trie
def test_trie_allows_only_label_continuations_then_separator_or_eos():
    trie = LabelTrie([(5, 6), (5, 7, 8), (9,)])
    processor = LabelTrieLogitsProcessor(trie, separator_ids=[3], eos_token_id=1, pad_token_id=0)
    assert sorted(processor.allowed_tokens(())) == [5, 9]
    assert sorted(processor.allowed_tokens((5,))) == [6, 7]
    assert sorted(processor.allowed_tokens((5, 6))) == [1, 3]  # label complete: separator or EOS
    assert sorted(processor.allowed_tokens((5, 6, 3))) == [5, 9]  # a new label
    assert sorted(processor.allowed_tokens((9, 3, 9))) == [1, 3]  # a repeat with no way on: EOS allowed
    scores = processor(torch.tensor([[0, 5]]), torch.zeros(1, 12))
    assert torch.isfinite(scores[0]).nonzero().flatten().tolist() == [6, 7]


@pytest.mark.parametrize("strategy", ["greedy", "beam", "top_k_p"])
def test_constrained_decoding_generates_only_vocabulary_labels(base, strategy):
    model, tokenizer, _, codec, _ = base
    texts = [example["text"] for example in train_examples(4)]
    result = generate_labels(model, tokenizer, codec, texts, strategy=strategy, constrained=True, max_new_tokens=16)
    labels = [label for row in result.labels for label in row]
    assert labels and all(label.seen and label.label_id is not None for label in labels)


def test_label_score_is_the_sum_of_the_labels_token_log_probabilities(base):
    model, tokenizer, tokens, codec, _ = base
    text = train_examples(1)[0]["text"]
    result = generate_labels(model, tokenizer, codec, [text], strategy="greedy", constrained=True, max_new_tokens=8)
    label = result.labels[0][0]
    # teacher-forced: the log-probability of the label's tokens at the start of the sequence
    label_tokens = list(codec.label_token_ids[label.label_id])
    input_ids = torch.tensor([tokens.encode_texts(tokenizer, [text], 256)[0]])
    decoder_input_ids = torch.tensor([[model.config.decoder_start_token_id, *label_tokens[:-1]]])
    with torch.no_grad():
        log_probs = model(input_ids=input_ids, decoder_input_ids=decoder_input_ids).logits.log_softmax(-1)[0]
    expected = sum(log_probs[position, token].item() for position, token in enumerate(label_tokens))
    assert label.score == pytest.approx(expected, abs=1e-4)


def test_every_decoding_strategy_runs_and_the_ensemble_joins_them(base):
    model, tokenizer, _, codec, _ = base
    texts = [example["text"] for example in train_examples(3)]
    for strategy in DECODING_STRATEGIES:
        result = generate_labels(model, tokenizer, codec, texts, strategy=strategy, constrained=True, max_new_tokens=8)
        assert len(result.labels) == 3 and result.strategies == [strategy]
    union = ensemble_generate(model, tokenizer, codec, texts, join="union", constrained=True, max_new_tokens=8)
    inter = ensemble_generate(model, tokenizer, codec, texts, join="intersection", constrained=True, max_new_tokens=8)
    assert union.strategies == ["beam", "top_k_p", "temperature"]
    for union_row, inter_row in zip(union.labels, inter.labels):
        assert {label.label_id for label in inter_row} <= {label.label_id for label in union_row}
    with pytest.raises(ValueError, match="decoding"):
        generate_labels(model, tokenizer, codec, texts, strategy="nucleus")


def test_join_keeps_each_labels_best_score():
    first = GenerationResult([[RankedLabel("a", -2.0, 0, seen=True), RankedLabel("x", -1.0, None, seen=False)]])
    second = GenerationResult([[RankedLabel("a", -0.5, 0, seen=True), RankedLabel("b", -3.0, 1, seen=True)]])
    union = join_generations([first, second], "union").labels[0]
    assert [(label.label, label.score) for label in union] == [("a", -0.5), ("x", -1.0), ("b", -3.0)]
    assert [label.label for label in join_generations([first, second], "intersection").labels[0]] == ["a"]
    with pytest.raises(ValueError, match="ensemble_join"):
        join_generations([first], "outer")


# ------------------------------------------------------------------------------------------------ metrics
def test_generated_label_metrics_count_new_and_missing_labels_as_misses():
    vocabulary = debtags().vocabulary
    generated = [
        [RankedLabel("x", -0.1, 0, seen=True), RankedLabel("brand-new", -0.05, None, seen=False)],
        [],  # parsed to nothing
    ]
    metrics = evaluate_generated_labels(generated, [[0, 1], [2]], vocabulary, k=(1, 2))
    assert metrics["micro_precision"] == pytest.approx(1 / 2)  # the new label is a false positive
    assert metrics["micro_recall"] == pytest.approx(1 / 3)
    assert metrics["P@1"] == pytest.approx(0.0)  # by score the new label comes first: a miss
    assert metrics["P@2"] == pytest.approx((1 / 2 + 0) / 2)  # the empty document's slots are misses
    assert metrics["valid_share"] == pytest.approx(0.5) and metrics["empty_share"] == pytest.approx(0.5)
    assert metrics["num_new_labels"] == 1
    assert not math.isnan(metrics["PSP@1_norm"])
