"""Specification of the int8 screening behind APLC's fast top-k (`hf_xmc.models.aplc.screening`).

The screening may only ever make top-k faster: its error bound must hold, and the labels it returns must be the float32
top-k, whatever the inputs, whether the weights change after a first call, and whatever copies of the layer are made.
"""

from __future__ import annotations

import copy
import pickle

import pytest
import torch

from hf_xmc.models.aplc import AdaptiveProbabilisticLabelClusters
from hf_xmc.models.aplc.screening import Int8Screen, int8_kernels_available, linear_top_k, should_screen

pytestmark = pytest.mark.skipif(not int8_kernels_available(), reason="this torch build has no int8 CPU kernels")


def input_batches(dim: int, seed: int = 0):
    """Ordinary, heavy-tailed, one-sided, tiny, huge and zero inputs: the cases that stress a quantiser."""
    generator = torch.Generator().manual_seed(seed)
    normal = torch.randn(16, dim, generator=generator)
    heavy = normal * torch.distributions.StudentT(1.5).sample((16, dim))
    outlier = normal.clone()
    outlier[0, 0] = 1e4
    yield "normal", normal
    yield "heavy-tailed", heavy
    yield "one outlier", outlier
    yield "non-negative", normal.abs()
    yield "tiny", normal * 1e-6
    yield "huge", normal * 1e5
    yield "zero rows", torch.cat([normal[:3], torch.zeros(2, dim)])
    yield "one row", normal[:1]


@pytest.mark.parametrize("passes", [1, 2])
def test_the_error_bound_holds_for_every_row_and_label(passes):
    torch.manual_seed(0)
    weight = torch.randn(3000, 64) * torch.rand(3000, 1) * 3  # labels of very different norms
    screen = Int8Screen.from_weight(weight)
    for name, inputs in input_batches(64):
        approximate, bound = screen.approximate_scores(inputs, passes)
        exact = inputs.double() @ weight.double().T
        assert ((approximate.double() - exact).abs() <= bound.double()).all(), name


def test_screened_top_k_equals_float32_top_k():
    torch.manual_seed(1)
    weight = torch.randn(5000, 48) / 7
    screen = Int8Screen.from_weight(weight)
    for name, inputs in input_batches(48, seed=1):
        for k in (1, 5, 40):
            values, ids = linear_top_k(inputs, weight, k, screen)
            reference = (inputs @ weight.T).topk(k, dim=1)
            assert torch.equal(ids, reference.indices), (name, k)
            torch.testing.assert_close(values, reference.values, rtol=1e-5, atol=1e-5)


def test_indistinguishable_scores_fall_back_to_float32():
    """All-equal weights leave every label a candidate: the float32 path answers, with the same result."""
    weight = torch.ones(6000, 32)
    inputs = torch.randn(4, 32)
    values, ids = linear_top_k(inputs, weight, 3, Int8Screen.from_weight(weight))
    torch.testing.assert_close(values, (inputs @ weight.T).topk(3, dim=1).values)
    assert ids.shape == (4, 3)


def large_layer(seed=0):
    torch.manual_seed(seed)
    return AdaptiveProbabilisticLabelClusters(32, [6000, 5000, 5000], 2.0).eval()


def test_layer_top_k_is_identical_with_and_without_screening():
    layer = large_layer()
    hidden = torch.randn(12, 32) * 3
    full = layer.logits(hidden).topk(7, dim=1)
    for mode in ("auto", "int8", "none"):
        logits, ids = layer.top_k(hidden, 7, screening=mode)
        assert torch.equal(ids, full.indices), mode
        torch.testing.assert_close(logits, full.values, rtol=1e-5, atol=1e-5)


def test_screens_follow_weight_updates():
    """A screen built before an optimizer step or a `load_state_dict` must not answer for the new weights."""
    layer = large_layer()
    hidden = torch.randn(6, 32)
    layer.top_k(hidden, 5, screening="int8")  # builds and caches the screens
    optimizer = torch.optim.SGD(layer.parameters(), lr=5.0)
    layer.loss(hidden, torch.randint(0, layer.num_labels, (6, 3))).backward()
    optimizer.step()
    assert torch.equal(layer.top_k(hidden, 5, screening="int8")[1], layer.logits(hidden).topk(5, dim=1).indices)
    other = large_layer(seed=3)
    layer.load_state_dict(other.state_dict())
    assert torch.equal(layer.top_k(hidden, 5, screening="int8")[1], other.logits(hidden).topk(5, dim=1).indices)


def test_screens_are_derived_data_not_state():
    layer = large_layer()
    layer.top_k(torch.randn(2, 32), 3, screening="int8")
    assert not any("screen" in key for key in layer.state_dict())
    assert len(copy.deepcopy(layer)._screens) == 0
    assert len(pickle.loads(pickle.dumps(layer))._screens) == 0


def test_screening_modes_are_validated():
    layer = large_layer()
    with pytest.raises(ValueError, match="screening must be one of"):
        layer.top_k(torch.randn(2, 32), 3, screening="fast")
    with pytest.raises(ValueError, match="float32 weights on CPU"):
        should_screen("int8", torch.randn(2, 4, dtype=torch.float64), torch.randn(10, 4, dtype=torch.float64))
    small = torch.randn(100, 4)
    assert not should_screen("auto", torch.randn(2, 4), small)  # too few labels to pay off
