"""Configuration of `XLNetWithAPLC` (APLC-XLNet). Imports only transformers and siblings (copied to the Hub)."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import XLNetConfig

from .aplc import DEFAULT_LABEL_CUTOFFS, TAIL_PROJECTIONS, resolve_cluster_sizes, tail_dimensions
from .screening import SCREENING_MODES


@strict
class XLNetAPLCConfig(XLNetConfig):
    r"""
    Every `XLNetConfig` field, plus the APLC output layer of APLC-XLNet (Ye et al., 2020).

    Args:
        num_labels (`int`, defaults to 2):
            Size of the label space. Kept as a plain field: no `id2label` map is built (label strings live in
            `label_vocabulary.json` next to the weights), so `config.json` stays small at 500K labels.
        label_cutoffs (`list[float | int]`, defaults to `[0.5, 0.5]`):
            Cluster sizes, head first: proportions summing to 1 (Table 2 of the paper), label counts summing to
            `num_labels`, or the reference code's increasing boundaries ending at `num_labels`.
        dim_decay_factor (`float`, defaults to 2.0):
            `q >= 1`: tail cluster i scores its labels from a `d_h // q**i`-dimensional projection.
        aplc_hidden_size (`int`, *optional*):
            `d_h`, width of the hidden (bottleneck) layer between the summary and APLC (§3.2); `None` means `d_model`.
        tail_projection (`str`, defaults to `"linear"`):
            `"linear"` (the paper; parameters exactly eq. 6) or `"layernorm_relu"` (the reference code).
        output_top_k (`int`, *optional*):
            When set, `forward` also returns `top_k_ids`/`top_k_scores` from the pruned top-k search.
        output_logits (`bool`, defaults to `True`):
            Return the dense `(batch, num_labels)` logits; turn off at very large `num_labels` (with `output_top_k`).
        top_k_beam (`int`, *optional*):
            Approximate top-k: visit at most this many tail clusters per example (`None` = exact).
        top_k_screening (`str`, defaults to `"auto"`):
            How the top-k search scores a cluster: `"auto"` (int8 screening with a proven error bound, then float32
            for the survivors, on CPU for clusters of 4,096+ labels; exact), `"int8"` or `"none"` (float32 only).
    """

    model_type = "xlnet_aplc"

    num_labels: int = 2
    label_cutoffs: list[float | int] | None = None
    dim_decay_factor: float | int = 2.0
    aplc_hidden_size: int | None = None
    tail_projection: str = "linear"
    output_top_k: int | None = None
    output_logits: bool = True
    top_k_beam: int | None = None
    top_k_screening: str = "auto"

    def __post_init__(self, **kwargs):
        if self.label_cutoffs is None:
            self.label_cutoffs = list(DEFAULT_LABEL_CUTOFFS)
        super().__post_init__(**kwargs)

    @property
    def cluster_sizes(self) -> list[int]:
        """Labels per cluster `[l_h, l_1, ..., l_K]` resolved from `label_cutoffs`."""
        return resolve_cluster_sizes(self.label_cutoffs, self.num_labels)

    def validate_aplc(self):
        """Part of `@strict` validation: the APLC fields."""
        resolve_cluster_sizes(self.label_cutoffs, self.num_labels)
        tail_dimensions(self.aplc_hidden_size or self.d_model, 0, self.dim_decay_factor)
        if self.summary_type not in ("last", "first", "mean"):
            raise ValueError(
                f"summary_type must be 'last', 'first' or 'mean' for XLNetWithAPLC, got {self.summary_type!r}"
            )
        if self.tail_projection not in TAIL_PROJECTIONS:
            raise ValueError(f"tail_projection must be one of {TAIL_PROJECTIONS}, got {self.tail_projection!r}")
        if self.aplc_hidden_size is not None and self.aplc_hidden_size < 1:
            raise ValueError(f"aplc_hidden_size must be positive, got {self.aplc_hidden_size}")
        if self.output_top_k is not None and not 1 <= self.output_top_k <= self.num_labels:
            raise ValueError(f"output_top_k must be in [1, num_labels={self.num_labels}], got {self.output_top_k}")
        if self.top_k_screening not in SCREENING_MODES:
            raise ValueError(f"top_k_screening must be one of {SCREENING_MODES}, got {self.top_k_screening!r}")
        if not self.output_logits and self.output_top_k is None:
            raise ValueError("output_logits=False needs output_top_k, or the model returns no scores at all")


__all__ = ["XLNetAPLCConfig"]
