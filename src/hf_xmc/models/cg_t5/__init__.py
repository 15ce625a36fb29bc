"""XLGen (Jung et al., EACL 2023): `T5ForClusterGuidedLabelGeneration`, label generation with cluster guidance."""

from __future__ import annotations

from .configuration_cg_t5 import VARIANTS, ClusterGuidedT5Config
from .modeling_cg_t5 import (
    ClusterGuidedSeq2SeqLMOutput,
    ClusterPredictionHead,
    ClusterSequenceLogitsProcessor,
    T5ForClusterGuidedLabelGeneration,
)

__all__ = [
    "VARIANTS",
    "ClusterGuidedSeq2SeqLMOutput",
    "ClusterGuidedT5Config",
    "ClusterPredictionHead",
    "ClusterSequenceLogitsProcessor",
    "T5ForClusterGuidedLabelGeneration",
]
