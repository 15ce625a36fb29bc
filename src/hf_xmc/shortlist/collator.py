"""Batches for `ShortlistRanker`: token ids (or cached document embeddings), the sparse shortlist, gold label ids."""

from __future__ import annotations

from typing import Any

import torch

from ..training.collators import LABEL_PAD_ID, XMCDataCollator

CANDIDATE_IDS = "candidate_ids"
CANDIDATE_SCORES = "candidate_scores"
DOCUMENT_EMBEDDINGS = "document_embeddings"


class ShortlistRankerCollator(XMCDataCollator):
    """`XMCDataCollator` plus the ranker's columns: `candidate_ids` / `candidate_scores` (lists, padded with -1 / 0)
    and `document_embeddings` (a cached pooled embedding per example, which replaces tokenisation).

    Args: as `XMCDataCollator` (labels are always id lists).
    """

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if not features:
            raise ValueError("cannot collate an empty list of examples")
        if DOCUMENT_EMBEDDINGS in features[0]:
            batch = {
                DOCUMENT_EMBEDDINGS: torch.tensor([f[DOCUMENT_EMBEDDINGS] for f in features], dtype=torch.float32)
            }
            if self.label_column in features[0]:
                batch["labels"] = self.encode_labels([f[self.label_column] for f in features])
        else:
            stripped = [{k: v for k, v in f.items() if k not in (CANDIDATE_IDS, CANDIDATE_SCORES)} for f in features]
            batch = super().__call__(stripped)
        if CANDIDATE_IDS in features[0]:
            width = max(1, max(len(f[CANDIDATE_IDS]) for f in features))
            ids = torch.full((len(features), width), LABEL_PAD_ID, dtype=torch.long)
            scores = torch.zeros(len(features), width)
            for row, feature in enumerate(features):
                count = len(feature[CANDIDATE_IDS])
                ids[row, :count] = torch.as_tensor(feature[CANDIDATE_IDS], dtype=torch.long)
                if CANDIDATE_SCORES in feature:
                    scores[row, :count] = torch.as_tensor(feature[CANDIDATE_SCORES], dtype=torch.float32)
            if int(ids.max()) >= self.num_labels:
                from ..data.errors import XMCInputError

                raise XMCInputError(
                    f"a shortlist holds label id {int(ids.max())}, outside the model's {self.num_labels} labels: the "
                    "sparse model was trained on another label space"
                )
            batch[CANDIDATE_IDS] = ids
            batch[CANDIDATE_SCORES] = scores
        return batch
