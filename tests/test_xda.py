"""XDA's parts: label-conditional masking, the PEFT prefix that generation keeps, the augmentation, the filter's
scores and their alignment, the masked augmentation loss and the frozen-encoder classifier training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from peft import PeftModel
from transformers import AutoTokenizer, T5ForConditionalGeneration
from xlgen_fixtures import debtags, tiny_t5_folder

from hf_xmc.data import LabelVocabulary, XMCInputError
from hf_xmc.xda import GenerateArguments, XDACommonArguments
from hf_xmc.xda.augment import augment_documents
from hf_xmc.xda.filtering import consistency_scores, diversity_scores, keep_top, min_max
from hf_xmc.xda.masked_loss import (
    MaskedAugmentationLoss,
    ReweightedAugmentationLoss,
    head_tail_split,
)
from hf_xmc.xda.masking import DocumentTooShortError, MaskedDocument, mask_document, sentinel_ids, split_fills
from hf_xmc.xda.prompt_tuning import (
    SpanFormat,
    add_prefix_adapter,
    decode,
    encode_pairs,
    load_prefix_model,
    train_prefix,
)

TEXT = "a small tool to convert audio files between many formats with a simple command line interface for users"


def _tiny_prefix_model(seed: int = 0, scale: float = 30.0):
    """A tiny T5 with a prefix large enough to change what it generates."""
    torch.manual_seed(seed)
    model = add_prefix_adapter(T5ForConditionalGeneration.from_pretrained(tiny_t5_folder()), num_virtual_tokens=4)
    with torch.no_grad():
        for parameter in model.prompt_encoder.parameters():
            parameter.mul_(scale)
    return model.eval()


def _sources(count: int = 3):
    train = debtags().splits["train"]
    labels = debtags().vocabulary.labels
    return [
        mask_document(text, [labels[i] for i in ids], 48, 0.15, 3.0, np.random.default_rng(index))
        for index, (text, ids) in enumerate(zip(train["text"][:count], train["labels"][:count]))
    ]


# ------------------------------------------------------------------------------------------------------- masking
def test_masked_source_and_target_restore_the_document_and_keep_the_labels_whole():
    document = mask_document(TEXT, ["sound::tool", "use::converting"], 64, 0.15, 3.0, np.random.default_rng(0))
    masked = range(len(document.spans))
    source, target = document.source(masked), document.target(masked)
    assert source.startswith("sound::tool ; use::converting | ")
    assert "<extra_id_0>" in source and f"<extra_id_{len(document.spans)}>" not in source
    # filling each sentinel with the target's words gives the original text back
    fills = [piece.split(">", 1)[1].strip() for piece in target.split("<extra_id_")[1:]]
    document.apply(list(masked), fills)
    assert document.text() == TEXT and document.empty_fills == 0
    assert 0 < sum(end - start for start, end in document.spans) < len(TEXT.split())


def test_empty_or_missing_fills_keep_the_original_words_and_are_counted():
    tokenizer = AutoTokenizer.from_pretrained(tiny_t5_folder())
    sentinels = sentinel_ids(tokenizer)
    word = tokenizer("tool", add_special_tokens=False).input_ids
    generated = [tokenizer.pad_token_id, sentinels[0], *word, sentinels[1], tokenizer.eos_token_id]
    assert split_fills(generated, 3, sentinels, tokenizer) == ["tool", "", ""]
    document = MaskedDocument(TEXT.split(), ["x"], [(1, 2), (4, 6), (8, 9)])
    document.apply([0, 1, 2], ["huge", "", "   "])
    assert document.empty_fills == 2
    assert document.text().split()[1] == "huge" and document.text().split()[4:6] == TEXT.split()[4:6]


def test_bad_input_is_refused_with_the_flag_named():
    with pytest.raises(DocumentTooShortError, match="too short"):
        mask_document("one", ["x"], 64, 0.15, 3.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="100 sentinels"):  # more spans than T5 has sentinels
        XDACommonArguments(max_words=5000)
    with pytest.raises(ValueError, match="spans_per_round"):
        GenerateArguments(spans_per_round=101)
    with pytest.raises(ValueError, match="N_a"):
        GenerateArguments(num_augmentations=0)
    with pytest.raises(ValueError, match="100 sentinels"):
        MaskedDocument(TEXT.split(), ["x"], [(i, i + 1) for i in range(101)]).source(range(101))


# ------------------------------------------------------------------------------------------------ prompt tuning
def test_generation_keeps_the_prefix_and_equals_teacher_forced_decoding():
    tokenizer = AutoTokenizer.from_pretrained(tiny_t5_folder())
    model = _tiny_prefix_model()
    documents = _sources()
    batch = encode_pairs(tokenizer, [d.source(range(len(d.spans))) for d in documents], None, 128, 1)
    with_prefix = decode(model, batch["input_ids"], batch["attention_mask"], 12)
    without = decode(model.get_base_model(), batch["input_ids"], batch["attention_mask"], 12)
    assert not torch.equal(with_prefix, without)
    with torch.no_grad():  # teacher forcing through PeftModel.forward (which applies the prefix) picks the same tokens
        logits = model(**batch, decoder_input_ids=with_prefix[:, :-1]).logits
    finished = torch.cumsum(with_prefix[:, :-1] == tokenizer.eos_token_id, 1) > 0
    agree = (logits.argmax(-1) == with_prefix[:, 1:]) | finished
    assert bool(agree.all())


def test_prefix_tuning_trains_only_the_prefix_and_lowers_the_fill_loss(tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_t5_folder())
    model = _tiny_prefix_model(scale=1.0)
    base_before = {k: v.clone() for k, v in model.get_base_model().state_dict().items()}
    train = debtags().splits["train"].select(range(60))
    labels = debtags().vocabulary.labels
    report = train_prefix(
        model, tokenizer, train["text"], [[labels[i] for i in ids] for ids in train["labels"]], max_words=32,
        noise_density=0.15, mean_span_length=3.0, minutes=1.0, epochs=4, batch_size=8, learning_rate=0.3,
        max_source_length=96, max_target_length=32, eval_documents=12, progress=False,
    )  # fmt: skip
    assert report["eval_loss_after"] < report["eval_loss_before"]
    for name, value in model.get_base_model().state_dict().items():
        assert torch.equal(value, base_before[name]), f"{name} changed: the T5 must stay frozen"
    # a normal PEFT adapter: PeftModel.from_pretrained on the base T5 gives the same generations
    model.save_pretrained(tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    reloaded = PeftModel.from_pretrained(T5ForConditionalGeneration.from_pretrained(tiny_t5_folder()),
                                         tmp_path / "adapter").eval()  # fmt: skip
    batch = encode_pairs(tokenizer, [d.source(range(len(d.spans))) for d in _sources()], None, 128, 1)
    model.eval()
    expected = decode(model, batch["input_ids"], batch["attention_mask"], 10)
    assert torch.equal(decode(reloaded, batch["input_ids"], batch["attention_mask"], 10), expected)
    via_helper = load_prefix_model(str(tmp_path / "adapter"), str(tiny_t5_folder()))
    assert torch.equal(decode(via_helper, batch["input_ids"], batch["attention_mask"], 10), expected)


def test_the_span_format_gives_every_span_a_fill_in_sentinel_order():
    tokenizer = AutoTokenizer.from_pretrained(tiny_t5_folder())
    sentinels = sentinel_ids(tokenizer)
    documents = _sources()
    batch = encode_pairs(tokenizer, [d.source(range(len(d.spans))) for d in documents], None, 128, 1)
    num_spans = torch.tensor([len(d.spans) for d in documents])
    span_format = SpanFormat(num_spans, sentinels, tokenizer.eos_token_id, tokenizer.pad_token_id, max_span_tokens=3)
    sequences = decode(_tiny_prefix_model(), batch["input_ids"], batch["attention_mask"], 60, span_format=span_format)
    for generated, count in zip(sequences.tolist(), num_spans.tolist()):
        opened = [token for token in generated if token in sentinels]
        assert opened == sentinels[:count] and tokenizer.eos_token_id in generated
        fills = split_fills(generated, count, sentinels, tokenizer)
        assert all(fills) and len(fills) == count

    def repeats(sequences):  # repeated tokens before EOS
        rows = [row[: row.index(tokenizer.eos_token_id)] if tokenizer.eos_token_id in row else row
                for row in sequences.tolist()]  # fmt: skip
        return sum(len(row) - len(set(row)) for row in rows)

    plain = decode(_tiny_prefix_model(), batch["input_ids"], batch["attention_mask"], 30)
    penalised = decode(_tiny_prefix_model(), batch["input_ids"], batch["attention_mask"], 30, repetition_penalty=50.0)
    assert repeats(penalised) < repeats(plain)  # CTRL's penalty (the reference code generates with 2.5)


# -------------------------------------------------------------------------------------------------- augmentation
def test_augmentation_makes_n_a_copies_per_source_in_document_major_order_and_counts_the_rest():
    tokenizer = AutoTokenizer.from_pretrained(tiny_t5_folder())
    train = debtags().splits["train"].select(range(6))
    texts, label_ids = list(train["text"]), [list(ids) for ids in train["labels"]]
    texts[1] = "tiny"  # too short to mask
    label_ids[2] = []  # nothing to condition on
    columns, report = augment_documents(
        _tiny_prefix_model(), tokenizer, [10, 11, 12, 13, 14, 15], texts, label_ids, debtags().vocabulary.labels,
        num_augmentations=2, max_words=40, noise_density=0.15, mean_span_length=3.0, spans_per_round=2,
        max_new_tokens=12, batch_size=4, progress=False,
    )  # fmt: skip
    assert columns["source_id"] == [10, 10, 13, 13, 14, 14, 15, 15]
    assert columns["id"][:3] == ["10-0", "10-1", "13-0"] and columns["copy"][:2] == [0, 1]
    assert columns["labels"][0] == label_ids[0] and columns["labels"][2] == label_ids[3]
    assert (report["too_short"], report["no_labels"], report["generated"]) == (1, 1, 8)
    assert report["too_short_source_ids"] == [11] and report["no_labels_source_ids"] == [12]
    assert report["rounds"] >= 2  # more spans than spans_per_round: filled over several rounds
    assert all(len(text.split()) > 10 for text in columns["text"])


# ------------------------------------------------------------------------------------------------------ filter
def test_diversity_is_the_kl_to_the_gold_distribution_or_the_bce_sum():
    ids = np.array([[0, 1, 2], [2, 1, 0]])
    probabilities = np.array([[0.9, 0.9, 0.1], [0.9, 0.5, 0.1]], dtype=np.float32)
    gold = [[0, 1], [0, 1]]
    kl = diversity_scores(ids, probabilities, gold, num_labels=3, kind="kl", eps=1e-6)
    p = np.array([0.9, 0.9, 0.1]) / 1.9
    q = (np.array([1, 1, 0]) + 1e-6) / (2 + 3e-6)
    assert kl[0] == pytest.approx(np.sum(p * np.log(p / q)), rel=1e-5)
    assert kl[1] > kl[0]  # the second document's scores put mass on a label outside y: more diverse
    bce = diversity_scores(ids, probabilities, gold, num_labels=3, kind="bce_sum")
    assert bce[0] == pytest.approx(-2 * np.log(0.9) - np.log(0.9), rel=1e-5)


def test_consistency_is_the_top_k_overlap_with_k_the_number_of_gold_labels():
    augmented = np.array([[3, 1, 2, 0], [0, 1, 2, 3]])
    source = np.array([[1, 3, 0, 2], [0, 2, 1, 3]])
    assert consistency_scores(augmented, source, [2, 1]).tolist() == [1.0, 1.0]
    assert consistency_scores(augmented, source, [1, 2]).tolist() == [0.0, 0.5]
    with pytest.raises(ValueError, match="scorer_top_k"):
        consistency_scores(augmented, source, [5, 1])


def test_scores_are_min_max_normalised_summed_and_the_top_fifth_kept():
    div, con = np.array([0.0, 1.0, 2.0, 3.0, 4.0]), np.array([1.0, 1.0, 0.0, 0.5, 1.0])
    score = min_max(div) + min_max(con)
    assert score.tolist() == [1.0, 1.25, 0.5, 1.25, 2.0]  # element-wise, not a concatenation
    kept, threshold = keep_top(score, 0.2)
    assert kept.tolist() == [False, False, False, False, True] and threshold == pytest.approx(1.4)
    assert min_max(np.ones(3)).tolist() == [0.0, 0.0, 0.0]


# ------------------------------------------------------------------------------------------------- masked loss
def test_head_tail_split_by_n_t_and_its_degenerate_thresholds():
    counts = np.array([100, 60, 49, 3, 0])
    assert head_tail_split(counts, 50).tolist() == [False, False, True, True, True]
    with pytest.raises(ValueError, match="larger than every label's count"):
        head_tail_split(counts, 1000)
    with pytest.raises(ValueError, match="no label has fewer"):
        head_tail_split(np.array([10, 20]), 5)


def test_eq4_masks_head_positives_but_keeps_every_negative():
    tail = torch.tensor([False, False, True, True])
    logits = torch.zeros(1, 4, requires_grad=True)
    targets = torch.tensor(
        [[1.0, 0.0, 1.0, 0.0]]
    )  # a head positive, a head negative, a tail positive, a tail negative
    MaskedAugmentationLoss(tail)(logits, targets).backward()
    gradient = logits.grad[0].tolist()
    assert gradient[0] == 0.0  # the head positive is masked
    assert gradient[1] > 0 and gradient[3] > 0  # negatives push down
    assert gradient[2] < 0  # the tail positive pulls up
    weights = ReweightedAugmentationLoss(np.array([100, 10, 1, 0])).weights
    assert float(weights.mean()) == pytest.approx(1.0) and weights[0] < weights[1] < weights[2] < weights[3]


def test_a_scorer_on_another_label_space_is_refused():
    from hf_xmc.xda.filtering import LabelScorer

    class Checkpoint:
        source, method = "somewhere", "aplc"
        vocabulary = LabelVocabulary.from_label_lists([["a", "b"], ["a"]])

    scorer = LabelScorer(Checkpoint())
    scorer.check_label_space(LabelVocabulary.from_label_lists([["b", "a"], ["a"]]))
    with pytest.raises(XMCInputError, match="another label space"):
        scorer.check_label_space(LabelVocabulary.from_label_lists([["a", "c"], ["a"]]))
    with pytest.raises(XMCInputError, match="another id order"):
        scorer.check_label_space(LabelVocabulary.from_label_lists([["b", "a"], ["b"]]))
