"""Adaptive Probabilistic Label Clusters (APLC), the output layer of APLC-XLNet (Ye et al., ICML 2020, §3.3).

Labels are indexed by decreasing training frequency and split into a head cluster and K tail clusters. The head is one
linear layer scoring the head labels plus one "root" logit per tail cluster; tail cluster i projects the hidden state
to ``d // q**i`` dimensions and scores its own labels. A tail label's probability is ``σ(root_i) · σ(tail)`` (eq. 2).

This file imports only torch: it is copied next to the weights by ``save_pretrained`` (remote code).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .screening import ScreenCache, linear_top_k, should_screen

DEFAULT_LABEL_CUTOFFS = (0.5, 0.5)
TAIL_PROJECTIONS = ("linear", "layernorm_relu")


def resolve_cluster_sizes(label_cutoffs: Sequence[int | float] | None, num_labels: int) -> list[int]:
    """Turns the user's cut-offs into the number of labels of each cluster, head first.

    Args:
        label_cutoffs (`Sequence[int | float]`, *optional*):
            One of three forms (`None` means the paper's default `(0.5, 0.5)`):

            - proportions, floats summing to 1, one per cluster (Table 2 of the paper), e.g. `[0.25] * 4`;
            - label counts per cluster, ints summing to `num_labels`, e.g. `[300, 298]`;
            - increasing boundaries ending at `num_labels` as in the reference code, e.g. `[167000, 334000, 501008]`.
        num_labels (`int`): size of the label space.

    Returns:
        `list[int]`: cluster sizes `[l_h, l_1, ..., l_K]`, all positive, summing to `num_labels`.
    """
    if not isinstance(num_labels, int) or isinstance(num_labels, bool) or num_labels < 1:
        raise ValueError(f"num_labels must be a positive int, got {num_labels!r}")
    cutoffs = list(DEFAULT_LABEL_CUTOFFS if label_cutoffs is None else label_cutoffs)
    if not cutoffs:
        raise ValueError("label_cutoffs is empty: give at least one cluster, e.g. [0.5, 0.5]")
    if any(isinstance(value, bool) or not isinstance(value, (int, float)) for value in cutoffs):
        raise ValueError(f"label_cutoffs must be numbers, got {cutoffs!r}")
    if any(value <= 0 for value in cutoffs):
        raise ValueError(f"label_cutoffs must all be positive, got {cutoffs!r}")

    if all(isinstance(value, int) for value in cutoffs):
        if sum(cutoffs) == num_labels:
            return cutoffs
        is_increasing = all(a < b for a, b in zip(cutoffs, cutoffs[1:]))
        if is_increasing and cutoffs[-1] == num_labels:
            return [b - a for a, b in zip([0, *cutoffs], cutoffs)]
        raise ValueError(
            f"label_cutoffs {cutoffs} fit neither integer form for num_labels={num_labels}: label counts per cluster "
            f"must sum to {num_labels} (they sum to {sum(cutoffs)}), and boundaries must be sorted in increasing "
            f"order and end at {num_labels}. Or give proportions that sum to 1, e.g. [0.5, 0.5]."
        )

    if not math.isclose(sum(cutoffs), 1.0, abs_tol=1e-6):
        raise ValueError(f"label_cutoffs given as proportions must sum to 1, got {cutoffs} (sum {sum(cutoffs):.6g})")
    if len(cutoffs) > num_labels:
        raise ValueError(f"{len(cutoffs)} clusters cannot be formed from only {num_labels} labels")
    boundaries, running = [], 0.0
    for proportion in cutoffs[:-1]:
        running += proportion
        boundaries.append(round(running * num_labels))
    boundaries.append(num_labels)
    sizes = [b - a for a, b in zip([0, *boundaries], boundaries)]
    if any(size < 1 for size in sizes):
        raise ValueError(f"label_cutoffs {cutoffs} leave an empty cluster for num_labels={num_labels}: {sizes}")
    return sizes


def tail_dimensions(in_features: int, num_tail_clusters: int, dim_decay_factor: float) -> list[int]:
    """Input dimension `d // q**i` of tail cluster i = 1..K (at least 1)."""
    if dim_decay_factor < 1:
        raise ValueError(f"dim_decay_factor (q) must be >= 1, got {dim_decay_factor}")
    return [max(1, int(in_features // dim_decay_factor**i)) for i in range(1, num_tail_clusters + 1)]


def eq6_num_parameters(in_features: int, cluster_sizes: Sequence[int], dim_decay_factor: float) -> float:
    """Eq. 6 of the paper: `d (l_h + K) + Σ_i d/q^i (d + l_i)`, the parameter count of the APLC layer."""
    head_size, tail_sizes = cluster_sizes[0], cluster_sizes[1:]
    count = in_features * (head_size + len(tail_sizes))
    for i, size in enumerate(tail_sizes, start=1):
        count += in_features / dim_decay_factor**i * (in_features + size)
    return count


def tail_label_logits(root_logits: torch.Tensor, tail_logits: torch.Tensor) -> torch.Tensor:
    """Logit of a tail label's probability `p = σ(r)·σ(t)` (eq. 2), so that `sigmoid(result) == p`.

    `p / (1 - p) = e^r e^t / (1 + e^r + e^t)`, hence `logit(p) = r + t - log(e^softplus(r) + e^t)`: one stable
    `logaddexp` per label instead of log-probabilities and `log(1 - p)`.

    Args:
        root_logits (`torch.Tensor` of shape `(rows, 1)`): the cluster's root logit `r` for each row.
        tail_logits (`torch.Tensor` of shape `(rows, cluster_size)`): the labels' logits `t` inside the cluster.
    """
    return root_logits + tail_logits - torch.logaddexp(F.softplus(root_logits), tail_logits)


class TailCluster(nn.Module):
    """Tail cluster i: projection `d -> d // q**i` (no bias), optionally LayerNorm + ReLU, then its label scores."""

    def __init__(self, in_features: int, projection_dim: int, num_labels: int, projection: str = "linear"):
        super().__init__()
        if projection not in TAIL_PROJECTIONS:
            raise ValueError(f"tail projection must be one of {TAIL_PROJECTIONS}, got {projection!r}")
        self.projection = nn.Linear(in_features, projection_dim, bias=False)
        self.norm = nn.LayerNorm(projection_dim) if projection == "layernorm_relu" else None
        self.output = nn.Linear(projection_dim, num_labels, bias=False)

    def project(self, hidden: torch.Tensor) -> torch.Tensor:
        projected = self.projection(hidden)
        return F.relu(self.norm(projected)) if self.norm is not None else projected

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.output(self.project(hidden))


class AdaptiveProbabilisticLabelClusters(nn.Module):
    """The APLC output layer: a frequency-ordered head cluster in the root and K smaller tail clusters.

    Args:
        in_features (`int`): dimension `d` of the hidden state fed to the layer.
        cluster_sizes (`Sequence[int]`): labels per cluster `[l_h, l_1, ..., l_K]` (see `resolve_cluster_sizes`).
        dim_decay_factor (`float`, defaults to 2.0): `q >= 1`; tail cluster i sees a `d // q**i`-dimensional input.
        tail_projection (`str`, defaults to `"linear"`): `"linear"` is the paper's form and has exactly the parameter
            count of eq. 6; `"layernorm_relu"` adds the reference code's LayerNorm + ReLU after each projection.

    Labels come as a padded id-list tensor `(batch, max_labels)` of int ids (negative values, e.g. -1 or -100, are
    padding) or as a multi-hot float/bool tensor `(batch, num_labels)`. Ids must be in decreasing training frequency.
    """

    def __init__(
        self,
        in_features: int,
        cluster_sizes: Sequence[int],
        dim_decay_factor: float = 2.0,
        tail_projection: str = "linear",
    ):
        super().__init__()
        cluster_sizes = [int(size) for size in cluster_sizes]
        if not cluster_sizes or any(size < 1 for size in cluster_sizes):
            raise ValueError(f"cluster_sizes must be positive label counts, got {cluster_sizes}")
        self.in_features = in_features
        self.cluster_sizes = cluster_sizes
        self.num_labels = sum(cluster_sizes)
        self.head_size = cluster_sizes[0]
        self.num_tail_clusters = len(cluster_sizes) - 1
        self.dim_decay_factor = dim_decay_factor
        # Label id where each cluster starts (head first); plain ints, so no buffer needs initialising on load.
        self.cluster_offsets = [sum(cluster_sizes[:i]) for i in range(len(cluster_sizes))]
        dims = tail_dimensions(in_features, self.num_tail_clusters, dim_decay_factor)
        self.head = nn.Linear(in_features, self.head_size + self.num_tail_clusters, bias=False)
        self.tail_clusters = nn.ModuleList(
            TailCluster(in_features, dim, size, tail_projection) for dim, size in zip(dims, cluster_sizes[1:])
        )
        self._screens = ScreenCache()  # int8 copies for `top_k`, derived from the weights (not state)

    def extra_repr(self) -> str:
        return f"num_labels={self.num_labels}, cluster_sizes={self.cluster_sizes}, q={self.dim_decay_factor}"

    # ----------------------------------------------------------------------------------------------------- labels
    def _positive_pairs(self, labels: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(row, label id) of every positive label, each pair once; validates shapes and ids."""
        if labels.dim() != 2 or labels.shape[0] != batch_size:
            raise ValueError(
                f"labels must be a 2-d tensor with one row per example ({batch_size}), got shape {tuple(labels.shape)}"
            )
        if labels.dtype == torch.bool or labels.is_floating_point():
            if labels.shape[1] != self.num_labels:
                raise ValueError(
                    f"multi-hot labels must have num_labels={self.num_labels} columns, got {labels.shape[1]}; "
                    "pass integer label ids (padded with -1) for id lists"
                )
            rows, ids = (labels > 0).nonzero(as_tuple=True)
            return rows, ids
        rows, positions = (labels >= 0).nonzero(as_tuple=True)
        ids = labels[rows, positions].long()
        if ids.numel() and int(ids.max()) >= self.num_labels:
            raise ValueError(
                f"label id {int(ids.max())} is out of range for num_labels={self.num_labels} "
                "(ids are 0-based; pad id lists with negative values such as -1)"
            )
        # A label listed twice (e.g. the reference code's padding by repetition) is still one positive.
        pairs = torch.unique(rows * self.num_labels + ids)
        return pairs // self.num_labels, pairs % self.num_labels

    def _cluster_of(self, ids: torch.Tensor) -> torch.Tensor:
        starts = torch.tensor(self.cluster_offsets[1:], device=ids.device, dtype=ids.dtype)
        return torch.searchsorted(starts, ids, right=True)

    # ------------------------------------------------------------------------------------------------------- loss
    def loss(self, hidden: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss of eq. 5 as the reference code normalises it.

        Per example: BCE over the head labels, BCE (target 0) on the root of each tail cluster holding none of its
        positives, and BCE on `σ(root)·σ(tail)` over every label of each cluster holding a positive; divided by
        `l_h + Σ_i (accessed_i ? l_i : 1)`, then averaged over the batch. A tail cluster is evaluated only on the rows
        that access it.

        Args:
            hidden (`torch.Tensor` of shape `(batch, in_features)`)
            labels (`torch.Tensor`): `(batch, max_labels)` padded ids, or `(batch, num_labels)` multi-hot.

        Returns:
            `torch.Tensor`: the scalar loss.
        """
        batch_size = hidden.shape[0]
        rows, ids = self._positive_pairs(labels, batch_size)
        cluster = self._cluster_of(ids)
        head_logits = self.head(hidden)
        label_logits, root_logits = head_logits[:, : self.head_size], head_logits[:, self.head_size :]

        # Summed BCE-with-logits over a row is Σ softplus(x) - Σ_positives x: no dense target tensor is needed.
        in_head = cluster == 0
        per_example = F.softplus(label_logits).sum(1)
        per_example = per_example.index_add(0, rows[in_head], -label_logits[rows[in_head], ids[in_head]])

        accessed = torch.zeros(batch_size, self.num_tail_clusters + 1, dtype=torch.bool, device=hidden.device)
        accessed[rows, cluster] = True
        tail_accessed = accessed[:, 1:]
        # BCE with target 0 on the root of a cluster without positives; an accessed root enters via σ(root)·σ(tail).
        per_example = per_example + (F.softplus(root_logits) * (~tail_accessed)).sum(1)
        sizes = torch.tensor(self.cluster_sizes[1:], device=hidden.device, dtype=per_example.dtype)
        denominator = self.head_size + torch.where(tail_accessed, sizes, torch.ones_like(sizes)).sum(1)

        compact_row = torch.full((batch_size,), -1, dtype=torch.long, device=hidden.device)
        for index, tail in enumerate(self.tail_clusters):
            # Run even when no row accesses the cluster: an empty matmul keeps every parameter in the graph (DDP).
            selected_rows = tail_accessed[:, index].nonzero(as_tuple=True)[0]
            compact_row[selected_rows] = torch.arange(selected_rows.numel(), device=hidden.device)
            tail_logits = tail(hidden.index_select(0, selected_rows))
            root = root_logits.index_select(0, selected_rows)[:, index : index + 1]
            softplus_root = F.softplus(root)
            # -log(1 - p) summed over the cluster, with log(1 - p) = logaddexp(softplus(r), t) - softplus(r) - softplus(t)
            negatives = (
                F.softplus(tail_logits).sum(1)
                + tail_logits.shape[1] * softplus_root[:, 0]
                - torch.logaddexp(softplus_root, tail_logits).sum(1)
            )
            # positives swap -log(1 - p) for -log p: subtract logit(p) at each positive label
            in_cluster = cluster == index + 1
            positive_rows = compact_row[rows[in_cluster]]
            positive_logits = tail_label_logits(
                root[positive_rows],
                tail_logits[positive_rows, ids[in_cluster] - self.cluster_offsets[index + 1], None],
            )[:, 0]
            negatives = negatives.index_add(0, positive_rows, -positive_logits)
            per_example = per_example.index_add(0, selected_rows, negatives)
        return (per_example / denominator).mean()

    # -------------------------------------------------------------------------------------------------- inference
    def log_probs(self, hidden: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
        """`log p(y|x)` of eq. 2 for every label, in label-id order, `(batch, num_labels)` (see `logits`)."""
        return self._score_all(hidden, chunk_size, log_space=True)

    def logits(self, hidden: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
        """Logits of the APLC probabilities for every label (`sigmoid(logits) == p(y|x)` of eq. 2), in label-id order.

        Args:
            hidden (`torch.Tensor` of shape `(batch, in_features)`)
            chunk_size (`int`, *optional*): rows scored at once, bounding the temporaries to `chunk_size x num_labels`
                (default: as many rows as fit in 2**24 scores).

        Returns:
            `torch.Tensor` of shape `(batch, num_labels)`.
        """
        return self._score_all(hidden, chunk_size, log_space=False)

    def _score_all(self, hidden: torch.Tensor, chunk_size: int | None, log_space: bool) -> torch.Tensor:
        if chunk_size is None:
            chunk_size = max(1, (1 << 24) // self.num_labels)
        scores = hidden.new_empty(hidden.shape[0], self.num_labels)
        for start in range(0, hidden.shape[0], chunk_size):
            chunk = hidden[start : start + chunk_size]
            rows = slice(start, start + chunk.shape[0])
            head_logits = self.head(chunk)
            head_part = head_logits[:, : self.head_size]
            scores[rows, : self.head_size] = F.logsigmoid(head_part) if log_space else head_part
            for index, tail in enumerate(self.tail_clusters):
                root = head_logits[:, self.head_size + index, None]
                columns = slice(
                    self.cluster_offsets[index + 1], self.cluster_offsets[index + 1] + tail.output.out_features
                )
                tail_logits = tail(chunk)
                scores[rows, columns] = (
                    F.logsigmoid(root) + F.logsigmoid(tail_logits)
                    if log_space
                    else tail_label_logits(root, tail_logits)
                )
        return scores

    @torch.no_grad()
    def top_k(
        self, hidden: torch.Tensor, k: int, beam: int | None = None, screening: str = "auto"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The `k` most probable labels without scoring every label.

        Scores the head, then visits a tail cluster only for the rows whose root probability `σ(root_i)` still exceeds
        their current k-th best probability: every label of that cluster has `p < σ(root_i)`, so skipping it cannot
        change the result (exact). With `beam`, each row also visits at most its `beam` most probable tail clusters
        (approximate, faster). Everything is compared in logit space (monotone in `p`). Inside each scored cluster,
        an int8 pass with a proven error bound rules out the labels that cannot reach the top k before the rest are
        scored in float32 (`screening.py`): still exact.

        Args:
            hidden (`torch.Tensor` of shape `(batch, in_features)`)
            k (`int`): number of labels, `1 <= k <= num_labels`.
            beam (`int`, *optional*): visit at most this many tail clusters per row.
            screening (`str`, defaults to `"auto"`): `"int8"` screens every cluster, `"none"` scores them in float32,
                `"auto"` screens clusters of at least `MIN_SCREENED_LABELS` labels on CPU where torch has the int8
                kernels.

        Returns:
            `tuple[torch.Tensor, torch.Tensor]`: logits `(batch, k)` (as `logits`, best first) and label ids
            `(batch, k)`.
        """
        if not 1 <= k <= self.num_labels:
            raise ValueError(f"k must be in [1, num_labels={self.num_labels}], got {k}")
        if beam is not None and beam < 0:
            raise ValueError(f"beam must be >= 0, got {beam}")
        batch_size = hidden.shape[0]
        head_weight = self.head.weight[: self.head_size]
        root_logits = F.linear(hidden, self.head.weight[self.head_size :])
        head_k = min(k, self.head_size)
        best_logits, best_ids = self._cluster_top_k("head", hidden, head_weight, head_k, screening)
        if head_k < k:
            pad = k - head_k
            best_logits = torch.cat([best_logits, best_logits.new_full((batch_size, pad), -math.inf)], dim=1)
            best_ids = torch.cat([best_ids, best_ids.new_full((batch_size, pad), -1)], dim=1)

        allowed = torch.ones_like(root_logits, dtype=torch.bool)
        if beam is not None and beam < self.num_tail_clusters:
            allowed = torch.zeros_like(allowed)
            if beam > 0:
                allowed.scatter_(1, root_logits.topk(beam, dim=1).indices, True)
        # Visit the most probable clusters first, so the threshold rises early and prunes more.
        cluster_order = root_logits.max(dim=0).values.argsort(descending=True).tolist() if batch_size else []
        for index in cluster_order:
            rows = ((root_logits[:, index] > best_logits[:, -1]) & allowed[:, index]).nonzero(as_tuple=True)[0]
            if rows.numel() == 0:
                continue
            tail = self.tail_clusters[index]
            tail_best, tail_ids = self._cluster_top_k(
                f"tail{index}",
                tail.project(hidden.index_select(0, rows)),
                tail.output.weight,
                min(k, tail.output.out_features),
                screening,
            )
            candidate_logits = torch.cat(
                [best_logits[rows], tail_label_logits(root_logits[rows, index, None], tail_best)], 1
            )
            candidate_ids = torch.cat([best_ids[rows], tail_ids + self.cluster_offsets[index + 1]], dim=1)
            merged_logits, order = candidate_logits.topk(k, dim=1)
            best_logits[rows] = merged_logits
            best_ids[rows] = candidate_ids.gather(1, order)
        return best_logits, best_ids

    def _cluster_top_k(
        self, name: str, inputs: torch.Tensor, weight: torch.Tensor, k: int, screening: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact top-k logits of one cluster's labels, int8-screened where `screening` says so."""
        screen = self._screens.get_screen(name, weight) if should_screen(screening, inputs, weight) else None
        return linear_top_k(inputs, weight, k, screen)
