"""Batching XMC examples (`text` + `labels` columns of `hf_xmc.data` datasets) for the APLC models."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from ..data.errors import XMCInputError

LABEL_FORMATS = ("ids", "multi_hot")
LABEL_PAD_ID = -1
TOKENIZER_COLUMNS = ("input_ids", "attention_mask", "token_type_ids")


class XMCDataCollator:
    """Tokenises (or pads already tokenised) examples and turns their label ids into a tensor.

    Args:
        tokenizer (`PreTrainedTokenizerBase`): the model's tokenizer; its `pad_token_id` is used for padding.
        num_labels (`int`): size of the label space; every label id must be in `[0, num_labels)`.
        max_length (`int`, defaults to 128): truncation length in tokens (special tokens included).
        label_format (`str`, defaults to `"ids"`): `"ids"` gives `(batch, max_labels_in_batch)` int64 ids padded with
            -1 (what `AdaptiveProbabilisticLabelClusters` eats, memory independent of `num_labels`); `"multi_hot"`
            gives `(batch, num_labels)` float32.
        padding_side (`str`, *optional*): `"left"` or `"right"`; defaults to the tokenizer's own (XLNet's tokenizer
            pads on the left, which puts its `<cls>` last, where `XLNetWithAPLC` reads it).
        text_column (`str`, defaults to `"text"`), label_column (`str`, defaults to `"labels"`): column names.

    Examples without the label column (prediction) give a batch without `labels`.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        num_labels: int,
        max_length: int = 128,
        label_format: str = "ids",
        padding_side: str | None = None,
        text_column: str = "text",
        label_column: str = "labels",
    ):
        if label_format not in LABEL_FORMATS:
            raise ValueError(f"label_format must be one of {LABEL_FORMATS}, got {label_format!r}")
        padding_side = padding_side or tokenizer.padding_side
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
        if tokenizer.pad_token_id is None:
            raise ValueError(f"{type(tokenizer).__name__} has no pad token: set `tokenizer.pad_token` first")
        if num_labels < 1 or max_length < 2:
            raise ValueError(f"need num_labels >= 1 and max_length >= 2, got {num_labels} and {max_length}")
        self.tokenizer = tokenizer
        self.num_labels = num_labels
        self.max_length = max_length
        self.label_format = label_format
        self.padding_side = padding_side
        self.text_column = text_column
        self.label_column = label_column

    def encode_labels(self, label_lists: Sequence[Sequence[int]]) -> torch.Tensor:
        """Label id lists -> `(batch, max_labels)` ids padded with -1, or `(batch, num_labels)` multi-hot."""
        for row, ids in enumerate(label_lists):
            bad = [int(i) for i in ids if not 0 <= int(i) < self.num_labels]
            if bad:
                raise XMCInputError(
                    f"example {row} of the batch has label ids {bad[:5]} outside [0, {self.num_labels}): the data "
                    f"and the model disagree on the label space (model num_labels={self.num_labels})"
                )
        if self.label_format == "multi_hot":
            multi_hot = torch.zeros(len(label_lists), self.num_labels)
            for row, ids in enumerate(label_lists):
                multi_hot[row, list(ids)] = 1.0
            return multi_hot
        width = max((len(ids) for ids in label_lists), default=0)
        padded = torch.full((len(label_lists), max(width, 1)), LABEL_PAD_ID, dtype=torch.long)
        for row, ids in enumerate(label_lists):
            padded[row, : len(ids)] = torch.as_tensor(list(ids), dtype=torch.long)
        return padded

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if not features:
            raise ValueError("cannot collate an empty list of examples")
        if "input_ids" in features[0]:
            encoded = [{key: f[key] for key in TOKENIZER_COLUMNS if key in f} for f in features]
            batch = self.tokenizer.pad(encoded, padding=True, return_tensors="pt", padding_side=self.padding_side)
        elif self.text_column in features[0]:
            batch = self.tokenizer(
                [f[self.text_column] for f in features],
                truncation=True,
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
                padding_side=self.padding_side,
            )
        else:
            raise XMCInputError(
                f"examples need a {self.text_column!r} column or tokenised `input_ids`; got columns {sorted(features[0])}"
            )
        batch = dict(batch)
        if self.label_column in features[0]:
            batch["labels"] = self.encode_labels([f[self.label_column] for f in features])
        return batch
