"""Shortlist and rank (the SiameseXML / NGAME / XR-Transformer recipe on the Hugging Face stack).

A text is encoded once; labels are shortlisted from three sources — a sparse model's candidates passed in as
`candidate_ids` / `candidate_scores` (TF-IDF trees live outside the network), the labels whose text embedding is
closest to the text, and the classifier's own best labels — and only the shortlisted labels are scored: classifier
logit, label-text similarity, sparse score, "was in the sparse shortlist", log prior. A linear fusion, fitted on a
validation split, weighs them. Training sees the tail: the loss is BCE over the shortlist (hard negatives), with the
gold labels added back where the shortlist missed them. Memory is bounded by `batch x label_chunk_size` (shortlisting)
and `batch x candidates x hidden` (scoring): no `(batch, num_labels)` matrix is ever formed.

Imports only torch, transformers and its sibling, so `save_pretrained` copies it next to the weights and
`AutoModel.from_pretrained(path, trust_remote_code=True)` works without hf-xmc installed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers import AutoConfig, AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput

from .configuration_shortlist_ranker import FUSION_FEATURES, ShortlistRankerConfig

AUTO_MAP = {
    "AutoConfig": "configuration_shortlist_ranker.ShortlistRankerConfig",
    "AutoModel": "modeling_shortlist_ranker.ShortlistRanker",
    "AutoModelForSequenceClassification": "modeling_shortlist_ranker.ShortlistRanker",
}


@dataclass
class ShortlistRankerOutput(SequenceClassifierOutput):
    r"""
    loss (`torch.FloatTensor`, *optional*): BCE of the classifier logits over the shortlist (when `labels` is given).
    logits: always `None` (the model scores shortlisted labels only; see `candidate_scores`).
    top_k_scores (`torch.FloatTensor` of shape `(batch_size, k)`): fused logits of the `k` best labels, best first.
    top_k_ids (`torch.LongTensor` of shape `(batch_size, k)`): their label ids (-1 where fewer were shortlisted).
    candidate_ids (`torch.LongTensor` of shape `(batch_size, num_candidates)`): the shortlist, -1 for padding.
    candidate_scores (`torch.FloatTensor` of shape `(batch_size, num_candidates)`): fused logits, `-inf` on padding.
    candidate_features (`torch.FloatTensor` of shape `(batch_size, num_candidates, len(FUSION_FEATURES))`, *optional*)
    """

    top_k_scores: torch.FloatTensor | None = None
    top_k_ids: torch.LongTensor | None = None
    candidate_ids: torch.LongTensor | None = None
    candidate_scores: torch.FloatTensor | None = None
    candidate_features: torch.FloatTensor | None = None


class LabelClassifier(nn.Module):
    """One weight vector and bias per label, scored only for the labels asked for (`score`) or by chunks (`top_k`)."""

    def __init__(self, num_labels: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_labels, dim))
        self.bias = nn.Parameter(torch.empty(num_labels))

    def score(self, documents: torch.Tensor, label_ids: torch.Tensor) -> torch.Tensor:
        """Logits `(batch, candidates)` of `label_ids` `(batch, candidates)` (ids >= 0) for `documents` `(batch, d)`."""
        weights = F.embedding(label_ids, self.weight)
        return torch.einsum("bcd,bd->bc", weights, documents) + F.embedding(label_ids, self.bias[:, None])[..., 0]


class LabelTextEmbeddings(nn.Module):
    """Frozen, unit-norm label-text embeddings `(num_labels, d)` and log label priors `(num_labels,)` (buffers)."""

    def __init__(self, num_labels: int, dim: int):
        super().__init__()
        self.register_buffer("embeddings", torch.zeros(num_labels, dim))
        self.register_buffer("log_prior", torch.zeros(num_labels))


class FusionScorer(nn.Module):
    """A linear score over the candidate features; starts as "the classifier logit alone"."""

    def __init__(self, num_features: int):
        super().__init__()
        # plain parameters, not an nn.Linear: the encoder's `_init_weights` would re-initialise a Linear child
        self.weight = nn.Parameter(torch.empty(num_features))
        self.bias = nn.Parameter(torch.empty(()))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features @ self.weight + self.bias


def chunked_top_k(
    queries: torch.Tensor, weight: torch.Tensor, k: int, chunk_size: int, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """Ids `(batch, k)` of the `k` largest `queries @ weight.T (+ bias)`, scoring `chunk_size` labels at a time.

    Exact; memory `batch x (chunk_size + k)`. (The model's own fallback shortlist; a faiss index outside the network
    can pass its candidates instead.)
    """
    batch = queries.shape[0]
    best_scores = queries.new_empty(batch, 0)
    best_ids = torch.empty(batch, 0, dtype=torch.long, device=queries.device)
    for start in range(0, weight.shape[0], chunk_size):
        scores = queries @ weight[start : start + chunk_size].T
        if bias is not None:
            scores = scores + bias[start : start + chunk_size]
        scores, ids = scores.topk(min(k, scores.shape[1]), dim=1)
        best_scores = torch.cat([best_scores, scores], dim=1)
        best_ids = torch.cat([best_ids, ids + start], dim=1)
        best_scores, order = best_scores.topk(min(k, best_scores.shape[1]), dim=1)
        best_ids = best_ids.gather(1, order)
    return best_ids


def merge_shortlists(
    num_labels: int, id_groups: list[torch.Tensor], sparse_scores: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Union of several `(batch, c_i)` id tensors (-1 = padding), each label once per row.

    The first group is the sparse shortlist when `sparse_scores` `(batch, c_0)` is given: its scores follow the ids.

    Returns:
        `ids` `(batch, sum c_i)` (-1 on padding and duplicates), `sparse` `(batch, sum c_i)` (the sparse score, 0 for
        labels the sparse model did not shortlist), `in_sparse` `(batch, sum c_i)` (1.0 for labels it did) and
        `source` `(batch, sum c_i)` (the first group each label came from).
    """
    ids = torch.cat(id_groups, dim=1).long()
    sparse = torch.zeros(ids.shape, dtype=torch.float32, device=ids.device)
    in_sparse = torch.zeros_like(sparse)
    if sparse_scores is not None:
        width = id_groups[0].shape[1]
        sparse[:, :width] = sparse_scores.float()
        in_sparse[:, :width] = (id_groups[0] >= 0).float()
    source = torch.cat([torch.full_like(group, index) for index, group in enumerate(id_groups)], dim=1).long()
    key = torch.where(ids >= 0, ids, torch.full_like(ids, num_labels))
    key, order = key.sort(dim=1, stable=True)  # stable: a label keeps its first group's entry (and sparse score)
    duplicate = torch.zeros_like(key, dtype=torch.bool)
    duplicate[:, 1:] = key[:, 1:] == key[:, :-1]
    valid = (key < num_labels) & ~duplicate
    ids = torch.where(valid, key, torch.full_like(key, -1))
    return ids, sparse.gather(1, order) * valid, in_sparse.gather(1, order) * valid, source.gather(1, order)


