"""Configuration of `ShortlistRanker`: an encoder, a label-text-initialised classifier and a fusion over shortlisted
labels. Imports only transformers (copied next to the weights by `save_pretrained`)."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

POOLING_MODES = ("mean", "cls")
# The per-candidate features the fusion weighs, in this order (see `ShortlistRanker.candidate_features`).
FUSION_FEATURES = ("classifier_logit", "dense_similarity", "sparse_score", "in_sparse_shortlist", "label_log_prior")


@strict
class ShortlistRankerConfig(PreTrainedConfig):
    r"""
    A shortlist-and-rank model: labels are first shortlisted (by a sparse model outside the network, by the label-text
    similarity and by the classifier itself), then only the shortlisted labels are scored and re-ranked.

    Args:
        encoder (`PreTrainedConfig` or `dict`, *optional*): the text encoder's config (default `model_type` `"bert"`).
        num_labels (`int`, defaults to 2): size of the label space (labels live in `label_vocabulary.json`).
        pooling (`str`, defaults to `"mean"`): `"mean"` (masked mean, sentence-transformers) or `"cls"`.
        classifier_shortlist_size (`int`, defaults to 50): labels the classifier's own top scores add to a shortlist.
        dense_shortlist_size (`int`, defaults to 50): labels the label-text similarity adds to a shortlist.
        label_chunk_size (`int`, defaults to 8192): labels scored at once when shortlisting, so memory stays
            `batch x label_chunk_size` however many labels there are.
        output_top_k (`int`, defaults to 5): labels `forward` returns per text.
        sparse_shortlist_folder (`str`, *optional*): sub-folder of the checkpoint with the sparse model that
            shortlists labels from the text (read by `hf_xmc.shortlist`; the network only needs its scores).
        fusion_features (`list[str]`): names of the fused features (informational; fixed by the code).
        initializer_range (`float`, defaults to 0.02): std of a classifier not initialised from label texts.
    """

    model_type = "shortlist_ranker"
    sub_configs_defaults = {"encoder": SubConfigSpec(config_class=AutoConfig, model_type="bert")}

    encoder: PreTrainedConfig | dict | None = None
    num_labels: int = 2
    pooling: str = "mean"
    classifier_shortlist_size: int = 50
    dense_shortlist_size: int = 50
    label_chunk_size: int = 8192
    output_top_k: int = 5
    sparse_shortlist_folder: str | None = None
    fusion_features: list[str] | None = None
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        self.fusion_features = list(FUSION_FEATURES)
        super().__post_init__(**kwargs)

    @classmethod
    def from_encoder_config(cls, encoder_config: PreTrainedConfig, **kwargs) -> ShortlistRankerConfig:
        """Builds the config around an existing encoder config; `kwargs` set the ranker's fields."""
        return cls(encoder=encoder_config.to_dict(), **kwargs)

    def validate_shortlist_ranker(self):
        """Part of `@strict` validation."""
        if self.pooling not in POOLING_MODES:
            raise ValueError(f"pooling must be one of {POOLING_MODES}, got {self.pooling!r}")
        if self.num_labels < 1:
            raise ValueError(f"num_labels must be positive, got {self.num_labels}")
        for name in ("classifier_shortlist_size", "dense_shortlist_size"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.label_chunk_size < 1:
            raise ValueError(f"label_chunk_size must be positive, got {self.label_chunk_size}")
        if self.output_top_k < 1:  # more than the shortlist holds is padded with -1 ids
            raise ValueError(f"output_top_k must be >= 1, got {self.output_top_k}")


__all__ = ["ShortlistRankerConfig"]
