"""MACLR losses (sentence-transformers style): values against a hand computation of eqs. 3-5, the cluster assignment
turning row ids into positives, gradient caching giving the plain loss's gradients, config and citation for the card,
and an encoder whose tokenizer pads with an id other than 0."""

from __future__ import annotations

import math

import pytest
import torch
from maclr_fixtures import PAIRS, tiny_encoder, tiny_pad_encoder

from hf_xmc.maclr import ClusterContrastiveLoss, LabelRegularizationLoss, MACLRLoss


def log_softmax_row(values, position):
    return values[position] - math.log(sum(math.exp(v) for v in values))


def test_cluster_loss_matches_eq3_by_hand():
    loss = ClusterContrastiveLoss(model=None, scale=2.0)
    anchors = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    titles = torch.tensor([[0.5, 0.0], [0.0, 1.0], [1.0, -1.0]])
    # rows 0 and 2 share a cluster: each is the other's positive too
    loss.set_cluster_assignment([7, 3, 7])
    value = loss.loss_from_embeddings([anchors, titles], torch.tensor([0, 1, 2]))
    logits = [
        [2 * sum(a * t for a, t in zip(anchor, title)) for title in titles.tolist()] for anchor in anchors.tolist()
    ]
    expected = (
        -(log_softmax_row(logits[0], 0) + log_softmax_row(logits[0], 2)) / 2
        - log_softmax_row(logits[1], 1)
        - (log_softmax_row(logits[2], 0) + log_softmax_row(logits[2], 2)) / 2
    ) / 3
    assert value.item() == pytest.approx(expected, rel=1e-6)

    loss.set_cluster_assignment(None)  # every row its own cluster: InfoNCE (eq. 2)
    value = loss.loss_from_embeddings([anchors, titles], torch.tensor([0, 1, 2]))
    assert value.item() == pytest.approx(-sum(log_softmax_row(logits[i], i) for i in range(3)) / 3, rel=1e-6)
    # labels shared by rows are positives without any assignment (stage II: a document's pseudo labels)
    value = loss.loss_from_embeddings([anchors, titles], torch.tensor([5, 6, 5]))
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_label_regularization_matches_eq4_by_hand():
    loss = LabelRegularizationLoss(model=None, label_texts=["a", "b", "c"], num_negatives=2, cluster_positives=False)
    views = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    twins = torch.tensor([[0.9, 0.1], [0.1, 1.8]])
    negatives = torch.tensor([[1.0, 1.0], [-1.0, 0.5]])
    value = loss.loss_from_embeddings([views, twins, negatives], torch.tensor([0, 1]))
    candidates = torch.cat([twins, negatives]).tolist()
    logits = [[sum(v * c for v, c in zip(view, cand)) for cand in candidates] for view in views.tolist()]
    expected = -(log_softmax_row(logits[0], 0) + log_softmax_row(logits[1], 1)) / 2
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_label_regularization_rejects_empty_label_texts():
    with pytest.raises(ValueError, match="entry 1 is empty"):
        LabelRegularizationLoss(model=None, label_texts=["ok", "  "])


def test_loss_on_a_model_equals_the_formula_on_its_embeddings():
    model = tiny_encoder().eval()  # no dropout: embeddings are deterministic
    loss = ClusterContrastiveLoss(model, scale=1.0)
    contexts, titles = [p[0] for p in PAIRS], [p[1] for p in PAIRS]
    features = [model.preprocess(contexts), model.preprocess(titles)]
    labels = torch.arange(len(PAIRS))
    value = loss(features, labels)
    anchors = torch.tensor(model.encode(contexts))
    candidates = torch.tensor(model.encode(titles))
    expected = torch.nn.functional.cross_entropy(anchors @ candidates.T, labels)
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)


