"""A T5 tokenizer (SentencePiece Unigram) trained with `tokenizers` on a data set's texts and label strings.

The result is an ordinary `T5Tokenizer` (`<pad>`=0, `</s>`=1, `<unk>`=2, the Unigram pieces, then the 100 sentinels
`<extra_id_0..99>`) with T5's pre-tokenisation (whitespace split, `▁` prefix), so everything downstream treats it as
it would treat `t5-base`'s. Label strings are kept whole where possible: each label (most frequent first, up to
`max_whole_labels`) that the trained vocabulary would split becomes a piece of its own, scored as high as the best
trained piece, so Viterbi segmentation always prefers it to any split (one piece of score s >= any two pieces'
scores, all negative). A generated label is then often one decoding step.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import T5Tokenizer

SPECIAL_TOKENS = ("<pad>", "</s>", "<unk>")
SPACE = "▁"
LABELS_PER_LINE = 32


def _corpus(texts: Iterable[str], label_strings: Sequence[str], separator: str) -> Iterator[str]:
    yield from texts
    # label lines, so the label strings and the separator are part of the training corpus
    for start in range(0, len(label_strings), LABELS_PER_LINE):
        yield f" {separator} ".join(label_strings[start : start + LABELS_PER_LINE])


def train_t5_tokenizer(
    texts: Iterable[str],
    label_strings: Sequence[str] = (),
    vocab_size: int = 8000,
    label_separator: str = ";",
    max_whole_labels: int | None = 10_000,
    extra_ids: int = 100,
    show_progress: bool = False,
) -> T5Tokenizer:
    """Train a T5 Unigram tokenizer.

    Args:
        texts (`Iterable[str]`): the training texts (e.g. the training split's documents).
        label_strings (`Sequence[str]`): the label vocabulary, most frequent first (`LabelVocabulary.labels`).
        vocab_size (`int`): pieces learnt by the Unigram trainer (the 3 special tokens included); whole-label pieces
            and the sentinels come on top.
        label_separator (`str`): XLGen's separator, kept as a piece of its own.
        max_whole_labels (`int`, *optional*): at most this many labels become whole pieces (`None`: all, `0`: none).
        extra_ids (`int`): sentinel tokens for span corruption (T5: 100).
        show_progress (`bool`): the trainer's progress bar.

    Returns:
        `T5Tokenizer`: save it with `save_pretrained`.
    """
    if vocab_size < 100:
        raise ValueError(f"--vocab_size must be at least 100, got {vocab_size}")
    label_strings = [label for label in label_strings if label.strip()]
    longest_label = max((len(label) for label in label_strings), default=0)
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement=SPACE, prepend_scheme="always")]
    )
    tokenizer.decoder = decoders.Metaspace(replacement=SPACE, prepend_scheme="always")
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        unk_token="<unk>",
        max_piece_length=max(16, min(longest_label + 1, 64)),
        show_progress=show_progress,
    )
    tokenizer.train_from_iterator(_corpus(texts, label_strings, label_separator), trainer=trainer)
    vocab = [(piece, float(score)) for piece, score in json.loads(tokenizer.to_str())["model"]["vocab"]]
    if [piece for piece, _ in vocab[: len(SPECIAL_TOKENS)]] != list(SPECIAL_TOKENS):
        raise RuntimeError(f"the Unigram trainer did not put {SPECIAL_TOKENS} first: {vocab[:3]}")
    pieces = {piece for piece, _ in vocab}
    best_score = max(score for piece, score in vocab[len(SPECIAL_TOKENS) :])
    wanted = [label_separator.strip()]
    if max_whole_labels is None or max_whole_labels > 0:
        wanted += list(label_strings[:max_whole_labels])
    for string in wanted:
        for word in string.split():  # a label with spaces: keep each of its words whole
            piece = SPACE + word
            if piece not in pieces:
                vocab.append((piece, best_score))
                pieces.add(piece)
    return T5Tokenizer(vocab=vocab, extra_ids=extra_ids)


def whole_label_share(tokenizer, label_strings: Sequence[str]) -> float:
    """Share of labels that the tokenizer encodes as a single token."""
    if not label_strings:
        return float("nan")
    encoded = tokenizer(list(label_strings), add_special_tokens=False)["input_ids"]
    return sum(len(ids) == 1 for ids in encoded) / len(encoded)


__all__ = ["train_t5_tokenizer", "whole_label_share"]
