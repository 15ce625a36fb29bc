"""MACLR (Xiong et al., NAACL 2022): extreme zero-shot XMC by contrastive pre-training of a sentence-transformers
encoder on the raw texts of documents and labels, and label retrieval from the encoder's embeddings.

- `pairs`: inverse-cloze-task (context, title) pairs; `self_training`: stage-II pseudo pairs (encoder + TF-IDF);
- `losses`: `ClusterContrastiveLoss` (eq. 3), `LabelRegularizationLoss` (eq. 4), `MACLRLoss` (eq. 5), with gradient
  caching for large batches in bounded memory;
- `adaptive_clustering`: multi-scale adaptive clustering (Algorithm 1) as a `TrainerCallback`;
- `retrieval`: `LabelIndex`, the dense label index (exact or faiss HNSW/IVF), reusable by any retriever;
- `evaluation`: metrics overall and on seen/unseen labels; `checkpoint`: save/load/push with the label index.

Attributes load on first use, so `import hf_xmc.maclr` does not import torch or sentence-transformers.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "ClusterContrastiveLoss": "losses",
    "LabelRegularizationLoss": "losses",
    "MACLRLoss": "losses",
    "AdaptiveClusteringCallback": "adaptive_clustering",
    "LabelIndex": "retrieval",
    "own_label_ids": "retrieval",
    "ict_pairs": "pairs",
    "ict_pairs_from_split": "pairs",
    "TfidfLabelRetriever": "self_training",
    "build_self_training_pairs": "self_training",
    "pseudo_pairs": "self_training",
    "evaluate_label_retrieval": "evaluation",
    "MACLRCheckpoint": "checkpoint",
    "load_maclr_model": "checkpoint",
    "push_maclr_model": "checkpoint",
    "save_maclr_model": "checkpoint",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_LAZY)