def _gradients(model, loss, features, labels):
    model.zero_grad()
    value = loss(features, labels)
    value.backward()
    return value.item(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("which", ["cluster", "regularization", "maclr"])
def test_gradient_cache_gives_the_plain_gradients(which):
    model = tiny_encoder().eval()  # dropout off, so both passes see the same embeddings
    contexts, titles = [p[0] for p in PAIRS], [p[1] for p in PAIRS]
    labels = torch.arange(len(PAIRS))
    label_texts = sorted({p[1] for p in PAIRS})

    def make(mini_batch_size):
        cluster = ClusterContrastiveLoss(model, scale=3.0, mini_batch_size=mini_batch_size)
        regularization = LabelRegularizationLoss(
            model, label_texts, num_negatives=3, scale=3.0, mini_batch_size=mini_batch_size, seed=1
        )
        built = {"cluster": cluster, "regularization": regularization}.get(which) or MACLRLoss(
            model, cluster, regularization
        )
        built.set_cluster_assignment([0, 0, 1, 1, 2, 2])
        return built

    features = [model.preprocess(contexts), model.preprocess(titles)]
    plain_value, plain = _gradients(model, make(None), features, labels)
    cached_value, cached = _gradients(model, make(2), features, labels)
    assert make(2).uses_gradient_cache and not make(None).uses_gradient_cache
    assert cached_value == pytest.approx(plain_value, rel=1e-5)
    assert plain.keys() == cached.keys() and len(plain) > 0
    for name in plain:
        torch.testing.assert_close(
            cached[name], plain[name], rtol=1e-4, atol=1e-5, msg=lambda m, name=name: f"{name}: {m}"
        )


def test_maclr_loss_is_the_sum_of_both_terms():
    model = tiny_encoder().eval()
    texts = sorted({p[1] for p in PAIRS})
    cluster = ClusterContrastiveLoss(model)
    combined = MACLRLoss(model, cluster, LabelRegularizationLoss(model, texts, num_negatives=2, seed=3), 0.5)
    anchors, titles, twins, negatives = (torch.randn(4, 16) for _ in range(4))
    labels = torch.arange(4)
    expected = cluster.loss_from_embeddings([anchors, titles], labels) + 0.5 * LabelRegularizationLoss(
        model, texts, num_negatives=2
    ).loss_from_embeddings([anchors, twins, negatives], labels)
    value = combined.loss_from_embeddings([anchors, titles, twins, negatives], labels)
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)


def test_configs_and_citation_for_the_model_card():
    model = tiny_encoder()
    cluster = ClusterContrastiveLoss(model, scale=20.0, mini_batch_size=8)
    assert cluster.get_config_dict() == {
        "scale": 20.0, "similarity_fct": "dot_score", "mini_batch_size": 8, "gather_across_devices": False,
    }  # fmt: skip
    combined = MACLRLoss(model, cluster, LabelRegularizationLoss(model, ["x", "y"], num_negatives=5))
    config = combined.get_config_dict()
    assert config["cluster_loss"]["class"] == "ClusterContrastiveLoss"
    assert config["label_regularization"]["num_negatives"] == 2  # capped at the number of label texts
    assert "Extreme Zero-Shot Learning" in combined.citation and "xiong2022maclr" in cluster.citation


def test_bad_options_and_inputs_are_named():
    with pytest.raises(ValueError, match="scale"):
        ClusterContrastiveLoss(model=None, scale=0.0)
    with pytest.raises(ValueError, match="mini_batch_size"):
        ClusterContrastiveLoss(model=None, mini_batch_size=0)
    loss = ClusterContrastiveLoss(model=None)
    loss.set_cluster_assignment([0, 1])
    with pytest.raises(ValueError, match="outside the cluster assignment"):
        loss.loss_from_embeddings([torch.ones(2, 3), torch.ones(2, 3)], torch.tensor([0, 5]))


def test_encoder_with_pad_id_not_zero():
    model = tiny_pad_encoder().eval()
    assert model.tokenizer.pad_token_id != 0
    short, long = "the text", "the text label tag package software debian"
    alone = model.encode([short])[0]
    padded = model.encode([short, long])[0]  # `short` is padded with the real pad id, masked by the tokenizer
    torch.testing.assert_close(torch.tensor(padded), torch.tensor(alone), rtol=1e-5, atol=1e-6)
    loss = ClusterContrastiveLoss(model, mini_batch_size=1)
    value = loss([model.preprocess([short, long]), model.preprocess(["text", "label"])], torch.tensor([0, 1]))
    assert torch.isfinite(value)
