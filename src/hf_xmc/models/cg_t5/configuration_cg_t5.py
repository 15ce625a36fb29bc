"""Configuration of `T5ForClusterGuidedLabelGeneration` (XLGen). Imports only transformers."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import T5Config

VARIANTS = ("base", "bcl", "mcg")


@strict
class ClusterGuidedT5Config(T5Config):
    r"""
    A `T5Config` (every T5 field) plus XLGen's label-generation fields (Jung et al., EACL 2023).

    Args:
        variant (`str`, defaults to `"base"`):
            `"base"`: `<MultiLabel> text` -> the label sequence. `"bcl"`: plus a multi-cluster prediction layer on the
            encoder's masked-mean hidden states, trained with BCE weighted by `cluster_loss_weight` (eq. 1). `"mcg"`:
            two tasks in one model, `<MultiCluster> text` -> cluster tokens and `<MultiLabel> text <cA> <cB>` ->
            labels; `generate` predicts the clusters first and appends them (two stages, one call).
        num_clusters (`int`, defaults to 30): number of label clusters (K-means on PIFA label features).
        cluster_loss_weight (`float`, defaults to 1.0):
            λ of eq. 1: total loss = generation loss + λ * cluster loss (BCE for `bcl`, the cluster sequence's
            cross-entropy for `mcg`).
        condition_on_clusters (`bool`, *optional*):
            Append cluster tokens to the encoder input (gold clusters in training, predicted ones in `generate`).
            Always true for `mcg`; for `bcl` it is the reference code's behaviour (off by default, as the paper
            describes BCL: the cluster layer is an auxiliary task only).
        cluster_threshold (`float`, defaults to 0.5):
            `bcl` with `condition_on_clusters`: clusters whose sigmoid probability exceeds this are appended (at
            least the most probable one), by decreasing probability.
        cluster_token_ids (`list[int]`, *optional*): token id of each cluster token `<c0>`, `<c1>`, ... (cluster `i`
            at position `i`); required by `mcg` and by cluster conditioning.
        label_task_token_id (`int`, *optional*): id of the `<MultiLabel>` task token every input starts with.
        cluster_task_token_id (`int`, *optional*): id of the `<MultiCluster>` task token (`mcg`).
        label_separator (`str`, defaults to `";"`):
            The string between two labels of a target sequence; no label may contain it.
        num_labels (`int`, defaults to 2):
            Size of the label vocabulary trained on (`label_vocabulary.json`), a plain field without an `id2label`
            map; generation may still produce labels outside it.
    """

    model_type = "cg_t5"

    variant: str = "base"
    num_clusters: int = 30
    cluster_loss_weight: float | int = 1.0
    condition_on_clusters: bool | None = None
    cluster_threshold: float | int = 0.5
    cluster_token_ids: list[int] | None = None
    label_task_token_id: int | None = None
    cluster_task_token_id: int | None = None
    label_separator: str = ";"
    num_labels: int = 2

    def __post_init__(self, **kwargs):
        if self.condition_on_clusters is None:
            self.condition_on_clusters = self.variant == "mcg"
        super().__post_init__(**kwargs)

    @property
    def uses_clusters(self) -> bool:
        """Whether the model predicts clusters at all (`bcl`, `mcg`)."""
        return self.variant != "base"

    def validate_cluster_guidance(self):
        """Part of `@strict` validation: the XLGen fields."""
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.num_clusters < 1:
            raise ValueError(f"num_clusters must be positive, got {self.num_clusters}")
        if self.cluster_loss_weight < 0:
            raise ValueError(f"cluster_loss_weight must be >= 0, got {self.cluster_loss_weight}")
        if not 0 < self.cluster_threshold < 1:
            raise ValueError(f"cluster_threshold must be in (0, 1), got {self.cluster_threshold}")
        if self.variant == "mcg" and not self.condition_on_clusters:
            raise ValueError("variant='mcg' always appends the predicted clusters: condition_on_clusters must be true")
        if self.variant == "base" and self.condition_on_clusters:
            raise ValueError("variant='base' has no clusters: condition_on_clusters must be false")
        if self.cluster_token_ids is not None and len(self.cluster_token_ids) != self.num_clusters:
            raise ValueError(
                f"cluster_token_ids has {len(self.cluster_token_ids)} ids but num_clusters is {self.num_clusters}"
            )
        if not self.label_separator or not self.label_separator.strip():
            raise ValueError("label_separator must be a non-blank string (e.g. ';')")


__all__ = ["VARIANTS", "ClusterGuidedT5Config"]
