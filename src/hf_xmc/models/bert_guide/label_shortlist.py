"""Label scoring for GUDN's ranking classifier: LightXML's dynamic negative sampling (§3.4) and bounded exact top-k.

- Training with clusters: a cluster scorer ranks the label clusters; each text keeps its `shortlist_clusters` best
  ones plus every cluster holding one of its positives (so no positive is lost), and the classifier scores only
  those clusters' labels. The loss is a BCE over the candidates (mean per text) plus a BCE over the clusters.
- Scores with clusters: `p(label) = σ(label logit) · σ(cluster logit)`; returned as the logit of that product, so
  `sigmoid(score)` is the probability as for every hf-xmc classifier.
- Top-k never holds more than `max_score_elements` scores: rows, and beyond that labels, are processed in blocks;
  the dense path uses the exact int8 screening of `screening.py` (the bias rides along as an extra input column).

Candidates of a batch are scored on their union (one `(batch, |union|)` product, never `(batch, K, hidden)`).
This file imports only torch: it is copied next to the weights by ``save_pretrained`` (remote code).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .screening import Int8Screen, linear_top_k, should_screen

# log(p) is kept below this so that the logit log(p) - log(1 - p) stays finite when p rounds to 1.
MAX_LOG_PROBABILITY = -1e-12


def label_id_lists(labels: torch.Tensor, num_labels: int) -> torch.Tensor:
    """Labels as `(batch, max_labels)` int64 ids padded with -1, from ids (negative pads) or multi-hot floats."""
    if labels.dim() != 2:
        raise ValueError(f"labels must be 2-D (ids padded with -1, or multi-hot), got shape {tuple(labels.shape)}")
    if labels.is_floating_point():
        if labels.shape[1] != num_labels:
            raise ValueError(f"multi-hot labels must have num_labels={num_labels} columns, got {labels.shape[1]}")
        positive = labels > 0
        width = max(int(positive.sum(1).max()) if labels.numel() else 0, 1)
        values, order = positive.to(torch.int8).sort(dim=1, descending=True, stable=True)
        ids = order[:, :width].clone()
        ids[values[:, :width] == 0] = -1
        return ids
    ids = labels.long()
    bad = ids[ids >= num_labels]
    if bad.numel():
        raise ValueError(
            f"label ids {bad[:5].tolist()} are outside [0, {num_labels}): the data and the model disagree on the "
            f"label space (model num_labels={num_labels})"
        )
    return ids.masked_fill(ids < 0, -1)


def multi_hot_targets(ids: torch.Tensor, num_labels: int, dtype=torch.float32) -> torch.Tensor:
    """`(batch, num_labels)` 0/1 targets from ids padded with -1."""
    targets = torch.zeros(ids.shape[0], num_labels + 1, dtype=dtype, device=ids.device)
    targets.scatter_(1, ids.masked_fill(ids < 0, num_labels), 1.0)
    return targets[:, :num_labels]


def cluster_members(label_to_cluster: torch.Tensor, num_clusters: int) -> torch.Tensor:
    """`(num_clusters, max_cluster_size)` label ids of every cluster, padded with -1."""
    sizes = torch.bincount(label_to_cluster, minlength=num_clusters)
    order = torch.argsort(label_to_cluster, stable=True)
    starts = torch.cumsum(sizes, 0) - sizes
    clusters = label_to_cluster[order]
    slots = torch.arange(order.numel(), device=order.device) - starts[clusters]
    members = torch.full((num_clusters, max(int(sizes.max()), 1)), -1, dtype=torch.long, device=order.device)
    members[clusters, slots] = order
    return members


def shortlist_candidates(
    cluster_logits: torch.Tensor, members: torch.Tensor, num_kept: int, forced: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The labels of each row's best clusters.

    Args:
        cluster_logits (`torch.Tensor` of shape `(batch, num_clusters)`)
        members (`torch.Tensor` of shape `(num_clusters, max_size)`): from `cluster_members`.
        num_kept (`int`): clusters per row.
        forced (`torch.BoolTensor` of shape `(batch, num_clusters)`, *optional*): clusters every row must keep (its
            positives'); a row with more of them than `num_kept` keeps them all (the batch widens).

    Returns:
        `(candidates, clusters)`: `(batch, kept * max_size)` label ids padded with -1, and the kept cluster ids
        `(batch, kept)`.
    """
    scores = cluster_logits.detach()
    if forced is not None:
        scores = scores.masked_fill(forced, float("inf"))
        num_kept = max(num_kept, int(forced.sum(1).max()) if forced.numel() else 0)
    clusters = scores.topk(min(num_kept, scores.shape[1]), dim=1).indices
    return members[clusters].flatten(1), clusters


def candidate_logits(
    features: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, candidates: torch.Tensor
) -> torch.Tensor:
    """`(batch, K)` logits of the candidate labels (pads get an arbitrary value; mask them with `candidates >= 0`).

    Scores the batch's union of candidates with one product: memory `batch x |union|`, at most `batch x K`.
    """
    unique, inverse = torch.unique(candidates.clamp(min=0), return_inverse=True)
    scores = F.linear(features, weight[unique], None if bias is None else bias[unique])
    return scores.gather(1, inverse)


