"""MACLR's losses, one per file in the sentence-transformers style."""

from __future__ import annotations

from .cluster_contrastive_loss import ClusterContrastiveLoss
from .label_regularization_loss import LabelRegularizationLoss
from .maclr_loss import MACLRLoss

__all__ = ["ClusterContrastiveLoss", "LabelRegularizationLoss", "MACLRLoss"]
