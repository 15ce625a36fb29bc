"""MACLR's label regularization (eq. 4): an instance against its own dropout twin (positive) and M random real label
texts (negatives), so instance embeddings move away from the labels they most likely do not have."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..retrieval import check_label_texts
from ._contrastive import DEFAULT_SIMILARITY, MACLR_CITATION, GroupedContrastiveMixin, supervised_contrastive


class LabelRegularizationLoss(GroupedContrastiveMixin, nn.Module):
    def __init__(
        self,
        model,
        label_texts: Sequence[str],
        num_negatives: int = 32,
        scale: float = 1.0,
        similarity_fct: Callable[[Tensor, Tensor], Tensor] = DEFAULT_SIMILARITY,
        cluster_positives: bool = True,
        mini_batch_size: int | None = None,
        gather_across_devices: bool = False,
        seed: int = 0,
    ) -> None:
        """The label regularization term of MACLR (Xiong et al., 2022, eq. 4).

        Each instance `x_i` is embedded twice with different dropout masks (`h_i`, `h_i^+`, SimCSE's augmentation);
        `M = num_negatives` label texts are drawn at random from the whole label set at every step:

            L = 1/N sum_i -log( exp(s <h_i, h_i^+>) / (sum_j exp(s <h_i, h_j^+>) + sum_{m=1..M} exp(s <h_i, E(y_m)>)) )

        As in the reference code, the other instances' twins are candidates too, and with `cluster_positives` the
        twins of same-cluster instances are positives (the SupCon average of eq. 3) rather than negatives; the
        random labels are always negatives. In eval mode (no dropout) the twin equals the instance.

        Args:
            model: the `SentenceTransformer`.
            label_texts (`list[str]`): the texts of the whole label set (the label vocabulary's titles); none empty.
            num_negatives (`int`, defaults to 32, the reference's global pool): random labels per step, per process.
            scale, similarity_fct, mini_batch_size, gather_across_devices: as in `ClusterContrastiveLoss`.
            cluster_positives (`bool`): same-cluster twins are positives (reference code) instead of negatives.
            seed (`int`): seeds the label sampling (offset by the process rank under distributed training).

        Inputs:
            +----------------------------------------------+-----------------------------------------------+
            | Texts                                        | Labels                                        |
            +==============================================+===============================================+
            | (instance, ...) — only the first column used | row id (int), as for `ClusterContrastiveLoss` |
            +----------------------------------------------+-----------------------------------------------+

        Raises:
            `ValueError`: an empty label text, or `num_negatives` < 1.
        """
        super().__init__()
        self._init_contrastive(model, scale, similarity_fct, mini_batch_size, gather_across_devices)
        if num_negatives < 1:
            raise ValueError(f"num_negatives={num_negatives} must be at least 1.")
        self.label_texts = check_label_texts(label_texts, "LabelRegularizationLoss label_texts")
        self.num_negatives = min(int(num_negatives), len(self.label_texts))
        self.cluster_positives = cluster_positives
        self.seed = seed
        self._rng: np.random.Generator | None = None
        # tokenization needs no parameters: keep the unwrapped model's method (DDP wrappers do not expose it)
        self._preprocess = getattr(model, "preprocess", None)

    def sample_negatives(self) -> list[str]:
        """`num_negatives` distinct random label texts."""
        if self._rng is None:
            from sentence_transformers.util import get_rank

            self._rng = np.random.default_rng([self.seed, get_rank()])
        picks = self._rng.choice(len(self.label_texts), size=self.num_negatives, replace=False)
        return [self.label_texts[i] for i in picks]

    def negative_features(self, device) -> dict[str, Tensor]:
        features = self._preprocess(self.sample_negatives())
        return {key: value.to(device) if torch.is_tensor(value) else value for key, value in features.items()}

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        instances = list(sentence_features)[0]
        device = next(value for value in instances.values() if torch.is_tensor(value)).device
        # the same instance features twice: the second pass draws other dropout masks (its own RNG state)
        return self.run([instances, instances, self.negative_features(device)], labels)

    def loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        """Eq. 4 from `[instances (N, d), twins (N, d), negatives (M, d)]` and the rows' ids."""
        views, twins, negatives = embeddings
        # without cluster positives every row is its own group: only the own twin is positive
        groups = self.groups(labels if self.cluster_positives else None, len(views), views.device)
        twins = self.gather(twins, with_grad=True)
        twin_groups = self.gather(groups, with_grad=False)
        candidates = torch.cat([twins, negatives])
        positives = groups[:, None] == twin_groups[None, :]
        positives = torch.cat([positives, positives.new_zeros(len(views), len(negatives))], dim=1)
        return supervised_contrastive(self.logits(views, candidates), positives)

    def get_config_dict(self) -> dict[str, Any]:
        return {
            **self.contrastive_config(),
            "num_negatives": self.num_negatives,
            "num_label_texts": len(self.label_texts),
            "cluster_positives": self.cluster_positives,
            "seed": self.seed,
        }

    @property
    def citation(self) -> str:
        return MACLR_CITATION