def masked_bce(logits: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """`(batch,)` BCE with logits, averaged over each row's valid entries."""
    losses = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    if valid is None:
        return losses.mean(1)
    valid = valid.to(losses.dtype)
    return (losses * valid).sum(1) / valid.sum(1).clamp(min=1)


def probability_logit(log_probability: torch.Tensor) -> torch.Tensor:
    """`log(p / (1 - p))` from `log(p)`, stably."""
    log_probability = log_probability.clamp(max=MAX_LOG_PROBABILITY)
    return log_probability - torch.log(-torch.expm1(log_probability))


def clustered_logits(label_logits: torch.Tensor, cluster_logits: torch.Tensor, label_clusters: torch.Tensor):
    """Logits of `σ(label) · σ(cluster of the label)`; `label_clusters` has the shape of `label_logits` (cluster
    ids) or is `(num_labels,)`."""
    if label_clusters.dim() == 1:
        cluster_part = F.logsigmoid(cluster_logits)[:, label_clusters]
    else:
        cluster_part = F.logsigmoid(cluster_logits).gather(1, label_clusters)
    return probability_logit(F.logsigmoid(label_logits) + cluster_part)


class BiasedScreenCache:
    """The `[weight | bias]` matrix and its int8 screen, rebuilt when either parameter changes (derived data, not
    state: copies and pickles start empty)."""

    def __init__(self):
        self.key = None
        self.augmented = None
        self.screen = None

    def get(self, weight: torch.Tensor, bias: torch.Tensor | None, build_screen: bool):
        key = (weight.data_ptr(), weight._version, tuple(weight.shape))
        if bias is not None:
            key += (bias.data_ptr(), bias._version)
        if self.key != key:
            weight = weight.detach().float()
            column = bias.detach().float()[:, None] if bias is not None else weight.new_zeros(weight.shape[0], 1)
            self.key, self.augmented, self.screen = key, torch.cat([weight, column], dim=1).contiguous(), None
        if build_screen and self.screen is None:
            self.screen = Int8Screen.from_weight(self.augmented)
        return self.augmented, self.screen

    def __deepcopy__(self, memo) -> BiasedScreenCache:
        return BiasedScreenCache()

    def __reduce__(self):
        return (BiasedScreenCache, ())


def dense_top_k(
    features: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    k: int,
    max_score_elements: int,
    screening: str = "auto",
    cache: BiasedScreenCache | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-k of `features @ weight.T + bias` per row, holding at most `max_score_elements` scores at once.

    Args:
        features (`torch.Tensor` of shape `(batch, hidden)`), weight (`(num_labels, hidden)`), bias (`(num_labels,)`)
        k (`int`), max_score_elements (`int`), screening (`str`): see `BertGuideConfig`.
        cache (`BiasedScreenCache`, *optional*): keeps the augmented matrix and its screen between calls.

    Returns:
        `(scores, ids)`, both `(batch, k)`, best first.
    """
    num_labels = weight.shape[0]
    features = features.float()
    inputs = torch.cat([features, features.new_ones(features.shape[0], 1)], dim=1)
    if num_labels > max_score_elements:  # one row of scores is already too many: blocks of labels, merged
        return _label_blocked_top_k(inputs, weight, bias, k, max_score_elements)
    cache = cache or BiasedScreenCache()
    use_screen = should_screen(screening, inputs, weight.float())
    augmented, screen = cache.get(weight, bias, build_screen=use_screen)
    rows_per_block = max(1, max_score_elements // num_labels)
    results = [
        linear_top_k(inputs[start : start + rows_per_block], augmented, k, screen)
        for start in range(0, inputs.shape[0], rows_per_block)
    ]
    return torch.cat([r[0] for r in results]), torch.cat([r[1] for r in results])


def _label_blocked_top_k(inputs, weight, bias, k, block):
    best_scores, best_ids = [], []
    for row in range(inputs.shape[0]):
        scores, ids = [], []
        for start in range(0, weight.shape[0], block):
            end = min(start + block, weight.shape[0])
            block_scores = F.linear(inputs[row : row + 1, :-1], weight[start:end].float())
            if bias is not None:
                block_scores = block_scores + bias[start:end].float()
            values, positions = block_scores.topk(min(k, end - start), dim=1)
            scores.append(values)
            ids.append(positions + start)
        values, positions = torch.cat(scores, 1).topk(k, dim=1)
        best_scores.append(values)
        best_ids.append(torch.cat(ids, 1).gather(1, positions))
    return torch.cat(best_scores), torch.cat(best_ids)


def shortlist_top_k(
    features: torch.Tensor,
    cluster_logits: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    members: torch.Tensor,
    num_kept: int,
    k: int,
    max_score_elements: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k of `σ(label) · σ(cluster)` over the labels of each row's `num_kept` best clusters.

    Returns `(scores, ids)`, both `(batch, k)`: scores are logits of the probabilities (`sigmoid(score)` is one).
    Raises `ValueError` when a row's shortlisted clusters hold fewer than `k` labels.
    """
    num_kept = min(num_kept, cluster_logits.shape[1])
    rows_per_block = max(1, max_score_elements // (num_kept * members.shape[1]))
    all_scores, all_ids = [], []
    for start in range(0, features.shape[0], rows_per_block):
        block_clusters = cluster_logits[start : start + rows_per_block]
        candidates, clusters = shortlist_candidates(block_clusters, members, num_kept)
        valid = candidates >= 0
        num_valid = int(valid.sum(1).min())
        if num_valid < k:
            raise ValueError(
                f"top_k={k} but the {num_kept} shortlisted clusters of a text hold only {num_valid} labels: raise "
                "shortlist_clusters (the config field, or the `shortlist_clusters` argument)"
            )
        label_logits = candidate_logits(features[start : start + rows_per_block], weight, bias, candidates)
        candidate_clusters = clusters.repeat_interleave(members.shape[1], dim=1)
        log_probability = F.logsigmoid(label_logits) + F.logsigmoid(block_clusters).gather(1, candidate_clusters)
        values, positions = log_probability.masked_fill(~valid, float("-inf")).topk(k, dim=1)
        all_scores.append(probability_logit(values))
        all_ids.append(candidates.gather(1, positions))
    return torch.cat(all_scores), torch.cat(all_ids)
