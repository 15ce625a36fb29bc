"""Specification of `ShortlistRanker`: shortlists, bounded scoring, training on hard negatives, save/load, remote code."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from huggingface_hub.errors import StrictDataclassError
from transformers import AutoModel, BertConfig

import hf_xmc.models  # noqa: F401  (registers the Auto classes)
from hf_xmc.models.shortlist_ranker import (
    FUSION_FEATURES,
    ShortlistRanker,
    ShortlistRankerConfig,
    chunked_top_k,
    merge_shortlists,
)

NUM_LABELS = 100


def tiny_ranker(num_labels=NUM_LABELS, **kwargs) -> ShortlistRanker:
    torch.manual_seed(0)
    encoder = BertConfig(
        vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37
    )
    kwargs.setdefault("classifier_shortlist_size", 5)
    kwargs.setdefault("dense_shortlist_size", 5)
    kwargs.setdefault("label_chunk_size", 7)  # several chunks even for 100 labels
    model = ShortlistRanker(ShortlistRankerConfig(encoder=encoder.to_dict(), num_labels=num_labels, **kwargs))
    with torch.no_grad():
        model.label_text.embeddings.copy_(torch.nn.functional.normalize(torch.randn(num_labels, 32), dim=1))
    return model.eval()


def test_chunked_top_k_is_the_exact_top_k_of_the_full_score_matrix():
    weight, bias, queries = torch.randn(100, 16), torch.randn(100), torch.randn(5, 16)
    assert torch.equal(chunked_top_k(queries, weight, 6, 7), (queries @ weight.T).topk(6).indices)
    assert torch.equal(chunked_top_k(queries, weight, 6, 13, bias), (queries @ weight.T + bias).topk(6).indices)


def test_merged_shortlist_holds_each_label_once_and_keeps_the_sparse_score():
    sparse_ids = torch.tensor([[4, 2, -1]])
    ids, sparse, in_sparse, source = merge_shortlists(
        10, [sparse_ids, torch.tensor([[2, 7]])], torch.tensor([[0.75, 0.5, 0.0]])
    )
    kept = ids[0] >= 0
    assert sorted(ids[0][kept].tolist()) == [2, 4, 7]
    by_label = {
        int(i): (float(s), float(f), int(g))
        for i, s, f, g in zip(ids[0], sparse[0], in_sparse[0], source[0])
        if i >= 0
    }
    assert by_label[2] == (0.5, 1.0, 0) and by_label[4] == (0.75, 1.0, 0) and by_label[7] == (0.0, 0.0, 1)


def test_forward_ranks_only_shortlisted_labels_without_dense_logits():
    model = tiny_ranker()
    input_ids = torch.randint(5, 60, (3, 9))
    candidates = torch.tensor([[1, 2, -1], [3, 3, 4], [99, 0, 1]])
    output = model(input_ids=input_ids, candidate_ids=candidates, candidate_scores=torch.rand(3, 3), top_k=4)
    assert output.logits is None and output.top_k_ids.shape == (3, 4)
    for row in range(3):
        shortlisted = set(output.candidate_ids[row][output.candidate_ids[row] >= 0].tolist())
        assert set(candidates[row][candidates[row] >= 0].tolist()) <= shortlisted
        assert len(shortlisted) == int((output.candidate_ids[row] >= 0).sum())  # each label once
        assert set(output.top_k_ids[row].tolist()) <= shortlisted
        best = output.candidate_scores[row].topk(4)
        assert torch.equal(output.top_k_scores[row], best.values)
    with pytest.raises(ValueError, match="scores shortlisted labels only"):
        model(input_ids=input_ids, return_logits=True)


def test_candidates_from_another_label_space_are_refused_by_name():
    model = tiny_ranker()
    with pytest.raises(ValueError, match="another label space"):
        model(input_ids=torch.randint(5, 60, (1, 4)), candidate_ids=torch.tensor([[NUM_LABELS + 3]]))
    with pytest.raises(ValueError, match="same shape"):
        model(
            input_ids=torch.randint(5, 60, (1, 4)),
            candidate_ids=torch.tensor([[1, 2]]),
            candidate_scores=torch.ones(1, 3),
        )


def test_training_adds_missed_gold_labels_to_the_loss_but_never_to_the_ranking():
    model = tiny_ranker(classifier_shortlist_size=2, dense_shortlist_size=0)
    input_ids = torch.randint(5, 60, (2, 6))
    gold = torch.tensor([[50, 51], [2, -1]])
    candidates = torch.tensor([[1, 3], [2, 5]])  # row 0 misses both gold labels, row 1 holds its one
    own = set(model.own_shortlist(model.encode(input_ids))[0][0].tolist())
    model.train()
    output = model(input_ids=input_ids, candidate_ids=candidates, labels=gold)
    assert output.loss.ndim == 0 and torch.isfinite(output.loss)
    missed_row0 = not ({50, 51} & own)
    assert model.shortlist_stats["documents"] == 2
    assert model.shortlist_stats["documents_without_shortlisted_positive"] == int(missed_row0)
    assert not ({50, 51} - own) & set(output.top_k_ids[0].tolist())  # added-back gold labels are not ranked
    model.eval()
    evaluated = model(input_ids=input_ids, candidate_ids=candidates, labels=gold)
    assert torch.equal(evaluated.top_k_ids, model(input_ids=input_ids, candidate_ids=candidates).top_k_ids)


def test_the_shortlist_loss_decreases_on_hard_negatives():
    model = tiny_ranker(dense_shortlist_size=0).train()
    input_ids = torch.randint(5, 60, (8, 6))
    gold = torch.randint(0, NUM_LABELS, (8, 2))
    candidates = torch.randint(0, NUM_LABELS, (8, 10))
    optimizer = torch.optim.Adam(model.classifier.parameters(), lr=0.05)
    losses = []
    for _ in range(15):
        loss = model(input_ids=input_ids, candidate_ids=candidates, labels=gold).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_cached_document_embeddings_give_the_same_ranking_as_the_encoder():
    model = tiny_ranker()
    input_ids = torch.randint(5, 60, (3, 7))
    embeddings = model.encode(input_ids)
    assert torch.allclose(embeddings.norm(dim=1), torch.ones(3), atol=1e-5)
    assert torch.equal(model(input_ids=input_ids).top_k_ids, model(document_embeddings=embeddings).top_k_ids)


def test_an_untrained_fusion_ranks_by_the_classifier_logit():
    model = tiny_ranker()
    output = model(input_ids=torch.randint(5, 60, (2, 5)), output_candidate_features=True)
    assert output.candidate_features.shape[-1] == len(FUSION_FEATURES)
    logits = output.candidate_features[..., FUSION_FEATURES.index("classifier_logit")]
    valid = output.candidate_ids >= 0
    assert torch.allclose(output.candidate_scores[valid], logits[valid])


def test_save_and_auto_model_reload_give_identical_outputs(tmp_path):
    model = tiny_ranker()
    with torch.no_grad():
        model.fusion.weight.normal_()
        model.label_text.log_prior.normal_()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "modeling_shortlist_ranker.py").is_file()
    reloaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(reloaded, ShortlistRanker)
    input_ids = torch.randint(5, 60, (2, 6))
    before, after = model(input_ids=input_ids), reloaded(input_ids=input_ids)
    assert torch.equal(before.top_k_ids, after.top_k_ids)
    assert torch.allclose(before.top_k_scores, after.top_k_scores)


def test_remote_code_loads_without_hf_xmc(tmp_path):
    tiny_ranker().save_pretrained(tmp_path)
    script = (
        "import sys; sys.modules['hf_xmc'] = None\n"
        "from transformers import AutoModel; import torch\n"
        f"m = AutoModel.from_pretrained({str(tmp_path)!r}, trust_remote_code=True).eval()\n"
        "print(type(m).__name__, m(input_ids=torch.tensor([[5, 6, 7]])).top_k_ids.shape[1])\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-2:] == ["ShortlistRanker", "5"]


def test_config_rejects_bad_values_with_the_field_name():
    # huggingface_hub's @strict wraps the validator's ValueError in its own error type, message kept
    with pytest.raises((ValueError, StrictDataclassError), match="pooling must be one of"):
        ShortlistRankerConfig(num_labels=10, pooling="max")
    with pytest.raises((ValueError, StrictDataclassError), match="dense_shortlist_size must be >= 0"):
        ShortlistRankerConfig(num_labels=10, dense_shortlist_size=-1)


def test_prediction_memory_is_bounded_by_the_label_chunk_not_the_label_space():
    from torch.profiler import ProfilerActivity, profile

    num_labels, batch = 300_000, 8
    model = tiny_ranker(num_labels=num_labels, label_chunk_size=4096, classifier_shortlist_size=20)
    input_ids = torch.randint(5, 60, (batch, 6))

    def largest_allocation(function) -> int:
        with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
            function()
        return max(event.cpu_memory_usage for event in profiler.events())

    dense_bytes = batch * num_labels * 4
    # the measurement sees a (batch, num_labels) score matrix when one is formed ...
    assert largest_allocation(lambda: model.encode(input_ids) @ model.classifier.weight.T) >= dense_bytes
    # ... and the ranker never forms one: its largest block is batch x label_chunk_size
    largest = largest_allocation(
        lambda: model(input_ids=input_ids, candidate_ids=torch.randint(0, num_labels, (8, 20)))
    )
    assert largest <= batch * 4096 * 4 < dense_bytes / 10
