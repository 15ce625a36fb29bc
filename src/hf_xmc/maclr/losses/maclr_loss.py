"""MACLR's stage-I objective (eq. 5): the cluster contrastive loss plus the label regularization, in one pass."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from ._contrastive import MACLR_CITATION, GroupedContrastiveMixin
from .cluster_contrastive_loss import ClusterContrastiveLoss
from .label_regularization_loss import LabelRegularizationLoss


class MACLRLoss(GroupedContrastiveMixin, nn.Module):
    def __init__(
        self,
        model,
        cluster_loss: ClusterContrastiveLoss,
        label_regularization: LabelRegularizationLoss | None = None,
        regularization_weight: float = 1.0,
    ) -> None:
        """`L = L_cluster + w * L_label` (Xiong et al., 2022, eq. 5; `w = 1` in the paper and reference code).

        The instance column is embedded once and serves both terms (as in the reference code); the label
        regularization adds the dropout twins and its random label texts. With the cluster loss's
        `mini_batch_size` set, all four columns (instances, titles, twins, random labels) go through one
        gradient-cached pass. `set_cluster_assignment` reaches both terms (it is what
        `AdaptiveClusteringCallback` calls).

        Args:
            model: the `SentenceTransformer`.
            cluster_loss (`ClusterContrastiveLoss`): eq. 3; its `mini_batch_size` and `gather_across_devices`
                drive the pass.
            label_regularization (`LabelRegularizationLoss`, *optional*): eq. 4; `None` is eq. 3 alone.
            regularization_weight (`float`): `w`.

        Inputs:
            (instance, label) pairs with row ids, as `ClusterContrastiveLoss`.
        """
        super().__init__()
        self._init_contrastive(
            model, cluster_loss.scale, cluster_loss.similarity_fct, cluster_loss.mini_batch_size,
            cluster_loss.gather_across_devices,
        )  # fmt: skip
        if regularization_weight < 0:
            raise ValueError(f"regularization_weight={regularization_weight} must be non-negative.")
        self.cluster_loss = cluster_loss
        self.label_regularization = label_regularization
        self.regularization_weight = float(regularization_weight)

    def set_cluster_assignment(self, cluster_ids) -> None:
        super().set_cluster_assignment(cluster_ids)
        self.cluster_loss.set_cluster_assignment(cluster_ids)
        if self.label_regularization is not None:
            self.label_regularization.set_cluster_assignment(cluster_ids)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        sentence_features = list(sentence_features)
        if len(sentence_features) != 2:
            raise ValueError(f"MACLRLoss takes (instance, label) pairs: 2 text columns, got {len(sentence_features)}.")
        if self.label_regularization is not None:
            instances = sentence_features[0]
            device = next(value for value in instances.values() if torch.is_tensor(value)).device
            sentence_features += [instances, self.label_regularization.negative_features(device)]
        return self.run(sentence_features, labels)

    def loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        loss = self.cluster_loss.loss_from_embeddings(embeddings[:2], labels)
        if self.label_regularization is not None:
            regularization = self.label_regularization.loss_from_embeddings(
                [embeddings[0], embeddings[2], embeddings[3]], labels
            )
            loss = loss + self.regularization_weight * regularization
        return loss

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "regularization_weight": self.regularization_weight,
            "cluster_loss": {"class": type(self.cluster_loss).__name__, **self.cluster_loss.get_config_dict()},
            "label_regularization": None
            if self.label_regularization is None
            else {"class": type(self.label_regularization).__name__, **self.label_regularization.get_config_dict()},
        }

    @property
    def citation(self) -> str:
        return MACLR_CITATION
