"""Pieces shared by `XLNetWithAPLC` and `EncoderWithAPLC`: pooling, the hidden layer, the output, the head logic.

Imports only torch, transformers and siblings (copied next to the weights by `save_pretrained`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput

from .aplc import AdaptiveProbabilisticLabelClusters

POOLING_MODES = ("last", "cls", "mean")


@dataclass
class XMCClassifierOutput(SequenceClassifierOutput):
    r"""
    loss (`torch.FloatTensor` of shape `(1,)`, *optional*, returned when `labels` is provided):
        The APLC loss (eq. 5 of the paper).
    logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`, *optional*):
        Label logits in label-id order: `sigmoid(logits)` is the APLC probability `p(y|x)` of eq. 2.
    top_k_scores (`torch.FloatTensor` of shape `(batch_size, k)`, *optional*):
        Logits of the `k` best labels, best first (when `config.output_top_k` or `top_k` is set).
    top_k_ids (`torch.LongTensor` of shape `(batch_size, k)`, *optional*):
        Their label ids.
    """

    top_k_scores: torch.FloatTensor | None = None
    top_k_ids: torch.LongTensor | None = None


def pool_hidden_states(hidden_states: torch.Tensor, attention_mask: torch.Tensor | None, pooling: str) -> torch.Tensor:
    """One vector per sequence.

    Args:
        hidden_states (`torch.Tensor` of shape `(batch, seq_len, hidden)`)
        attention_mask (`torch.Tensor` of shape `(batch, seq_len)`, *optional*): 1 for real tokens.
        pooling (`str`): `"last"` (last real token: XLNet's CLS with left padding; also right padding),
            `"cls"` (first token, BERT) or `"mean"` (masked mean, sentence-transformers).

    Returns:
        `torch.Tensor` of shape `(batch, hidden)`.
    """
    pooling = {"first": "cls"}.get(pooling, pooling)  # XLNet's `summary_type` name for it
    if pooling not in POOLING_MODES:
        raise ValueError(f"pooling must be one of {POOLING_MODES}, got {pooling!r}")
    if attention_mask is None:
        attention_mask = torch.ones(hidden_states.shape[:2], dtype=torch.long, device=hidden_states.device)
    if pooling == "cls":
        return hidden_states[:, 0]
    if pooling == "mean":
        mask = attention_mask.to(hidden_states.dtype).unsqueeze(-1)
        return (hidden_states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    positions = torch.arange(hidden_states.shape[1], device=hidden_states.device)
    last_real = (attention_mask.bool() * positions).argmax(dim=1)
    return hidden_states[torch.arange(hidden_states.shape[0], device=hidden_states.device), last_real]


class APLCHiddenLayer(nn.Module):
    """The hidden (bottleneck) layer of §3.2: Linear(d, d_h) -> tanh -> dropout, as XLNet's `SequenceSummary`."""

    def __init__(self, in_features: int, hidden_size: int, dropout: float):
        super().__init__()
        self.dense = nn.Linear(in_features, hidden_size)
        self.activation = nn.Tanh()
        self.dropout = nn.Dropout(dropout)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.activation(self.dense(pooled)))


def init_aplc_modules(module: nn.Module, std: float) -> bool:
    """`_init_weights` for the head classes: N(0, std) weights, zero biases. Returns whether `module` was one."""
    if isinstance(module, APLCHiddenLayer):
        init.normal_(module.dense.weight, mean=0.0, std=std)
        init.zeros_(module.dense.bias)
        return True
    if isinstance(module, AdaptiveProbabilisticLabelClusters):
        for submodule in module.modules():
            if isinstance(submodule, nn.Linear):
                init.normal_(submodule.weight, mean=0.0, std=std)
            elif isinstance(submodule, nn.LayerNorm):
                init.ones_(submodule.weight)
                init.zeros_(submodule.bias)
        return True
    return False


def aplc_head_outputs(
    config,
    aplc: AdaptiveProbabilisticLabelClusters,
    features: torch.Tensor,
    labels: torch.Tensor | None,
    top_k: int | None,
    return_logits: bool | None,
) -> dict:
    """Loss, dense logits and top-k for the hidden-layer `features` `(batch, d_h)`, as the model configs ask."""
    loss = aplc.loss(features, labels) if labels is not None else None
    return_logits = config.output_logits if return_logits is None else return_logits
    top_k = config.output_top_k if top_k is None else top_k
    logits = aplc.logits(features) if return_logits else None
    top_k_scores = top_k_ids = None
    if top_k:
        top_k_scores, top_k_ids = aplc.top_k(
            features.detach(), top_k, beam=config.top_k_beam, screening=config.top_k_screening
        )
    return {"loss": loss, "logits": logits, "top_k_scores": top_k_scores, "top_k_ids": top_k_ids}
