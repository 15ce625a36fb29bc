"""MACLR's cluster contrastive loss (eq. 3): supervised contrastive learning over in-batch (instance, label) pairs,
the labels of every instance of the same cluster being positives."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from torch import Tensor, nn

from ._contrastive import DEFAULT_SIMILARITY, MACLR_CITATION, GroupedContrastiveMixin, supervised_contrastive


class ClusterContrastiveLoss(GroupedContrastiveMixin, nn.Module):
    def __init__(
        self,
        model,
        scale: float = 1.0,
        similarity_fct: Callable[[Tensor, Tensor], Tensor] = DEFAULT_SIMILARITY,
        mini_batch_size: int | None = None,
        gather_across_devices: bool = False,
    ) -> None:
        """The cluster contrastive loss of MACLR (Xiong et al., 2022, eq. 3).

        For a batch of N pairs `(x_i, y_i)` with clusters `C(i)`:

            L = 1/N sum_i -1/|P(i)| sum_{p in P(i)} log( exp(s * <E(x_i), E(y_p)>) / sum_j exp(s * <E(x_i), E(y_j)>) )

        with `P(i) = {p : C(p) = C(i)}` (the anchor's own pair included). Every row its own cluster gives the ICT /
        InfoNCE loss (eq. 2); in MACLR's stage II the "cluster" of a pseudo pair is its document, so all of a
        document's pseudo labels in the batch are its positives. The paper sums over anchors; this is the mean, as
        in the reference code, so the learning rate does not depend on the batch size.

        Args:
            model: the `SentenceTransformer` (one Siamese encoder for instances and labels).
            scale (`float`, defaults to 1.0): similarities are multiplied by it (1 / temperature). The paper uses raw
                inner products of unnormalised embeddings (scale 1); an encoder that L2-normalises its output (the
                shipped MiniLM) needs a larger scale, e.g. 20.
            similarity_fct (defaults to the inner product `dot_score`): `(n, d) x (m, d) -> (n, m)` similarities.
            mini_batch_size (`int`, *optional*): embed the batch in mini-batches of this size with gradient caching
                (GradCache): a large batch, and so many negatives, in bounded memory. `None`: one plain forward pass.
            gather_across_devices (`bool`): under distributed training, score every process's anchors against the
                labels of all processes (the reference code's global batch).

        Inputs:
            +---------------------+----------------------------------------------------------------------------+
            | Texts               | Labels                                                                     |
            +=====================+============================================================================+
            | (instance, label)   | row id (int): mapped to its cluster by `set_cluster_assignment`; or the   |
            | pairs               | group id itself (rows sharing an id are positives, e.g. a document id)   |
            +---------------------+----------------------------------------------------------------------------+

        Example:
            ::

                loss = ClusterContrastiveLoss(model, scale=20.0, mini_batch_size=16)
                loss.set_cluster_assignment(cluster_of_row)  # AdaptiveClusteringCallback does this during training
                trainer = SentenceTransformerTrainer(model=model, train_dataset=pairs, loss=loss)
        """
        super().__init__()
        self._init_contrastive(model, scale, similarity_fct, mini_batch_size, gather_across_devices)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        sentence_features = list(sentence_features)
        if len(sentence_features) != 2:
            raise ValueError(
                f"ClusterContrastiveLoss takes (instance, label) pairs: 2 text columns, got {len(sentence_features)}."
            )
        return self.run(sentence_features, labels)

    def loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        """Eq. 3 from the instance and label embeddings (`[(N, d), (N, d)]`) and the rows' ids."""
        anchors, candidates = embeddings[0], embeddings[1]
        groups = self.groups(labels, len(anchors), anchors.device)
        candidates = self.gather(candidates, with_grad=True)
        candidate_groups = self.gather(groups, with_grad=False)
        positives = groups[:, None] == candidate_groups[None, :]
        return supervised_contrastive(self.logits(anchors, candidates), positives)

    def get_config_dict(self) -> dict[str, Any]:
        return self.contrastive_config()

    @property
    def citation(self) -> str:
        return MACLR_CITATION
