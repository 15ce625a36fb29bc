"""Configuration of `BertGuideNetwork` (GUDN, Wang et al. 2022): a `BertConfig` plus the guide network's fields.

Imports only transformers and siblings, so `save_pretrained` copies it next to the weights (remote code).
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import BertConfig

from .screening import SCREENING_MODES

CLASSIFIER_ACTIVATIONS = ("none", "relu", "tanh", "softmax")
FEATURE_LOSS_SPACES = ("features", "pooler")
# The paper's BERT-base uses the [CLS] of the last 8 layers for texts and two more for label texts (§3.2).
PAPER_TEXT_FEATURE_LAYERS = 8
EXTRA_LABEL_FEATURE_LAYERS = 2
DEFAULT_SHORTLIST_CLUSTERS = 10


@strict
class BertGuideConfig(BertConfig):
    r"""
    A BERT (or MiniLM, or any BERT-architecture) encoder plus GUDN's feature extractor, guide network and ranking
    classifier. Every GUDN field has a default, so `BertGuideConfig(vocab_size=..., hidden_size=..., num_labels=...)`
    builds.

    Args:
        num_labels (`int`, defaults to 2):
            Size of the label space, a plain field without an `id2label` map (labels live in `label_vocabulary.json`).
        text_feature_layers (`int`, *optional*):
            How many of the last hidden states' [CLS] vectors are concatenated for texts (§3.2); default
            `min(8, num_hidden_layers - 1)` (at least 1): 8 for BERT-base as in the paper, 5 for MiniLM-L6.
        label_feature_layers (`int`, *optional*):
            The same for label texts; default two more than for texts (the paper), at most `num_hidden_layers + 1`.
        feature_size (`int`, *optional*):
            Width of the extracted features `E_t` and `E_l` (eq. 2); default `hidden_size * text_feature_layers`.
        feature_dropout (`float`, defaults to 0.5): the extractor's dropout (LightXML's high rate).
        classifier_hidden_size (`int`, *optional*):
            Width of `MLP_2` of the ranking classifier (eq. 6); `None` scores labels on `E_t` directly. Set it (e.g.
            300-500, LightXML) for large label sets: the classifier holds `num_labels x` this many weights.
        classifier_activation (`str`, defaults to `"none"`):
            `θ` of eq. 6 after `MLP_2`: `"none"` (LightXML's candidate head), `"relu"`, `"tanh"` or `"softmax"` (the
            paper's wording).
        class_loss_weight, feature_loss_weight, link_loss_weight (`float`, default 1.0 each):
            Weights of `L_class` (eq. 7), `L_feature` (eq. 3) and `L_link` (eq. 4) in the total loss (eq. 8). Both
            guide weights at 0 is the plain BERT classifier of the ablation (no label-text pass at all).
        feature_loss_stop_gradient (`bool`, defaults to `False`):
            Stop `L_feature`'s gradient into the label features (`E_l` a fixed target per step, as in
            distillation). The paper's MSE (`False`) pulls both sides: without the link loss nothing keeps `E_l`
            informative, and both extractors can shrink towards one constant.
        feature_loss_space (`str`, defaults to `"pooler"`):
            Where `L_feature` compares texts and label texts. `"pooler"`: BERT's pooler output (dense + tanh on the
            last layer's [CLS], loaded with the checkpoint), as the authors' code does; the MSE shapes the shared
            encoder without pulling the classifier's input (the pooler is a projection head used only by this loss).
            `"features"`: the extracted features `E_t` and `E_l` the classifier reads (eq. 3 as written); on debtags
            it costs ~10 P@1 (the MSE of dropout-noised features shrinks both extractors; README, GUDN ablation).
        num_label_clusters (`int`, defaults to 0):
            0: score every label (the paper's setting below ~30K labels). Otherwise the number of label clusters of
            the dynamic negative sampling (§3.4, LightXML); the assignment is set with
            `BertGuideNetwork.set_label_clusters` and saved with the weights.
        shortlist_clusters (`int`, *optional*):
            Clusters kept per text (LightXML's `candidates_topk`), at most `num_label_clusters`; default
            `min(10, num_label_clusters)`.
        output_top_k (`int`, *optional*): also return `top_k_ids`/`top_k_scores` from `forward`.
        output_logits (`bool`, defaults to `True`): return the dense `(batch, num_labels)` logits.
        max_score_elements (`int`, defaults to 2**24):
            The top-k search never holds a score matrix larger than this many elements: rows (and, beyond it,
            labels) are processed in blocks.
        top_k_screening (`str`, defaults to `"auto"`):
            Exact int8 screening of the dense top-k (`"auto"`: on CPU from 4,096 labels), `"int8"` or `"none"`.
    """

    model_type = "bert_guide"
    # Trainer's evaluation keeps only the logits (the loss terms and top-k tensors are not predictions).
    keys_to_ignore_at_inference = [
        "loss_class", "loss_feature", "loss_link", "cluster_logits", "top_k_scores", "top_k_ids",
    ]  # fmt: skip

    num_labels: int = 2
    text_feature_layers: int | None = None
    label_feature_layers: int | None = None
    feature_size: int | None = None
    feature_dropout: float | int = 0.5
    classifier_hidden_size: int | None = None
    classifier_activation: str = "none"
    class_loss_weight: float | int = 1.0
    feature_loss_weight: float | int = 1.0
    link_loss_weight: float | int = 1.0
    feature_loss_stop_gradient: bool = False
    feature_loss_space: str = "pooler"
    num_label_clusters: int = 0
    shortlist_clusters: int | None = None
    output_top_k: int | None = None
    output_logits: bool = True
    max_score_elements: int = 2**24
    top_k_screening: str = "auto"

    @property
    def num_text_feature_layers(self) -> int:
        if self.text_feature_layers is not None:
            return self.text_feature_layers
        return max(1, min(PAPER_TEXT_FEATURE_LAYERS, self.num_hidden_layers - 1))

    @property
    def num_label_feature_layers(self) -> int:
        if self.label_feature_layers is not None:
            return self.label_feature_layers
        return min(self.num_text_feature_layers + EXTRA_LABEL_FEATURE_LAYERS, self.num_hidden_layers + 1)

    @property
    def extracted_feature_size(self) -> int:
        return self.feature_size or self.hidden_size * self.num_text_feature_layers

    @property
    def uses_guides(self) -> bool:
        """Whether training needs the label-text pass (a guide loss has a non-zero weight)."""
        return self.feature_loss_weight > 0 or self.link_loss_weight > 0

    @property
    def uses_pooler(self) -> bool:
        """Whether the encoder keeps BERT's pooler: the feature loss is computed on its output."""
        return self.feature_loss_weight > 0 and self.feature_loss_space == "pooler"

    @property
    def num_shortlist_clusters(self) -> int:
        if self.shortlist_clusters is not None:
            return self.shortlist_clusters
        return min(DEFAULT_SHORTLIST_CLUSTERS, self.num_label_clusters)

    @property
    def uses_shortlist(self) -> bool:
        return self.num_label_clusters > 0

    def validate_bert_guide(self):
        """Part of `@strict` validation: the GUDN fields."""
        if isinstance(self.num_labels, bool) or self.num_labels < 1:
            raise ValueError(f"num_labels must be a positive int, got {self.num_labels!r}")
        available = self.num_hidden_layers + 1  # the embeddings' output and every layer's
        for name in ("text_feature_layers", "label_feature_layers"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= available:
                raise ValueError(
                    f"{name} must be between 1 and num_hidden_layers + 1 = {available} (hidden states with a [CLS] "
                    f"vector), got {value}"
                )
        for name in ("feature_size", "classifier_hidden_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be positive, got {value}")
        if not 0 <= self.feature_dropout < 1:
            raise ValueError(f"feature_dropout must be in [0, 1), got {self.feature_dropout}")
        if self.classifier_activation not in CLASSIFIER_ACTIVATIONS:
            raise ValueError(
                f"classifier_activation must be one of {CLASSIFIER_ACTIVATIONS}, got {self.classifier_activation!r}"
            )
        if self.feature_loss_space not in FEATURE_LOSS_SPACES:
            raise ValueError(
                f"feature_loss_space must be one of {FEATURE_LOSS_SPACES}, got {self.feature_loss_space!r}"
            )
        for name in ("class_loss_weight", "feature_loss_weight", "link_loss_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.class_loss_weight == 0:
            raise ValueError("class_loss_weight must be > 0: the ranking classifier is what predicts at inference")
        if not 0 <= self.num_label_clusters <= self.num_labels:
            raise ValueError(
                f"num_label_clusters must be between 0 (no shortlist) and num_labels={self.num_labels}, got "
                f"{self.num_label_clusters}"
            )
        if self.uses_shortlist and not 1 <= self.num_shortlist_clusters <= self.num_label_clusters:
            raise ValueError(
                f"shortlist_clusters={self.shortlist_clusters} must be between 1 and the number of label clusters "
                f"({self.num_label_clusters}): a text cannot keep more clusters than there are"
            )
        if self.output_top_k is not None and not 1 <= self.output_top_k <= self.num_labels:
            raise ValueError(f"output_top_k must be in [1, num_labels={self.num_labels}], got {self.output_top_k}")
        if not self.output_logits and self.output_top_k is None:
            raise ValueError("output_logits=False needs output_top_k, or the model returns no scores at all")
        if self.max_score_elements < 1:
            raise ValueError(f"max_score_elements must be positive, got {self.max_score_elements}")
        if self.top_k_screening not in SCREENING_MODES:
            raise ValueError(f"top_k_screening must be one of {SCREENING_MODES}, got {self.top_k_screening!r}")


__all__ = ["BertGuideConfig"]
