"""XLGen's data collator: encoder inputs, label-sequence targets and cluster targets for base / BCL / MCG batches.

Input features hold `input_ids` (`<MultiLabel> text </s>`, from `XLGenTokens.encode_texts`) and `labels` (the
document's vocabulary ids). Targets are `label SEP label ... </s>` with one EOS and pads at -100 (the reference code
trained on pads and ended with two EOS). The label order is applied here, so `"shuffle"` draws a new order every time
a document is batched, i.e. once per epoch. A document without labels gets the target `</s>` alone: it teaches the
model to stop at once (drop such documents first if that is not wanted).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .codec import LabelCodec
from .targets import check_label_order, document_clusters, multi_hot_clusters, order_labels
from .tokens import XLGenTokens

IGNORE_INDEX = -100


def pad_rows(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(row) for row in rows)
    return torch.tensor([row + [value] * (width - len(row)) for row in rows], dtype=torch.long)


@dataclass
class XLGenDataCollator:
    """Builds XLGen batches.

    Args:
        tokens (`XLGenTokens`): the special token ids.
        codec (`LabelCodec`): label ids -> target token ids.
        variant (`str`): `"base"`, `"bcl"` or `"mcg"`.
        label_clusters (`np.ndarray` of shape `(num_labels,)`, *optional*): cluster of every label (`bcl`, `mcg`).
        condition_on_clusters (`bool`): append the gold clusters to the input (`mcg`; `bcl`'s reference-code option).
        label_order (`str`): `"frequency"`, `"inverse"`, `"shuffle"` or `"given"`.
        max_target_length (`int`): target tokens at most (whole labels only, EOS included).
        seed (`int`): seeds the `"shuffle"` order.

    Returns (from `__call__`):
        `input_ids`, `attention_mask`, `labels` (-100 padded); `bcl`: `cluster_targets` `(batch, K)` and, with
        conditioning, `text_attention_mask`; `mcg`: `task_ids` and twice the rows (a label example and a cluster
        example per document).
    """

    tokens: XLGenTokens
    codec: LabelCodec
    variant: str = "base"
    label_clusters: np.ndarray | None = None
    condition_on_clusters: bool = False
    label_order: str = "frequency"
    max_target_length: int = 128
    seed: int = 0
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self):
        check_label_order(self.label_order)
        if self.variant != "base" and self.label_clusters is None:
            raise ValueError(f"variant {self.variant!r} needs label_clusters (one cluster id per label)")
        if self.condition_on_clusters and not self.tokens.cluster_token_ids:
            raise ValueError("condition_on_clusters needs the cluster tokens (XLGenTokens.add_to(..., num_clusters))")
        self._rng = np.random.default_rng(self.seed)

    @property
    def num_clusters(self) -> int:
        return 0 if self.label_clusters is None else int(self.label_clusters.max()) + 1

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        inputs, targets, text_masks, cluster_targets, task_ids = [], [], [], [], []
        num_clusters = len(self.tokens.cluster_token_ids) or self.num_clusters
        for feature in features:
            input_ids = list(feature["input_ids"])
            labels = order_labels(feature["labels"], self.label_order, self._rng)
            clusters = document_clusters(labels, self.label_clusters) if self.variant != "base" else []
            conditioned = self.tokens.with_clusters(input_ids, clusters) if self.condition_on_clusters else input_ids
            inputs.append(conditioned)
            targets.append(self.codec.target_ids(labels, self.max_target_length))
            task_ids.append(0)
            if self.variant == "bcl":
                cluster_targets.append(multi_hot_clusters(labels, self.label_clusters, num_clusters))
                # the cluster layer reads the text only: mask the appended clusters (not the task token or EOS)
                text_masks.append([1] * (len(input_ids) - 1) + [0] * len(clusters) + [1])
            if self.variant == "mcg":
                inputs.append(self.tokens.cluster_task(input_ids))
                targets.append(self.tokens.cluster_target(clusters))
                task_ids.append(1)
        batch = {
            "input_ids": pad_rows(inputs, self.tokens.pad_token_id),
            "attention_mask": pad_rows([[1] * len(row) for row in inputs], 0),
            "labels": pad_rows(targets, IGNORE_INDEX),
        }
        if self.variant == "bcl":
            batch["cluster_targets"] = torch.from_numpy(np.stack(cluster_targets))
            if self.condition_on_clusters:
                batch["text_attention_mask"] = pad_rows(text_masks, 0)
        if self.variant == "mcg":
            batch["task_ids"] = torch.tensor(task_ids, dtype=torch.long)
        return batch


__all__ = ["IGNORE_INDEX", "XLGenDataCollator", "pad_rows"]
