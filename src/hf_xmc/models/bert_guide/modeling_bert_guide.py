"""GUDN (Wang et al., 2022): one BERT shared by texts and label texts, a feature extractor (§3.2), the guide network
(§3.3: feature loss, eq. 3, and link loss, eq. 4), the ranking classifier (§3.4, eq. 6-7) with LightXML's dynamic
negative sampling for large label sets, and the total loss of eq. 8.

At inference only the text path runs. Imports only torch, transformers and siblings, so `save_pretrained` copies it
next to the weights and `AutoModel.from_pretrained(path, trust_remote_code=True)` works without hf-xmc installed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import BertModel
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.models.bert.modeling_bert import BertPreTrainedModel

from .configuration_bert_guide import BertGuideConfig
from .label_shortlist import (
    BiasedScreenCache,
    candidate_logits,
    cluster_members,
    clustered_logits,
    dense_top_k,
    label_id_lists,
    masked_bce,
    multi_hot_targets,
    shortlist_candidates,
    shortlist_top_k,
)

AUTO_MAP = {
    "AutoConfig": "configuration_bert_guide.BertGuideConfig",
    "AutoModel": "modeling_bert_guide.BertGuideNetwork",
    "AutoModelForSequenceClassification": "modeling_bert_guide.BertGuideNetwork",
}


@dataclass
class BertGuideOutput(SequenceClassifierOutput):
    r"""
    loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
        `class_loss_weight * loss_class + feature_loss_weight * loss_feature + link_loss_weight * loss_link` (eq. 8).
    logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`, *optional*):
        Label logits in label-id order; `sigmoid(logits)` is the label probability (with clusters: label probability
        x cluster probability).
    loss_class (`torch.FloatTensor` of shape `()`, *optional*): the ranking classifier's BCE (eq. 7; with clusters,
        candidate BCE + cluster BCE).
    loss_feature (`torch.FloatTensor` of shape `()`, *optional*): MSE between text and label-text features (eq. 3),
        training only.
    loss_link (`torch.FloatTensor` of shape `()`, *optional*): the classifier's BCE from the label-text features
        (eq. 4), training only.
    cluster_logits (`torch.FloatTensor` of shape `(batch_size, num_label_clusters)`, *optional*): with clusters.
    top_k_scores (`torch.FloatTensor` of shape `(batch_size, k)`, *optional*): logits of the `k` best labels.
    top_k_ids (`torch.LongTensor` of shape `(batch_size, k)`, *optional*): their label ids, best first.
    """

    loss_class: torch.FloatTensor | None = None
    loss_feature: torch.FloatTensor | None = None
    loss_link: torch.FloatTensor | None = None
    cluster_logits: torch.FloatTensor | None = None
    top_k_scores: torch.FloatTensor | None = None
    top_k_ids: torch.LongTensor | None = None


class GuideFeatureExtractor(nn.Module):
    """Eq. 2: `E = W_e ReLU(Dropout(f)) + b_e`, `f` the [CLS] vectors of the last `num_layers` hidden states."""

    def __init__(self, hidden_size: int, num_layers: int, feature_size: int, dropout: float):
        super().__init__()
        self.num_layers = num_layers
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(hidden_size * num_layers, feature_size)

    def forward(self, hidden_states: tuple[torch.Tensor, ...]) -> torch.Tensor:
        cls_vectors = torch.cat([hidden_states[-i][:, 0] for i in range(1, self.num_layers + 1)], dim=-1)
        return self.dense(torch.relu(self.dropout(cls_vectors)))


class RankingClassifier(nn.Module):
    """Eq. 6: `y' = W_c θ(W_1 E_t + b_1)`; without `MLP_2` (`hidden_size=None`) the classifier reads `E_t`.
    With clusters, `cluster_scorer` ranks the label clusters from `E_t` (LightXML's meta-classifier)."""

    def __init__(self, config: BertGuideConfig):
        super().__init__()
        feature_size = config.extracted_feature_size
        hidden_size = config.classifier_hidden_size
        self.hidden = nn.Linear(feature_size, hidden_size) if hidden_size else None
        self.activation = config.classifier_activation
        self.output = nn.Linear(hidden_size or feature_size, config.num_labels)
        self.cluster_scorer = nn.Linear(feature_size, config.num_label_clusters) if config.uses_shortlist else None

    def label_features(self, features: torch.Tensor) -> torch.Tensor:
        """`θ(W_1 E + b_1)`: what `output` scores labels against, `(batch, hidden)`."""
        if self.hidden is None:
            return features
        hidden = self.hidden(features)
        if self.activation == "relu":
            return torch.relu(hidden)
        if self.activation == "tanh":
            return torch.tanh(hidden)
        if self.activation == "softmax":
            return torch.softmax(hidden, dim=-1)
        return hidden


class LabelClusters(nn.Module):
    """The cluster of every label (a saved buffer) and, derived from it, the labels of every cluster."""

    def __init__(self, num_labels: int, num_clusters: int):
        super().__init__()
        self.num_clusters = num_clusters
        self.register_buffer("label_to_cluster", torch.zeros(num_labels, dtype=torch.long))
        self._members_key = None
        self._members = None

    def reset_parameters(self) -> None:
        """Contiguous equal blocks of label ids until `set_label_clusters` gives the real assignment."""
        num_labels = self.label_to_cluster.numel()
        blocks = torch.arange(num_labels, device=self.label_to_cluster.device) * self.num_clusters // num_labels
        init.copy_(self.label_to_cluster, blocks)

    def members(self) -> torch.Tensor:
        key = (self.label_to_cluster.data_ptr(), self.label_to_cluster._version, self.label_to_cluster.device)
        if self._members_key != key:
            self._members_key, self._members = key, cluster_members(self.label_to_cluster, self.num_clusters)
        return self._members


class BertGuideNetwork(BertPreTrainedModel):
    """GUDN for extreme multi-label text classification.

    Start from any BERT-architecture checkpoint with `BertGuideNetwork.from_pretrained(bert_path, num_labels=...)`
    (the heads are new), give large label sets clusters with `set_label_clusters`, reload a fine-tuned model with
    `AutoModel.from_pretrained(checkpoint)`. Training batches carry the label texts of each document as
    `guide_input_ids` (see hf-xmc's `GUDNDataCollator`, which also applies the label reinforcement of §3.5).
    """

    config_class = BertGuideConfig
    base_model_prefix = "bert"
    # The loss is already a batch mean: Trainer must not rescale it for gradient accumulation / DDP.
    accepts_loss_kwargs = False

    def __init__(self, config: BertGuideConfig):
        super().__init__(config)
        # The pooler (dense + tanh on the last [CLS]) only serves `feature_loss_space="pooler"`.
        self.bert = BertModel(config, add_pooling_layer=config.uses_pooler)
        feature_size = config.extracted_feature_size
        self.text_extractor = GuideFeatureExtractor(
            config.hidden_size, config.num_text_feature_layers, feature_size, config.feature_dropout
        )
        # The label texts get their own W_e: with more [CLS] layers (§3.2) their input is wider than the texts'.
        self.label_extractor = (
            GuideFeatureExtractor(
                config.hidden_size, config.num_label_feature_layers, feature_size, config.feature_dropout
            )
            if config.uses_guides
            else None
        )
        self.classifier = RankingClassifier(config)
        self.label_clusters = (
            LabelClusters(config.num_labels, config.num_label_clusters) if config.uses_shortlist else None
        )
        self._screen_cache = BiasedScreenCache()
        config.auto_map = dict(AUTO_MAP)
        self.post_init()

    def _init_weights(self, module):
        if isinstance(module, LabelClusters):
            module.reset_parameters()
            return
        super()._init_weights(module)

    def get_input_embeddings(self):
        return self.bert.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.bert.set_input_embeddings(value)

    def set_label_clusters(self, label_to_cluster) -> None:
        """Sets the cluster of every label, e.g. `balanced_label_clusters(pifa_label_features(...))`.

        Args:
            label_to_cluster (array-like of `num_labels` ints in `[0, num_label_clusters)`, every cluster used).
        """
        if self.label_clusters is None:
            raise ValueError("this model has no label clusters: build it with num_label_clusters > 0")
        assignment = torch.as_tensor(label_to_cluster, dtype=torch.long).flatten()
        num_labels, num_clusters = self.config.num_labels, self.config.num_label_clusters
        if assignment.numel() != num_labels:
            raise ValueError(f"got clusters for {assignment.numel()} labels, the model has {num_labels}")
        if assignment.numel() and (int(assignment.min()) < 0 or int(assignment.max()) >= num_clusters):
            raise ValueError(
                f"cluster ids must be in [0, {num_clusters}), got [{assignment.min()}, {assignment.max()}]"
            )
        sizes = torch.bincount(assignment, minlength=num_clusters)
        if bool((sizes == 0).any()):
            raise ValueError(f"clusters {torch.nonzero(sizes == 0).flatten()[:5].tolist()} have no label")
        with torch.no_grad():
            self.label_clusters.label_to_cluster.copy_(assignment.to(self.label_clusters.label_to_cluster.device))

    def _encode(self, extractor, input_ids, attention_mask, token_type_ids, inputs_embeds=None, **kwargs):
        outputs = self.bert(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            inputs_embeds=inputs_embeds,
            output_hidden_states=True,
            return_dict=True,
            **kwargs,
        )
        return extractor(outputs.hidden_states), outputs

    def _class_loss(self, features, label_ids, candidates=None, row_weights=None):
        """BCE of the classifier from `features` (`E_t` or `E_l`); with clusters over the shortlist, which is
        built from these features unless `candidates` is given. Returns `(loss, candidates, cluster_logits)`."""
        classifier = self.classifier
        scored = classifier.label_features(features)
        if self.label_clusters is None:
            logits = classifier.output(scored)
            per_row = masked_bce(logits, multi_hot_targets(label_ids, self.config.num_labels, logits.dtype))
            return _weighted_mean(per_row, row_weights), None, None
        cluster_logits = classifier.cluster_scorer(features)
        positive_clusters = multi_hot_targets(
            _map_ids(label_ids, self.label_clusters.label_to_cluster), self.config.num_label_clusters, torch.bool
        )
        if candidates is None:
            candidates, _ = shortlist_candidates(
                cluster_logits, self.label_clusters.members(), self.config.num_shortlist_clusters, positive_clusters
            )
        logits = candidate_logits(scored, classifier.output.weight, classifier.output.bias, candidates)
        valid = candidates >= 0
        targets = ((candidates[:, :, None] == label_ids[:, None, :]) & valid[:, :, None]).any(-1).to(logits.dtype)
        per_row = masked_bce(logits, targets, valid) + masked_bce(cluster_logits, positive_clusters.to(logits.dtype))
        return _weighted_mean(per_row, row_weights), candidates, cluster_logits

    def dense_logits(self, features: torch.Tensor, cluster_logits: torch.Tensor | None = None) -> torch.Tensor:
        """`(batch, num_labels)` logits of the text features `E_t` (with clusters: of label x cluster probability)."""
        logits = self.classifier.output(self.classifier.label_features(features))
        if self.label_clusters is None:
            return logits
        if cluster_logits is None:
            cluster_logits = self.classifier.cluster_scorer(features)
        return clustered_logits(logits, cluster_logits, self.label_clusters.label_to_cluster)

    def top_k(self, features: torch.Tensor, k: int, shortlist_clusters: int | None = None):
        """`(scores, ids)` of the `k` best labels for the text features `E_t` `(batch, feature_size)`, exactly (the
        dense path) or over the `shortlist_clusters` best clusters (more when they could hold fewer than `k`
        labels); never more than `max_score_elements` scores at once."""
        if not 1 <= k <= self.config.num_labels:
            raise ValueError(f"top_k must be in [1, num_labels={self.config.num_labels}], got {k}")
        classifier = self.classifier
        scored = classifier.label_features(features).detach()
        weight, bias = classifier.output.weight.detach(), classifier.output.bias.detach()
        if self.label_clusters is None:
            return dense_top_k(
                scored,
                weight,
                bias,
                k,
                self.config.max_score_elements,
                self.config.top_k_screening,
                self._screen_cache,
            )
        num_kept = shortlist_clusters or self.config.num_shortlist_clusters
        if not 1 <= num_kept <= self.config.num_label_clusters:
            raise ValueError(
                f"shortlist_clusters={num_kept} must be between 1 and the number of label clusters "
                f"({self.config.num_label_clusters})"
            )
        # enough clusters to hold k labels whichever are kept (the shortlist widens for a large k)
        smallest_first = torch.bincount(self.label_clusters.label_to_cluster).sort().values
        num_kept = max(num_kept, int((smallest_first.cumsum(0) < k).sum()) + 1)
        cluster_logits = classifier.cluster_scorer(features).detach()
        return shortlist_top_k(
            scored, cluster_logits, weight, bias, self.label_clusters.members(), num_kept, k,
            self.config.max_score_elements,
        )  # fmt: skip

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        guide_input_ids: torch.Tensor | None = None,
        guide_attention_mask: torch.Tensor | None = None,
        guide_token_type_ids: torch.Tensor | None = None,
        guide_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        top_k: int | None = None,
        shortlist_clusters: int | None = None,
        return_logits: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
    ) -> BertGuideOutput:
        r"""
        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, seq_len)`): the documents' token ids.
            attention_mask (`torch.Tensor` of shape `(batch_size, seq_len)`, *optional*): 1 for real tokens.
            token_type_ids (`torch.LongTensor` of shape `(batch_size, seq_len)`, *optional*)
            labels (`torch.Tensor`, *optional*): label ids `(batch_size, max_labels)` padded with negative values, or
                multi-hot floats `(batch_size, num_labels)`; gives the losses.
            guide_input_ids (`torch.LongTensor` of shape `(batch_size, label_seq_len)`, *optional*): each document's
                label texts (reinforced), for the guide losses while training.
            guide_attention_mask, guide_token_type_ids (*optional*): their mask and token types.
            guide_mask (`torch.Tensor` of shape `(batch_size,)`, *optional*): 0 for documents without label text
                (no labels), left out of the guide losses.
            top_k (`int`, *optional*): also return the `top_k` best labels; default `config.output_top_k`.
            shortlist_clusters (`int`, *optional*): clusters searched by `top_k`; default the config's.
            return_logits (`bool`, *optional*): return dense logits; default `config.output_logits`.
        """
        config = self.config
        extra = {"output_attentions": True} if output_attentions else {}
        text_features, outputs = self._encode(
            self.text_extractor, input_ids, attention_mask, token_type_ids, inputs_embeds, **extra
        )
        loss = loss_class = loss_feature = loss_link = cluster_logits = None
        if labels is not None:
            label_ids = label_id_lists(labels, config.num_labels)
            loss_class, candidates, cluster_logits = self._class_loss(text_features, label_ids)
            loss = config.class_loss_weight * loss_class
            if self.training and config.uses_guides:
                if guide_input_ids is None:
                    raise ValueError(
                        "GUDN's guide losses need each document's label texts as `guide_input_ids`: batch with "
                        "hf_xmc's GUDNDataCollator, or set feature_loss_weight = link_loss_weight = 0 (plain BERT)"
                    )
                label_features, label_outputs = self._encode(
                    self.label_extractor, guide_input_ids, guide_attention_mask, guide_token_type_ids
                )
                rows = None if guide_mask is None else guide_mask.to(text_features.dtype)
                if config.uses_pooler:
                    compared, target = outputs.pooler_output, label_outputs.pooler_output
                else:
                    compared, target = text_features, label_features
                target = target.detach() if config.feature_loss_stop_gradient else target
                loss_feature = _weighted_mean((compared - target).pow(2).mean(-1), rows)
                loss_link, _, _ = self._class_loss(label_features, label_ids, candidates, rows)
                loss = loss + config.feature_loss_weight * loss_feature + config.link_loss_weight * loss_link
        return_logits = config.output_logits if return_logits is None else return_logits
        top_k = config.output_top_k if top_k is None else top_k
        logits = self.dense_logits(text_features, cluster_logits) if return_logits else None
        top_k_scores = top_k_ids = None
        if top_k:
            top_k_scores, top_k_ids = self.top_k(text_features.detach(), top_k, shortlist_clusters)
        return BertGuideOutput(
            loss=loss,
            logits=logits,
            loss_class=loss_class,
            loss_feature=loss_feature,
            loss_link=loss_link,
            cluster_logits=cluster_logits,
            top_k_scores=top_k_scores,
            top_k_ids=top_k_ids,
            hidden_states=outputs.hidden_states if output_hidden_states else None,
            attentions=getattr(outputs, "attentions", None),
        )


def _map_ids(ids: torch.Tensor, mapping: torch.Tensor) -> torch.Tensor:
    """`mapping[ids]` keeping the -1 pads."""
    return mapping[ids.clamp(min=0)].masked_fill(ids < 0, -1)


def _weighted_mean(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    if weights is None:
        return values.mean()
    return (values * weights).sum() / weights.sum().clamp(min=1)


__all__ = ["BertGuideNetwork", "BertGuideOutput"]
