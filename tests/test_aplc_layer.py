"""Specification of the APLC output layer (`hf_xmc.models.aplc.aplc`): cut-offs, eq. 5 loss, eq. 6 size, inference."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from hf_xmc.models.aplc import AdaptiveProbabilisticLabelClusters, eq6_num_parameters, resolve_cluster_sizes


def dense_reference_loss(layer: AdaptiveProbabilisticLabelClusters, hidden, multi_hot) -> torch.Tensor:
    """Eq. 5 by brute force, as the reference code normalises it: every label's probability (eq. 2), BCE on
    probabilities over the head, the roots of unaccessed clusters and every label of accessed clusters."""
    probabilities = torch.exp(layer.log_probs(hidden))
    root_probabilities = torch.sigmoid(layer.head(hidden)[:, layer.head_size :])
    losses = []
    for row in range(hidden.shape[0]):
        total, count = 0.0, layer.head_size
        head = slice(0, layer.head_size)
        total = total + F.binary_cross_entropy(probabilities[row, head], multi_hot[row, head], reduction="sum")
        for index, start in enumerate(layer.cluster_offsets[1:]):
            cluster = slice(start, start + layer.cluster_sizes[index + 1])
            if multi_hot[row, cluster].any():
                total = total + F.binary_cross_entropy(
                    probabilities[row, cluster], multi_hot[row, cluster], reduction="sum"
                )
                count += layer.cluster_sizes[index + 1]
            else:
                total = total + F.binary_cross_entropy(root_probabilities[row, index], torch.tensor(0.0))
                count += 1
        losses.append(total / count)
    return torch.stack(losses).mean()


def random_layer(seed=0, in_features=16, sizes=(6, 5, 4, 3), tail_projection="linear", scale=1.0):
    torch.manual_seed(seed)
    layer = AdaptiveProbabilisticLabelClusters(in_features, list(sizes), 2.0, tail_projection)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.normal_(0.0, scale / in_features**0.5)
    return layer


def test_cutoffs_accept_proportions_counts_and_boundaries():
    assert resolve_cluster_sizes(None, 598) == [299, 299]
    assert resolve_cluster_sizes([0.25] * 4, 500_000) == [125_000] * 4
    assert resolve_cluster_sizes([300, 298], 598) == [300, 298]
    assert resolve_cluster_sizes([167000, 334000, 501008], 501008) == [167000, 167000, 167008]
    assert sum(resolve_cluster_sizes([0.7, 0.2, 0.1], 1001)) == 1001


@pytest.mark.parametrize(
    ("cutoffs", "message"),
    [
        ([300, 200], "sum to 598"),
        ([400, 300, 598], "sorted in increasing order"),
        ([0.5, 0.6], "must sum to 1"),
        ([0.5, -0.5, 1.0], "positive"),
        ([], "empty"),
    ],
)
def test_bad_cutoffs_are_explained(cutoffs, message):
    with pytest.raises(ValueError, match=message):
        resolve_cluster_sizes(cutoffs, 598)


def test_q_below_one_is_rejected():
    with pytest.raises(ValueError, match="q\\) must be >= 1"):
        AdaptiveProbabilisticLabelClusters(16, [5, 5], dim_decay_factor=0.5)


def test_parameter_count_is_eq6_exactly():
    layer = AdaptiveProbabilisticLabelClusters(512, [2500] * 4, dim_decay_factor=2)
    assert sum(p.numel() for p in layer.parameters()) == eq6_num_parameters(512, [2500] * 4, 2)
    # d (l_h + K) + sum_i d/q^i (d + l_i), written out for this case
    assert eq6_num_parameters(512, [2500] * 4, 2) == 512 * 2503 + 256 * 3012 + 128 * 3012 + 64 * 3012


@pytest.mark.parametrize("tail_projection", ["linear", "layernorm_relu"])
def test_loss_equals_brute_force_eq5_for_ids_and_multi_hot(tail_projection):
    layer = random_layer(tail_projection=tail_projection)
    hidden = torch.randn(5, 16)
    ids = torch.tensor([[0, 7, -1, -1], [12, 17, 15, -100], [-1, -1, -1, -1], [3, 4, 5, 5], [17, -1, -1, -1]])
    multi_hot = torch.zeros(5, 18)
    for row, row_ids in enumerate(ids.tolist()):
        multi_hot[row, [i for i in row_ids if i >= 0]] = 1.0
    expected = dense_reference_loss(layer, hidden, multi_hot)
    torch.testing.assert_close(layer.loss(hidden, ids), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(layer.loss(hidden, multi_hot), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(layer.loss(hidden, multi_hot.bool()), expected, rtol=1e-5, atol=1e-6)


def test_loss_is_finite_for_saturated_logits():
    layer = random_layer(scale=400.0)
    hidden = torch.randn(4, 16, requires_grad=True)
    loss = layer.loss(hidden, torch.tensor([[0, 10], [8, -1], [16, 17], [-1, -1]]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(hidden.grad).all()


def test_gradients_reach_head_and_only_accessed_tails():
    layer = random_layer()
    hidden = torch.randn(3, 16, requires_grad=True)
    layer.loss(hidden, torch.tensor([[0, 7], [1, -1], [8, -1]])).backward()  # only tail cluster 1 (ids 6..10)
    assert hidden.grad.abs().sum() > 0 and layer.head.weight.grad.abs().sum() > 0
    assert layer.tail_clusters[0].output.weight.grad.abs().sum() > 0
    for untouched in layer.tail_clusters[1:]:
        # in the graph (DDP needs every parameter to get a gradient) but zero: no row accessed the cluster
        assert untouched.output.weight.grad is not None
        assert untouched.output.weight.grad.abs().sum() == 0


def test_probabilities_follow_eq2():
    layer = random_layer()
    hidden = torch.randn(2, 16)
    head_logits = layer.head(hidden)
    tail_logits = layer.tail_clusters[1](hidden)  # cluster 2: labels 11..14
    expected = torch.sigmoid(head_logits[:, 6 + 1, None]) * torch.sigmoid(tail_logits)
    torch.testing.assert_close(torch.sigmoid(layer.logits(hidden))[:, 11:15], expected)
    torch.testing.assert_close(torch.sigmoid(layer.logits(hidden))[:, :6], torch.sigmoid(head_logits[:, :6]))
    # chunking changes memory, not values
    torch.testing.assert_close(layer.logits(hidden, chunk_size=1), layer.logits(hidden))


@pytest.mark.parametrize("seed", range(4))
def test_pruned_top_k_equals_full_top_k(seed):
    layer = random_layer(seed=seed, in_features=32, sizes=(40, 30, 20, 10), scale=1.5)
    hidden = torch.randn(16, 32)
    full = layer.logits(hidden)
    rows_scored = []
    for tail in layer.tail_clusters:
        tail.register_forward_hook(lambda module, inputs, output: rows_scored.append(inputs[0].shape[0]))
    layer.top_k(hidden, 1)
    assert sum(rows_scored) < 16 * 3  # the root bound skipped some (row, cluster) pairs
    for k in (1, 5, 45):
        scores, ids = layer.top_k(hidden, k)
        expected_scores, expected_ids = full.topk(k, dim=1)
        torch.testing.assert_close(scores, expected_scores, rtol=1e-5, atol=1e-5)
        assert torch.equal(ids, expected_ids)
    # a beam covering every tail cluster is exact; beam 0 keeps the head only
    assert torch.equal(layer.top_k(hidden, 5, beam=3)[1], full.topk(5, dim=1).indices)
    assert (layer.top_k(hidden, 5, beam=0)[1] < 40).all()


def test_bad_labels_are_explained():
    layer = random_layer()
    hidden = torch.randn(2, 16)
    with pytest.raises(ValueError, match="label id 18 is out of range for num_labels=18"):
        layer.loss(hidden, torch.tensor([[1, 18], [2, -1]]))
    with pytest.raises(ValueError, match="must have num_labels=18 columns"):
        layer.loss(hidden, torch.zeros(2, 17))
    with pytest.raises(ValueError, match="one row per example"):
        layer.loss(hidden, torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="k must be in"):
        layer.top_k(hidden, 19)
