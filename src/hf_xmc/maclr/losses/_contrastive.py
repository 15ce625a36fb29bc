"""What the MACLR losses share: the supervised-contrastive log-likelihood over a positives mask, the cluster
assignment that turns row ids into positives, and the switch between a plain and a gradient-cached forward.

Gradient caching is sentence-transformers' own (`CachedLossMixin`, GradCache, Gao et al. 2021): the batch is embedded
in mini-batches without a graph, the loss is computed and back-propagated to the embeddings, then every mini-batch is
embedded again with a graph and the cached embedding gradients are pushed through it. Memory is bounded by one
mini-batch of activations while the loss sees the whole batch's negatives, and the gradients equal the plain loss's.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from sentence_transformers.base.losses.gradcache import CachedLossMixin
from sentence_transformers.util import all_gather, all_gather_with_grad, dot_score, get_rank
from torch import Tensor, nn


def supervised_contrastive(logits: Tensor, positives: Tensor) -> Tensor:
    """Mean over anchors of `-1/|P(i)| sum_{p in P(i)} log softmax(logits_i)_p` (the paper's eq. 3 form).

    Args:
        logits (`torch.Tensor` of shape `(n, m)`): scaled similarities of each anchor to every candidate.
        positives (`torch.Tensor` bool of shape `(n, m)`): the positive candidates of each anchor (at least one).
    """
    log_probabilities = torch.log_softmax(logits, dim=1)
    counts = positives.sum(dim=1)
    if bool((counts == 0).any()):
        raise ValueError("an anchor has no positive candidate in the batch (its own pair must be one).")
    per_anchor = -(log_probabilities * positives).sum(dim=1) / counts
    return per_anchor.mean()


class GroupedContrastiveMixin(CachedLossMixin):
    """The shared machinery of the MACLR losses (an `nn.Module` mixin).

    Attributes set by `_init_contrastive`: `model`, `scale`, `similarity_fct`, `mini_batch_size` (`None`: no gradient
    caching), `gather_across_devices`, and the `cluster_assignment` buffer (`None`: every row is its own group).
    """

    model: nn.Module

    def _init_contrastive(
        self,
        model,
        scale: float,
        similarity_fct: Callable[[Tensor, Tensor], Tensor],
        mini_batch_size: int | None,
        gather_across_devices: bool,
    ) -> None:
        if scale <= 0:
            raise ValueError(f"scale={scale} must be positive (it multiplies the similarities: 1 / temperature).")
        if mini_batch_size is not None and mini_batch_size < 1:
            raise ValueError(f"mini_batch_size={mini_batch_size} must be a positive integer or None (no caching).")
        self.model = model
        self.scale = float(scale)
        self.similarity_fct = similarity_fct
        self.mini_batch_size = mini_batch_size
        self.gather_across_devices = gather_across_devices
        self.cluster_assignment: Tensor | None = None

    @property
    def uses_gradient_cache(self) -> bool:  # read by sentence-transformers' wrappers (e.g. MatryoshkaLoss)
        return self.mini_batch_size is not None

    def set_cluster_assignment(self, cluster_ids) -> None:
        """Map row ids (the dataset's `label` column) to clusters: rows of one cluster are each other's positives.

        Args:
            cluster_ids (`array-like` of int of shape `(num_rows,)`, or `None`): the cluster of every row; `None`
                makes every row its own cluster (plain instance-level InfoNCE, eq. 2).
        """
        if cluster_ids is None:
            self.cluster_assignment = None
            return
        cluster_ids = torch.as_tensor(np.asarray(cluster_ids), dtype=torch.long)
        if cluster_ids.ndim != 1:
            raise ValueError(f"cluster_ids must be one id per row, got shape {tuple(cluster_ids.shape)}.")
        self.cluster_assignment = cluster_ids

    def groups(self, labels: Tensor | None, batch_size: int, device) -> Tensor:
        """The group (cluster) of every row of the batch: `labels` mapped through the cluster assignment."""
        if labels is None:
            # no ids: rows are distinct instances; offset by rank so gathered rows of other processes differ
            offset = get_rank() * batch_size if self.gather_across_devices else 0
            return torch.arange(batch_size, device=device) + offset
        labels = labels.to(device=device, dtype=torch.long).view(-1)
        if len(labels) != batch_size:
            raise ValueError(f"{len(labels)} labels for a batch of {batch_size} rows.")
        if self.cluster_assignment is None:
            return labels
        assignment = self.cluster_assignment
        if int(labels.max()) >= len(assignment) or int(labels.min()) < 0:
            raise ValueError(
                f"row id {int(labels.max())} is outside the cluster assignment of {len(assignment)} rows: the "
                "dataset's label column must hold row ids 0..n-1 of the clustered pairs."
            )
        return assignment.to(device)[labels]

    def gather(self, tensor: Tensor, with_grad: bool) -> Tensor:
        """The tensor of every process concatenated (unchanged on one process or without `gather_across_devices`)."""
        if not self.gather_across_devices:
            return tensor
        return all_gather_with_grad(tensor) if with_grad else all_gather(tensor)

    def logits(self, anchors: Tensor, candidates: Tensor) -> Tensor:
        return self.similarity_fct(anchors, candidates) * self.scale

    def embed(self, sentence_features: dict[str, Tensor]) -> Tensor:
        return self.model(sentence_features)["sentence_embedding"]

    def run(self, sentence_features: list[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        """Plain forward (one graph over the batch) or GradCache forward, by `mini_batch_size`."""
        if self.mini_batch_size is None:
            reps = [[self.embed(features)] for features in sentence_features]
            return self.calculate_loss(reps, labels)
        return self.forward_cached(sentence_features, labels)

    def calculate_loss(self, reps: list[list[Tensor]], labels: Tensor | None = None, *, with_backward: bool = False):
        """The loss of the whole batch from its per-mini-batch embeddings (each loss defines
        `loss_from_embeddings(columns, labels)`); back-propagated to the embeddings when `with_backward`."""
        loss = self.loss_from_embeddings([torch.cat(column) for column in reps], labels)
        if with_backward:
            loss.backward()
            loss = loss.detach()
        return loss

    def contrastive_config(self) -> dict:
        from sentence_transformers.util import similarity_fct_name

        return {
            "scale": self.scale,
            "similarity_fct": similarity_fct_name(self.similarity_fct),
            "mini_batch_size": self.mini_batch_size,
            "gather_across_devices": self.gather_across_devices,
        }


DEFAULT_SIMILARITY = dot_score

MACLR_CITATION = """
@inproceedings{xiong2022maclr,
    title = {Extreme Zero-Shot Learning for Extreme Text Classification},
    author = {Xiong, Yuanhao and Chang, Wei-Cheng and Hsieh, Cho-Jui and Yu, Hsiang-Fu and Dhillon, Inderjit},
    booktitle = {Proceedings of the 2022 Conference of the North American Chapter of the Association for
                 Computational Linguistics: Human Language Technologies},
    year = {2022},
    eprint = {2112.08652},
    archivePrefix = {arXiv}
}
"""
