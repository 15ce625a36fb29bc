"""GUDN (Wang et al., 2022): `BertGuideNetwork`, one BERT for texts and label texts with a guide network."""

from __future__ import annotations

from .configuration_bert_guide import BertGuideConfig
from .label_shortlist import cluster_members, dense_top_k, shortlist_top_k
from .modeling_bert_guide import BertGuideNetwork, BertGuideOutput

__all__ = [
    "BertGuideConfig",
    "BertGuideNetwork",
    "BertGuideOutput",
    "cluster_members",
    "dense_top_k",
    "shortlist_top_k",
]
