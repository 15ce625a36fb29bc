"""The Hub side of hf-xmc: complete checkpoints (push / load), model cards, ranked predictions."""

from __future__ import annotations

from .checkpoint import (
    XMCCheckpoint,
    XMCCheckpointError,
    check_checkpoint_folder,
    decision_mask,
    hf_xmc_model_types,
    load_xmc_model,
    save_xmc_checkpoint,
)
from .inference import RankedLabel, TextTooLongError, rank_labels
from .model_card import METHOD_CARDS, ModelCardCallback, build_model_card
from .push import push_xmc_model

__all__ = [
    "METHOD_CARDS",
    "ModelCardCallback",
    "RankedLabel",
    "TextTooLongError",
    "XMCCheckpoint",
    "XMCCheckpointError",
    "build_model_card",
    "check_checkpoint_folder",
    "decision_mask",
    "hf_xmc_model_types",
    "load_xmc_model",
    "push_xmc_model",
    "rank_labels",
    "save_xmc_checkpoint",
]
