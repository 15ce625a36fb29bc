"""APLC-XLNet (Ye et al., ICML 2020): the APLC output layer, `XLNetWithAPLC`, and the same head on any encoder."""

from __future__ import annotations

from .aplc import (
    AdaptiveProbabilisticLabelClusters,
    eq6_num_parameters,
    resolve_cluster_sizes,
    tail_label_logits,
)
from .configuration_encoder_aplc import EncoderAPLCConfig
from .configuration_xlnet_aplc import XLNetAPLCConfig
from .heads import XMCClassifierOutput, pool_hidden_states
from .modeling_encoder_aplc import EncoderWithAPLC
from .modeling_xlnet_aplc import XLNetWithAPLC

__all__ = [
    "AdaptiveProbabilisticLabelClusters",
    "EncoderAPLCConfig",
    "EncoderWithAPLC",
    "XLNetAPLCConfig",
    "XLNetWithAPLC",
    "XMCClassifierOutput",
    "eq6_num_parameters",
    "pool_hidden_states",
    "resolve_cluster_sizes",
    "tail_label_logits",
]
