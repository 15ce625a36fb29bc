"""Label-conditional masking (XDA §2.1): a document's labels and its text merged into one T5 input, a share of the
text's words hidden behind T5 sentinels, and the target that restores them.

The masks are T5's (`hf_xmc.t5_pretraining.random_spans_noise_mask`: `noise_density` of the words in spans of mean
`mean_span_length`, the first word never masked), applied to whitespace words so a fill is put back into the text as
words. The labels are the condition and are never masked (masking them would let the model rewrite its condition;
the reference code drops them altogether). Only `MAX_SENTINELS` = 100 sentinels exist: a source never uses more
(`XDACommonArguments` checks `--max_words` against it; the iterative fill re-masks at most `spans_per_round`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..data import XMCInputError
from ..t5_pretraining.span_corruption import random_spans_noise_mask
from .arguments import MAX_SENTINELS

LABEL_SEPARATOR = " ; "
CONDITION_SEPARATOR = " | "
SENTINEL = "<extra_id_{}>"


class DocumentTooShortError(XMCInputError):
    """A document with fewer than two words: no span can be masked (T5 never masks the first token)."""


@dataclass
class MaskedDocument:
    """One document with its masked word spans and their current fills.

    Args:
        words (`list[str]`): the document's words (cut to `max_words`).
        labels (`list[str]`): the label strings it is conditioned on.
        spans (`list[tuple[int, int]]`): masked word ranges `[start, end)`, in text order.
        fills (`list[str | None]`): each span's generated text (`None`: not generated yet).
    """

    words: list[str]
    labels: list[str]
    spans: list[tuple[int, int]]
    fills: list[str | None] = field(default_factory=list)
    empty_fills: int = 0

    def __post_init__(self):
        if not self.fills:
            self.fills = [None] * len(self.spans)

    def original(self, span: int) -> str:
        start, end = self.spans[span]
        return " ".join(self.words[start:end])

    def pending(self) -> list[int]:
        """Spans not filled yet."""
        return [index for index, fill in enumerate(self.fills) if fill is None]

    def text(self, masked: Sequence[int] = ()) -> str:
        """The text with `masked` spans as sentinels (numbered in text order), the other spans as filled so far (or
        as the original words when not filled yet)."""
        sentinel_of = {span: number for number, span in enumerate(sorted(masked))}
        pieces, position = [], 0
        for index, (start, end) in enumerate(self.spans):
            pieces.extend(self.words[position:start])
            if index in sentinel_of:
                pieces.append(SENTINEL.format(sentinel_of[index]))
            else:
                fill = self.fills[index]
                pieces.append(self.original(index) if fill is None else fill)
            position = end
        pieces.extend(self.words[position:])
        return " ".join(piece for piece in pieces if piece)

    def source(self, masked: Sequence[int]) -> str:
        """The T5 input: the labels, then the text with `masked` spans as sentinels."""
        if len(masked) > MAX_SENTINELS:
            raise ValueError(f"{len(masked)} spans masked at once, but T5 has only {MAX_SENTINELS} sentinels")
        return LABEL_SEPARATOR.join(self.labels) + CONDITION_SEPARATOR + self.text(masked)

    def target(self, masked: Sequence[int]) -> str:
        """The T5 target: each sentinel followed by the original words it hides."""
        return " ".join(
            f"{SENTINEL.format(number)} {self.original(span)}" for number, span in enumerate(sorted(masked))
        )

    def apply(self, masked: Sequence[int], fills: Sequence[str]) -> None:
        """Put generated fills in; an empty fill keeps the span's original words (counted in `empty_fills`)."""
        for span, fill in zip(sorted(masked), fills):
            fill = " ".join(fill.split())
            if not fill:
                self.empty_fills += 1
                fill = self.original(span)
            self.fills[span] = fill


def mask_document(
    text: str,
    labels: Sequence[str],
    max_words: int,
    noise_density: float,
    mean_span_length: float,
    rng: np.random.Generator,
) -> MaskedDocument:
    """Cut `text` to `max_words` words and mask T5-style spans of them.

    Raises:
        `DocumentTooShortError`: the document has fewer than two words.
    """
    words = text.split()[:max_words]
    if len(words) < 2:
        raise DocumentTooShortError(f"a document of {len(words)} word(s) is too short to mask: {text[:60]!r}")
    mask = random_spans_noise_mask(len(words), noise_density, mean_span_length, rng)
    starts = np.flatnonzero(mask & ~np.r_[False, mask[:-1]])
    ends = np.flatnonzero(mask & ~np.r_[mask[1:], False]) + 1
    spans = [(int(start), int(end)) for start, end in zip(starts, ends)]
    if len(spans) > MAX_SENTINELS:
        raise ValueError(f"{len(spans)} masked spans, but T5 has only {MAX_SENTINELS} sentinels: lower --max_words")
    return MaskedDocument(words, list(labels), spans)


def sentinel_ids(tokenizer) -> list[int]:
    """Token ids of `<extra_id_0..99>`; a `ValueError` when the tokenizer lacks them."""
    ids = tokenizer.convert_tokens_to_ids([SENTINEL.format(i) for i in range(MAX_SENTINELS)])
    if tokenizer.unk_token_id in ids or None in ids:
        raise ValueError("the T5 tokenizer has no <extra_id_0..99> sentinel tokens, which the masked fill needs")
    return ids


def split_fills(generated: Sequence[int], num_spans: int, sentinels: Sequence[int], tokenizer) -> list[str]:
    """The text generated after each of the first `num_spans` sentinels (`""` for one not generated).

    Args:
        generated (`Sequence[int]`): one generated sequence (decoder start token, EOS and padding allowed).
        num_spans (`int`): sentinels in the source.
        sentinels (`Sequence[int]`): `sentinel_ids(tokenizer)`.
    """
    number_of = {token: number for number, token in enumerate(sentinels)}
    pieces: list[list[int]] = [[] for _ in range(num_spans)]
    current = None
    for token in generated:
        if token == tokenizer.eos_token_id:
            break
        if token in number_of:
            current = number_of[token] if number_of[token] < num_spans else None
        elif current is not None and token != tokenizer.pad_token_id:
            pieces[current].append(int(token))
    return [tokenizer.decode(ids, skip_special_tokens=True).strip() for ids in pieces]


__all__ = [
    "CONDITION_SEPARATOR",
    "DocumentTooShortError",
    "LABEL_SEPARATOR",
    "MaskedDocument",
    "mask_document",
    "sentinel_ids",
    "split_fills",
]
