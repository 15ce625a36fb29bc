"""Batching for GUDN: the document batch of `XMCDataCollator` plus each document's label texts, reinforced (§3.5).

The guide network reads, for every training document, the texts of its labels as one sequence (the labels' texts one
after the other, as the reference code's `" ".join(label_names)`). Label reinforcement fills that short sequence up
to the maximum length instead of padding it:

- `"ordered"`: the label sequence is repeated, in the same order, until the length is reached;
- `"disordered"`: the original sequence, then copies with the labels shuffled (seeded), until the length is reached;
- `"none"`: the sequence once (the paper's baseline of Fig. 5).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from ..data.errors import XMCInputError
from ..data.vocabulary import LabelVocabulary
from .collators import XMCDataCollator

logger = logging.getLogger(__name__)

REINFORCEMENT_MODES = ("none", "ordered", "disordered")


def resolve_label_texts(label_texts: LabelVocabulary | Sequence[str]) -> list[str]:
    """The text of every label: the vocabulary's `texts` (LF `title`s), the label string where a label has none.

    Warns once when the format has no label text at all, or when some labels have an empty one.
    """
    if isinstance(label_texts, LabelVocabulary):
        if label_texts.texts is None:
            warnings.warn(
                "the label vocabulary has no label texts (the data format has none): GUDN reads the label strings "
                "themselves as label texts, which helps only where they are words",
                stacklevel=3,
            )
            return list(label_texts.labels)
        texts = [
            text if text and text.strip() else label for text, label in zip(label_texts.texts, label_texts.labels)
        ]
        missing = sum(1 for text in label_texts.texts if not (text and text.strip()))
        if missing:
            warnings.warn(
                f"{missing} labels have an empty label text: their label strings are used instead", stacklevel=3
            )
        return texts
    texts = [str(text) for text in label_texts]
    if not texts:
        raise XMCInputError("no label texts given: GUDN needs one text per label")
    empty = [index for index, text in enumerate(texts) if not text.strip()]
    if empty:
        raise XMCInputError(
            f"{len(empty)} label texts are empty (label ids {empty[:5]}): give every label a text, or pass the "
            "LabelVocabulary (its label strings stand in for missing texts)"
        )
    return texts


def special_token_frame(tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[int]]:
    """The special tokens the tokenizer puts before and after one sequence (`[CLS]`/`[SEP]` for BERT)."""
    probe = "label"
    framed = tokenizer(probe)["input_ids"]
    bare = tokenizer(probe, add_special_tokens=False)["input_ids"]
    for start in range(len(framed) - len(bare) + 1):
        if framed[start : start + len(bare)] == bare:
            return framed[:start], framed[start + len(bare) :]
    raise ValueError(f"cannot find where {type(tokenizer).__name__} places its special tokens")


class GUDNDataCollator(XMCDataCollator):
    """`XMCDataCollator` + `guide_input_ids`/`guide_attention_mask`/`guide_mask`: each document's label texts.

    Args:
        tokenizer (`PreTrainedTokenizerBase`): the model's tokenizer (texts and label texts share the encoder).
        label_texts (`LabelVocabulary` or `list[str]`): the text of every label id (a vocabulary without texts falls
            back to its label strings, with one warning).
        max_length (`int`, defaults to 128): tokens per document.
        max_label_length (`int`, *optional*): tokens of the label-text sequence (special tokens included); default
            `max_length`. The paper fills to 512.
        reinforcement (`str`, defaults to `"disordered"`): `"none"`, `"ordered"` or `"disordered"` (see above).
        seed (`int`, defaults to 0): seed of the disordered fill's shuffles.
        guides (`bool`, defaults to `True`): add the label texts; `False` batches as `XMCDataCollator` (a model
            whose guide losses are off, or evaluation).
        kwargs: other `XMCDataCollator` arguments (`label_format`, `padding_side`, column names).

    Label texts longer than the label sequence are truncated (counted in `num_truncated_label_texts`, one warning);
    documents without labels get no guide (`guide_mask` 0, counted in `num_documents_without_labels`).
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        label_texts: LabelVocabulary | Sequence[str],
        max_length: int = 128,
        max_label_length: int | None = None,
        reinforcement: str = "disordered",
        seed: int = 0,
        guides: bool = True,
        **kwargs,
    ):
        if reinforcement not in REINFORCEMENT_MODES:
            raise ValueError(f"reinforcement must be one of {REINFORCEMENT_MODES}, got {reinforcement!r}")
        texts = resolve_label_texts(label_texts)
        super().__init__(tokenizer, num_labels=len(texts), max_length=max_length, **kwargs)
        self.max_label_length = max_length if max_label_length is None else max_label_length
        self.prefix_ids, self.suffix_ids = special_token_frame(tokenizer)
        self.num_special_tokens = len(self.prefix_ids) + len(self.suffix_ids)
        self.label_budget = self.max_label_length - self.num_special_tokens
        if self.label_budget < 1:
            raise ValueError(
                f"max_label_length={self.max_label_length} leaves no room for label text next to the "
                f"{self.num_special_tokens} special tokens"
            )
        self.reinforcement = reinforcement
        self.seed = seed
        self.guides = guides
        self.rng = np.random.default_rng(seed)
        self.label_tokens = tokenizer(texts, add_special_tokens=False, return_attention_mask=False)["input_ids"]
        self.num_truncated_label_texts = sum(len(tokens) > self.label_budget for tokens in self.label_tokens)
        if self.num_truncated_label_texts:
            warnings.warn(
                f"{self.num_truncated_label_texts} of {len(texts)} label texts are longer than max_label_length="
                f"{self.max_label_length} tokens and are truncated",
                stacklevel=2,
            )
            self.label_tokens = [tokens[: self.label_budget] for tokens in self.label_tokens]
        self.num_documents_without_labels = 0
        self.num_label_sequences_cut = 0

    def label_sequence(self, label_ids: Sequence[int]) -> list[int]:
        """The reinforced label-text token ids of one document (no special tokens), at most `label_budget` long."""
        label_ids = [int(i) for i in label_ids]
        base = [token for label in label_ids for token in self.label_tokens[label]]
        if len(base) > self.label_budget:
            self.num_label_sequences_cut += 1
        if not base or self.reinforcement == "none" or len(base) >= self.label_budget:
            return base[: self.label_budget]
        tokens = list(base)
        while len(tokens) < self.label_budget:
            if self.reinforcement == "ordered":
                tokens.extend(base)
            else:
                order = self.rng.permutation(len(label_ids))
                tokens.extend(token for position in order for token in self.label_tokens[label_ids[position]])
        return tokens[: self.label_budget]

    def guide_batch(self, label_lists: Sequence[Sequence[int]]) -> dict[str, torch.Tensor]:
        """`guide_input_ids`, `guide_attention_mask` (and token types where the tokenizer has them), `guide_mask`."""
        encoded, has_labels = [], []
        for ids in label_lists:
            has_labels.append(len(ids) > 0)
            encoded.append({"input_ids": self.prefix_ids + self.label_sequence(ids) + self.suffix_ids})
        without = len(has_labels) - sum(has_labels)
        if without and not self.num_documents_without_labels:
            logger.warning(
                "a training document has no label: it trains the classifier (all labels negative) but is left out "
                "of the guide losses (more are counted in GUDNDataCollator.num_documents_without_labels)"
            )
        self.num_documents_without_labels += without
        padded = self.tokenizer.pad(encoded, padding=True, return_tensors="pt", padding_side=self.padding_side)
        batch = {f"guide_{key}": value for key, value in padded.items() if key in ("input_ids", "attention_mask")}
        batch["guide_mask"] = torch.tensor(has_labels, dtype=torch.float32)
        return batch

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = super().__call__(features)
        if self.guides and "labels" in batch:
            label_lists = [list(f[self.label_column]) for f in features]
            batch.update(self.guide_batch(label_lists))
        return batch


__all__ = ["GUDNDataCollator", "REINFORCEMENT_MODES", "resolve_label_texts"]
