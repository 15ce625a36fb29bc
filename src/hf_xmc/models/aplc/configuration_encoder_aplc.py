"""Configuration of `EncoderWithAPLC`: any AutoModel encoder + the APLC head. Imports only transformers + siblings."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from .aplc import DEFAULT_LABEL_CUTOFFS, TAIL_PROJECTIONS, resolve_cluster_sizes, tail_dimensions
from .heads import POOLING_MODES
from .screening import SCREENING_MODES


@strict
class EncoderAPLCConfig(PreTrainedConfig):
    r"""
    An encoder config (BERT, MiniLM, RoBERTa, ... held as the sub-config `encoder`) plus the APLC head.

    Args:
        encoder (`PreTrainedConfig` or `dict`, *optional*):
            The encoder's config; a dict needs its `model_type` (default `"bert"`).
        num_labels (`int`, defaults to 2):
            Size of the label space, a plain field without an `id2label` map (labels live in `label_vocabulary.json`).
        pooling (`str`, defaults to `"mean"`):
            `"mean"` (masked mean, as sentence-transformers' all-MiniLM-L6-v2), `"cls"` (first token) or `"last"`.
        label_cutoffs (`list[float | int]`, defaults to `[0.5, 0.5]`):
            Cluster sizes, head first: proportions summing to 1, counts summing to `num_labels`, or increasing
            boundaries ending at `num_labels`.
        dim_decay_factor (`float`, defaults to 2.0): `q >= 1`.
        aplc_hidden_size (`int`, *optional*): `d_h` of the hidden layer; `None` means the encoder's hidden size.
        hidden_dropout (`float`, defaults to 0.1): dropout after the hidden layer.
        tail_projection (`str`, defaults to `"linear"`): `"linear"` (eq. 6) or `"layernorm_relu"` (reference code).
        output_top_k (`int`, *optional*): also return `top_k_ids`/`top_k_scores` from `forward`.
        output_logits (`bool`, defaults to `True`): return the dense `(batch, num_labels)` logits.
        top_k_beam (`int`, *optional*): approximate top-k, at most this many tail clusters per example.
        initializer_range (`float`, defaults to 0.02): std of the head's initial weights.
        top_k_screening (`str`, defaults to `"auto"`):
            How the top-k search scores a cluster: `"auto"` (int8 screening with a proven error bound, then float32
            for the survivors, on CPU for clusters of 4,096+ labels; exact), `"int8"` or `"none"` (float32 only).
    """

    model_type = "encoder_aplc"
    sub_configs_defaults = {"encoder": SubConfigSpec(config_class=AutoConfig, model_type="bert")}

    encoder: PreTrainedConfig | dict | None = None
    num_labels: int = 2
    pooling: str = "mean"
    label_cutoffs: list[float | int] | None = None
    dim_decay_factor: float | int = 2.0
    aplc_hidden_size: int | None = None
    hidden_dropout: float | int = 0.1
    tail_projection: str = "linear"
    output_top_k: int | None = None
    output_logits: bool = True
    top_k_beam: int | None = None
    top_k_screening: str = "auto"
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        if self.label_cutoffs is None:
            self.label_cutoffs = list(DEFAULT_LABEL_CUTOFFS)
        super().__post_init__(**kwargs)

    @classmethod
    def from_encoder_config(cls, encoder_config: PreTrainedConfig, **kwargs) -> EncoderAPLCConfig:
        """Builds the config around an existing encoder config; `kwargs` set the APLC fields."""
        return cls(encoder=encoder_config.to_dict(), **kwargs)

    @property
    def cluster_sizes(self) -> list[int]:
        """Labels per cluster `[l_h, l_1, ..., l_K]` resolved from `label_cutoffs`."""
        return resolve_cluster_sizes(self.label_cutoffs, self.num_labels)

    @property
    def encoder_hidden_size(self) -> int:
        return self.encoder.hidden_size

    def validate_aplc(self):
        """Part of `@strict` validation: the APLC fields."""
        resolve_cluster_sizes(self.label_cutoffs, self.num_labels)
        tail_dimensions(1, 0, self.dim_decay_factor)
        if self.pooling not in POOLING_MODES:
            raise ValueError(f"pooling must be one of {POOLING_MODES}, got {self.pooling!r}")
        if self.tail_projection not in TAIL_PROJECTIONS:
            raise ValueError(f"tail_projection must be one of {TAIL_PROJECTIONS}, got {self.tail_projection!r}")
        if self.aplc_hidden_size is not None and self.aplc_hidden_size < 1:
            raise ValueError(f"aplc_hidden_size must be positive, got {self.aplc_hidden_size}")
        if not 0 <= self.hidden_dropout < 1:
            raise ValueError(f"hidden_dropout must be in [0, 1), got {self.hidden_dropout}")
        if self.output_top_k is not None and not 1 <= self.output_top_k <= self.num_labels:
            raise ValueError(f"output_top_k must be in [1, num_labels={self.num_labels}], got {self.output_top_k}")
        if self.top_k_screening not in SCREENING_MODES:
            raise ValueError(f"top_k_screening must be one of {SCREENING_MODES}, got {self.top_k_screening!r}")
        if not self.output_logits and self.output_top_k is None:
            raise ValueError("output_logits=False needs output_top_k, or the model returns no scores at all")


__all__ = ["EncoderAPLCConfig"]