class ShortlistRanker(PreTrainedModel):
    """An encoder whose labels are shortlisted, then scored and fused (see the module docstring).

    Build one with `ShortlistRanker.from_encoder_pretrained(path, num_labels=...)`, set its label-text embeddings
    with `hf_xmc.shortlist.init_ranker_from_label_text`, reload a trained one with `AutoModel.from_pretrained`.
    """

    config_class = ShortlistRankerConfig
    base_model_prefix = "encoder"
    # The loss is already a mean: Trainer must not rescale it for gradient accumulation / DDP.
    accepts_loss_kwargs = False
    supports_gradient_checkpointing = True
    _supports_sdpa = True

    def __init__(self, config: ShortlistRankerConfig):
        super().__init__(config)
        hidden_size = config.encoder.hidden_size
        self.encoder = AutoModel.from_config(config.encoder)
        self.classifier = LabelClassifier(config.num_labels, hidden_size)
        self.label_text = LabelTextEmbeddings(config.num_labels, hidden_size)
        self.fusion = FusionScorer(len(FUSION_FEATURES))
        config.auto_map = dict(AUTO_MAP)
        # Filled during training: how often the shortlist missed every gold label (a plain attribute, not state).
        self.shortlist_stats = {"documents": 0, "documents_without_shortlisted_positive": 0, "positives_added": 0}
        self.post_init()

    def _init_weights(self, module):
        if isinstance(module, LabelClassifier):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            init.zeros_(module.bias)
        elif isinstance(module, LabelTextEmbeddings):
            init.zeros_(module.embeddings)
            init.zeros_(module.log_prior)
        elif isinstance(module, FusionScorer):
            weight = torch.zeros(len(FUSION_FEATURES))
            weight[FUSION_FEATURES.index("classifier_logit")] = 1.0
            init.copy_(module.weight, weight)
            init.zeros_(module.bias)
        else:
            encoder = getattr(self, "encoder", None)
            if isinstance(encoder, PreTrainedModel):
                encoder._init_weights(module)
            else:
                super()._init_weights(module)

    @classmethod
    def from_encoder_pretrained(
        cls, encoder_name_or_path: str | os.PathLike, num_labels: int, **config_kwargs
    ) -> ShortlistRanker:
        """A new ranker on top of pretrained encoder weights (a local folder or Hub repo id)."""
        encoder = AutoModel.from_pretrained(encoder_name_or_path)
        encoder_config = AutoConfig.from_pretrained(encoder_name_or_path)
        config = ShortlistRankerConfig.from_encoder_config(encoder_config, num_labels=num_labels, **config_kwargs)
        model = cls(config)
        model.encoder.load_state_dict(encoder.state_dict())
        return model

    def get_input_embeddings(self):
        return self.encoder.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.encoder.set_input_embeddings(value)

    def encode(self, input_ids=None, attention_mask=None, token_type_ids=None, inputs_embeds=None) -> torch.Tensor:
        """Unit-norm text embeddings `(batch, hidden)` (the encoder, pooled as `config.pooling`)."""
        return F.normalize(self.pool(input_ids, attention_mask, token_type_ids, inputs_embeds), dim=-1)

    def pool(self, input_ids=None, attention_mask=None, token_type_ids=None, inputs_embeds=None) -> torch.Tensor:
        """Pooled, not normalised, text embeddings `(batch, hidden)`."""
        kwargs = {"attention_mask": attention_mask, "inputs_embeds": inputs_embeds, "return_dict": True}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.encoder(input_ids, **kwargs).last_hidden_state
        if self.config.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = torch.ones(hidden.shape[:2], device=hidden.device) if attention_mask is None else attention_mask
            mask = mask.to(hidden.dtype).unsqueeze(-1)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return pooled

    @torch.no_grad()
    def own_shortlist(self, documents: torch.Tensor) -> list[torch.Tensor]:
        """The classifier's and the label texts' best labels for `documents` `(batch, hidden)`, chunk by chunk."""
        groups, chunk = [], self.config.label_chunk_size
        if self.config.classifier_shortlist_size:
            k = min(self.config.classifier_shortlist_size, self.config.num_labels)
            groups.append(chunked_top_k(documents, self.classifier.weight, k, chunk, self.classifier.bias))
        if self.config.dense_shortlist_size:
            k = min(self.config.dense_shortlist_size, self.config.num_labels)
            groups.append(chunked_top_k(documents, self.label_text.embeddings, k, chunk))
        return groups

    def candidate_features(self, documents: torch.Tensor, ids: torch.Tensor, sparse, in_sparse) -> torch.Tensor:
        """The `FUSION_FEATURES` of each candidate, `(batch, candidates, 5)`; zeros on padding (`ids` < 0)."""
        valid = ids >= 0
        safe = ids.clamp_min(0)
        logits = self.classifier.score(documents, safe)
        similarity = torch.einsum("bcd,bd->bc", F.embedding(safe, self.label_text.embeddings), documents)
        prior = self.label_text.log_prior[safe]
        features = torch.stack([logits, similarity, sparse, in_sparse, prior], dim=-1)
        return features * valid[..., None]

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        candidate_ids: torch.Tensor | None = None,
        candidate_scores: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        document_embeddings: torch.Tensor | None = None,
        top_k: int | None = None,
        return_logits: bool | None = None,
        output_candidate_features: bool = False,
    ) -> ShortlistRankerOutput:
        r"""
        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, seq_len)`): token ids.
            attention_mask (`torch.Tensor` of shape `(batch_size, seq_len)`, *optional*): 1 for real tokens.
            token_type_ids (`torch.LongTensor` of shape `(batch_size, seq_len)`, *optional*)
            candidate_ids (`torch.LongTensor` of shape `(batch_size, num_sparse)`, *optional*): a sparse model's
                shortlist, -1 for padding; the model adds its own classifier and label-text shortlists.
            candidate_scores (`torch.FloatTensor` of shape `(batch_size, num_sparse)`, *optional*): their scores.
            labels (`torch.LongTensor` of shape `(batch_size, max_labels)`, *optional*): gold label ids padded with
                -1; gives the shortlist BCE loss (gold labels missing from the shortlist are added back, counted in
                `shortlist_stats`); they enter the loss, never the returned ranking.
            document_embeddings (`torch.FloatTensor` of shape `(batch_size, hidden)`, *optional*): pooled text
                embeddings computed earlier by this encoder (training a frozen-encoder ranker on cached embeddings);
                replaces `input_ids`.
            top_k (`int`, *optional*): labels returned per text (default `config.output_top_k`).
            return_logits (`bool`, *optional*): dense `(batch, num_labels)` logits are not available: `True` raises.
            output_candidate_features (`bool`): also return the features of every shortlisted label (fusion fits).
        """
        if return_logits:
            raise ValueError(
                "ShortlistRanker scores shortlisted labels only: read `top_k_ids`/`top_k_scores` or "
                "`candidate_ids`/`candidate_scores` instead of dense logits"
            )
        if candidate_scores is not None and candidate_ids is None:
            raise ValueError("candidate_scores were given without the candidate_ids they score")
        if candidate_ids is not None:
            if candidate_scores is not None and candidate_scores.shape != candidate_ids.shape:
                raise ValueError(
                    f"candidate_scores {tuple(candidate_scores.shape)} and candidate_ids {tuple(candidate_ids.shape)} "
                    "must have the same shape"
                )
            if candidate_ids.numel() and int(candidate_ids.max()) >= self.config.num_labels:
                raise ValueError(
                    f"candidate id {int(candidate_ids.max())} is out of range for num_labels="
                    f"{self.config.num_labels}: the shortlist comes from a model of another label space"
                )
        if document_embeddings is not None:
            documents = F.normalize(document_embeddings.to(self.classifier.weight.dtype), dim=-1)
        else:
            documents = self.encode(input_ids, attention_mask, token_type_ids, inputs_embeds)
        groups = self.own_shortlist(documents.detach())
        if candidate_ids is not None:
            groups = [candidate_ids.to(documents.device), *groups]
            if candidate_scores is None:
                candidate_scores = torch.zeros_like(candidate_ids, dtype=torch.float32)
        if not groups:
            raise ValueError("nothing shortlists labels: pass candidate_ids or set a positive shortlist size")
        num_shortlist_groups = len(groups)
        if labels is not None:
            labels = labels.to(documents.device).long()
            if self.training:
                self._count_missed_positives(merge_shortlists(self.config.num_labels, groups)[0], labels)
            groups = [*groups, labels]  # gold labels the shortlist missed enter the loss (never the ranking)
        sparse = candidate_scores.to(documents.device) if candidate_ids is not None else None
        ids, sparse_feature, in_sparse, source = merge_shortlists(self.config.num_labels, groups, sparse)
        features = self.candidate_features(documents, ids, sparse_feature, in_sparse)
        valid = ids >= 0
        loss = None
        if labels is not None:
            targets = ((ids[:, :, None] == labels[:, None, :]) & (labels[:, None, :] >= 0)).any(-1) & valid
            bce = F.binary_cross_entropy_with_logits(features[..., 0], targets.float(), reduction="none")
            loss = (bce * valid).sum() / valid.sum().clamp_min(1)
        shortlisted = valid & (source < num_shortlist_groups)
        scores = self.fusion(features).masked_fill(~shortlisted, float("-inf"))
        ids = ids.masked_fill(~shortlisted, -1)
        k = self.config.output_top_k if top_k is None else top_k
        if scores.shape[1] < k:  # fewer candidates than asked for: always k columns, padded with -1 / -inf
            pad = k - scores.shape[1]
            scores = torch.cat([scores, scores.new_full((scores.shape[0], pad), float("-inf"))], dim=1)
            ids = torch.cat([ids, ids.new_full((ids.shape[0], pad), -1)], dim=1)
        top_scores, order = scores.topk(k, dim=1)
        top_ids = ids.gather(1, order).masked_fill(torch.isinf(top_scores), -1)
        return ShortlistRankerOutput(
            loss=loss,
            top_k_scores=top_scores,
            top_k_ids=top_ids,
            candidate_ids=ids,
            candidate_scores=scores,
            candidate_features=features if output_candidate_features else None,
        )

    def _count_missed_positives(self, shortlist: torch.Tensor, labels: torch.Tensor) -> None:
        gold = labels >= 0
        found = ((labels[:, :, None] == shortlist[:, None, :]) & (shortlist[:, None, :] >= 0)).any(-1) & gold
        has_gold = gold.any(1)
        self.shortlist_stats["documents"] += int(has_gold.sum())
        self.shortlist_stats["documents_without_shortlisted_positive"] += int((has_gold & ~found.any(1)).sum())
        self.shortlist_stats["positives_added"] += int((gold & ~found).sum())


__all__ = ["ShortlistRanker", "ShortlistRankerOutput", "chunked_top_k", "merge_shortlists"]
