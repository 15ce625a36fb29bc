"""`BertGuideNetwork` (GUDN) as a specification: the contract other code relies on, each loss term, the shortlist
(LightXML dynamic negative sampling) against the dense path, the bounded top-k, save/load and remote code."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from transformers import AutoConfig, AutoModel, BertConfig, BertModel

from hf_xmc.models import register_auto_classes
from hf_xmc.models.bert_guide import BertGuideConfig, BertGuideNetwork

TINY = {"vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
        "intermediate_size": 64}  # fmt: skip
EQ3 = {"feature_loss_space": "features"}  # the feature loss on E_t / E_l, as eq. 3 is written
LABELS = torch.tensor([[1, 2, -1], [3, -1, -1], [40, 41, 42], [7, 8, -1]])


def tiny_model(seed: int = 0, **kwargs) -> BertGuideNetwork:
    torch.manual_seed(seed)
    return BertGuideNetwork(BertGuideConfig(**{**TINY, "num_labels": 50, **kwargs}))


def clustered_model(num_clusters: int = 7, **kwargs) -> BertGuideNetwork:
    model = tiny_model(num_label_clusters=num_clusters, classifier_hidden_size=16, **kwargs)
    model.set_label_clusters(torch.arange(50) % num_clusters)  # interleaved: not the default contiguous blocks
    return model


def batch(seed: int = 1, rows: int = 4) -> dict:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 100, (rows, 9), generator=generator)
    guide = torch.randint(5, 100, (rows, 12), generator=generator)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": LABELS[:rows],
            "guide_input_ids": guide, "guide_attention_mask": torch.ones_like(guide)}  # fmt: skip


def test_contract_config_extends_bert_and_logits_need_no_labels():
    assert issubclass(BertGuideNetwork.config_class, BertConfig)
    model = BertGuideNetwork(BertGuideNetwork.config_class(**TINY, num_labels=50)).eval()
    input_ids = torch.randint(5, 100, (3, 7))
    output = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids))
    assert output.logits.shape == (3, 50) and output.loss is None
    top = model(input_ids=input_ids, top_k=5, return_logits=False)
    assert top.logits is None and top.top_k_ids.shape == (3, 5)
    assert torch.equal(top.top_k_ids, output.logits.topk(5).indices)
    assert model.accepts_loss_kwargs is False  # Trainer must not rescale the loss (DDP / grad accumulation trap)


def test_paper_layer_defaults_and_config_has_no_id2label(tmp_path):
    base = BertGuideConfig(num_labels=500_000)  # BERT-base: 8 [CLS] layers for texts, 10 for label texts (§3.2)
    assert (base.num_text_feature_layers, base.num_label_feature_layers) == (8, 10)
    minilm = BertGuideConfig(num_hidden_layers=6, hidden_size=384, num_attention_heads=12, num_labels=10)
    assert (minilm.num_text_feature_layers, minilm.num_label_feature_layers) == (5, 7)
    base.save_pretrained(tmp_path)
    text = (tmp_path / "config.json").read_text()
    assert len(text) < 5000 and json.loads(text)["num_labels"] == 500_000 and base.id2label is None


def test_each_loss_term_is_reported_positive_and_sums_with_the_config_weights():
    model = tiny_model(feature_loss_weight=0.5, link_loss_weight=2.0).train()
    output = model(**batch())
    for term in (output.loss_class, output.loss_feature, output.loss_link):
        assert term is not None and term.ndim == 0 and float(term.detach()) > 0
    expected = output.loss_class + 0.5 * output.loss_feature + 2.0 * output.loss_link
    torch.testing.assert_close(output.loss, expected)
    model.eval()  # inference: only the text path runs, the guide terms are not computed
    evaluation = model(**batch())
    assert evaluation.loss_feature is None and evaluation.loss_link is None
    torch.testing.assert_close(evaluation.loss, evaluation.loss_class)


def test_each_loss_term_decreases_when_trained():
    model = tiny_model(feature_dropout=0.0, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    inputs = batch()
    first = model(**inputs)
    for _ in range(25):
        optimizer.zero_grad()
        model(**inputs).loss.backward()
        optimizer.step()
    last = model(**inputs)
    for name in ("loss", "loss_class", "loss_feature", "loss_link"):
        assert float(getattr(last, name).detach()) < 0.7 * float(getattr(first, name).detach()), name


def test_ablation_without_guides_needs_no_label_texts_and_has_no_label_extractor():
    model = tiny_model(feature_loss_weight=0, link_loss_weight=0).train()
    assert model.label_extractor is None
    inputs = {key: value for key, value in batch().items() if not key.startswith("guide_")}
    output = model(**inputs)
    torch.testing.assert_close(output.loss, output.loss_class)
    with pytest.raises(ValueError, match="guide_input_ids"):
        tiny_model().train()(**inputs)  # guides on, no label texts: named, not a crash deep in torch


def test_feature_loss_stop_gradient_pulls_only_the_text_features():
    """The paper's MSE moves both extractors; with `feature_loss_stop_gradient` the label side is a fixed target."""
    for stop, label_side_moves in ((False, True), (True, False)):
        model = tiny_model(link_loss_weight=0, feature_loss_stop_gradient=stop, feature_dropout=0.0, **EQ3).train()
        output = model(**batch())
        output.loss_feature.backward()
        assert (model.label_extractor.dense.weight.grad is not None) == label_side_moves, stop
        assert model.text_extractor.dense.weight.grad.abs().sum() > 0
        same = tiny_model(link_loss_weight=0, feature_dropout=0.0, **EQ3).train()(**batch())
        torch.testing.assert_close(output.loss_feature, same.loss_feature)  # the value is the same either way


def test_feature_loss_in_pooler_space_shapes_the_encoder_not_the_classifier_input(tmp_path):
    """`feature_loss_space="pooler"` (the default, as the authors' code): the MSE of BERT's pooler outputs, which the
    extractors and the classifier never read; the pooler loads and saves with the weights."""
    no_dropout = {"feature_dropout": 0.0, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    model = tiny_model(link_loss_weight=0, feature_loss_space="pooler", **no_dropout).eval()
    inputs = batch()
    pooled = model.bert(inputs["input_ids"], attention_mask=inputs["attention_mask"]).pooler_output
    guide = model.bert(inputs["guide_input_ids"], attention_mask=inputs["guide_attention_mask"]).pooler_output
    output = model.train()(**inputs)
    torch.testing.assert_close(output.loss_feature, (pooled - guide).pow(2).mean())
    output.loss_feature.backward()
    assert model.bert.pooler.dense.weight.grad.abs().sum() > 0
    assert model.bert.encoder.layer[-1].output.dense.weight.grad.abs().sum() > 0
    assert model.text_extractor.dense.weight.grad is None and model.label_extractor.dense.weight.grad is None
    assert tiny_model().bert.pooler is not None and tiny_model(feature_loss_weight=0).bert.pooler is None
    assert tiny_model(feature_loss_space="features").bert.pooler is None  # eq. 3 as written: no pooler at all
    model.eval().save_pretrained(tmp_path)
    reloaded = BertGuideNetwork.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(reloaded.bert.pooler.dense.weight, model.bert.pooler.dense.weight)
    with pytest.raises(Exception, match="feature_loss_space must be one of"):  # strict dataclass validation
        BertGuideConfig(**TINY, num_labels=5, feature_loss_space="cls")


def test_documents_without_labels_are_left_out_of_the_guide_losses():
    model = tiny_model(feature_dropout=0.0, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0).train()
    inputs = batch()
    with_row = model(**inputs, guide_mask=torch.tensor([1.0, 1.0, 1.0, 0.0]))
    without_row = model(**{key: value[:3] for key, value in inputs.items()})
    torch.testing.assert_close(with_row.loss_feature, without_row.loss_feature)
    torch.testing.assert_close(with_row.loss_link, without_row.loss_link)


def test_shortlist_covering_every_cluster_gives_the_dense_loss():
    model = clustered_model(shortlist_clusters=7).train()
    model.config.feature_loss_weight = model.config.link_loss_weight = 0.0
    inputs = {key: value for key, value in batch().items() if not key.startswith("guide_")}
    torch.manual_seed(3)
    output = model(**inputs)
    torch.manual_seed(3)  # the same dropout masks: recompute the dense BCE over every label
    features, _ = model._encode(model.text_extractor, inputs["input_ids"], inputs["attention_mask"], None)
    logits = model.classifier.output(model.classifier.label_features(features))
    targets = torch.zeros(4, 50)
    for row, ids in enumerate(LABELS):
        targets[row, ids[ids >= 0]] = 1.0
    cluster_logits = model.classifier.cluster_scorer(features)
    cluster_targets = torch.zeros(4, 7)
    for row, ids in enumerate(LABELS):
        cluster_targets[row, ids[ids >= 0] % 7] = 1.0
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    torch.testing.assert_close(output.loss_class, bce(logits, targets) + bce(cluster_logits, cluster_targets))


def test_shortlist_keeps_every_positive_even_beyond_the_shortlist_size():
    model = clustered_model(shortlist_clusters=1).train()
    inputs = batch()
    features, _ = model._encode(model.text_extractor, inputs["input_ids"], None, None)
    ids = LABELS.clone()
    _, candidates, _ = model._class_loss(features, ids)
    for row, positives in enumerate(ids):
        assert set(positives[positives >= 0].tolist()) <= set(candidates[row].tolist())


def test_shortlist_top_k_covering_every_cluster_equals_the_dense_scores():
    model = clustered_model(shortlist_clusters=7).eval()
    input_ids = torch.randint(5, 100, (5, 8))
    with torch.no_grad():
        output = model(input_ids=input_ids, top_k=6)
    dense = output.logits.topk(6)
    assert torch.equal(output.top_k_ids, dense.indices)
    torch.testing.assert_close(output.top_k_scores, dense.values)
    assert torch.all((torch.sigmoid(output.logits) > 0) & (torch.sigmoid(output.logits) < 1))


def test_shortlist_top_k_searches_only_the_best_clusters():
    model = clustered_model(shortlist_clusters=2).eval()
    input_ids = torch.randint(5, 100, (3, 8))
    with torch.no_grad():
        output = model(input_ids=input_ids, top_k=4, return_logits=True)
        cluster_logits = model.classifier.cluster_scorer(model._encode(model.text_extractor, input_ids, None, None)[0])
    best_clusters = cluster_logits.topk(2).indices
    for row in range(3):
        assert set((output.top_k_ids[row] % 7).tolist()) <= set(best_clusters[row].tolist())
        torch.testing.assert_close(output.top_k_scores[row], output.logits[row, output.top_k_ids[row]])
    with torch.no_grad():  # one cluster of ~7 labels cannot hold 30: the shortlist widens to enough clusters
        wide = model(input_ids=input_ids, top_k=30, shortlist_clusters=1)
    for row in range(3):
        assert len(set(wide.top_k_ids[row].tolist())) == 30
        torch.testing.assert_close(wide.top_k_scores[row], output.logits[row, wide.top_k_ids[row]])


@pytest.mark.parametrize("max_score_elements", [2**24, 300, 20])
def test_bounded_top_k_equals_the_dense_top_k(max_score_elements):
    """Row blocks (300 < 8 x 50 scores) and label blocks (20 < one row of 50) give the dense answer exactly."""
    model = tiny_model(max_score_elements=max_score_elements).eval()
    input_ids = torch.randint(5, 100, (8, 6))
    with torch.no_grad():
        output = model(input_ids=input_ids, top_k=5, return_logits=True)
    dense = output.logits.topk(5)
    assert torch.equal(output.top_k_ids, dense.indices)
    torch.testing.assert_close(output.top_k_scores, dense.values)


def test_int8_screened_top_k_of_a_wide_classifier_equals_the_dense_top_k():
    from hf_xmc.models.aplc.screening import int8_kernels_available

    if not int8_kernels_available():
        pytest.skip("this torch build has no int8 CPU kernels")
    model = tiny_model(num_labels=6000, top_k_screening="int8").eval()
    input_ids = torch.randint(5, 100, (4, 6))
    with torch.no_grad():
        output = model(input_ids=input_ids, top_k=5, return_logits=True)
    assert torch.equal(output.top_k_ids, output.logits.topk(5).indices)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_label_clusters": 5, "shortlist_clusters": 6}, "cannot keep more clusters than there are"),
        ({"text_feature_layers": 4}, "between 1 and num_hidden_layers"),
        ({"classifier_activation": "gelu"}, "classifier_activation must be one of"),
        ({"class_loss_weight": 0}, "ranking classifier is what predicts"),
        ({"feature_loss_weight": -1}, "feature_loss_weight must be >= 0"),
        ({"output_logits": False}, "needs output_top_k"),
        ({"top_k_screening": "fast"}, "top_k_screening must be one of"),
    ],
)
def test_bad_config_values_are_explained(kwargs, message):
    with pytest.raises(Exception, match=message):
        BertGuideConfig(**TINY, num_labels=50, **kwargs)


def test_bad_cluster_assignments_are_explained():
    model = tiny_model(num_label_clusters=5)
    with pytest.raises(ValueError, match="for 49 labels, the model has 50"):
        model.set_label_clusters([0] * 49)
    with pytest.raises(ValueError, match="have no label"):
        model.set_label_clusters([0, 1, 2, 3] * 12 + [0, 1])
    with pytest.raises(ValueError, match="has no label clusters"):
        tiny_model().set_label_clusters([0] * 50)
    with pytest.raises(ValueError, match="outside"):
        tiny_model()(input_ids=torch.randint(5, 100, (1, 4)), labels=torch.tensor([[50]]))


def test_save_load_identical_through_auto_model(tmp_path):
    register_auto_classes()
    model = clustered_model().eval()
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "bert_guide" and set(config["auto_map"]) >= {"AutoConfig", "AutoModel"}
    # the Hub copy: modeling, config and the files they import relatively (screening.py is the APLC one, via link)
    assert {"modeling_bert_guide.py", "configuration_bert_guide.py", "label_shortlist.py", "screening.py"} <= set(
        os.listdir(tmp_path)
    )
    assert not (tmp_path / "screening.py").is_symlink()
    reloaded = AutoModel.from_pretrained(tmp_path).eval()
    assert type(reloaded) is BertGuideNetwork
    assert torch.equal(reloaded.label_clusters.label_to_cluster, torch.arange(50) % 7)
    input_ids = torch.randint(5, 100, (3, 6))
    with torch.no_grad():
        before, after = model(input_ids=input_ids, top_k=5), reloaded(input_ids=input_ids, top_k=5)
    assert torch.equal(before.logits, after.logits) and torch.equal(before.top_k_ids, after.top_k_ids)


def test_starts_from_a_bert_checkpoint_with_its_encoder_weights(tmp_path):
    torch.manual_seed(0)
    bert = BertModel(BertConfig(**TINY), add_pooling_layer=False)
    bert.save_pretrained(tmp_path)
    model = BertGuideNetwork.from_pretrained(tmp_path, num_labels=20, num_label_clusters=4)
    assert type(model.config) is BertGuideConfig and model.config.num_labels == 20
    torch.testing.assert_close(model.bert.embeddings.word_embeddings.weight, bert.embeddings.word_embeddings.weight)
    assert torch.equal(model.label_clusters.label_to_cluster, torch.arange(20) * 4 // 20)  # default blocks
    assert AutoConfig.from_pretrained(tmp_path).model_type == "bert"


REMOTE_CODE_CHECK = """
import sys, torch
from transformers import AutoModel
input_ids = torch.load(sys.argv[1])
model = AutoModel.from_pretrained(sys.argv[2], trust_remote_code=True).eval()
with torch.no_grad():
    output = model(input_ids=input_ids, top_k=5)
torch.save((output.logits, output.top_k_ids), sys.argv[2] + ".out.pt")
print(type(model).__module__)
assert "hf_xmc" not in sys.modules, "hf_xmc was imported"
"""


def test_remote_code_loads_without_hf_xmc(tmp_path):
    model = clustered_model().eval()
    model.save_pretrained(tmp_path / "gudn")
    input_ids = torch.randint(5, 100, (2, 6))
    torch.save(input_ids, tmp_path / "ids.pt")
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", REMOTE_CODE_CHECK, str(tmp_path / "ids.pt"), str(tmp_path / "gudn")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[0].startswith("transformers_modules.")
    logits, top_k_ids = torch.load(tmp_path / "gudn.out.pt")
    with torch.no_grad():
        expected = model(input_ids=input_ids, top_k=5)
    assert torch.equal(logits, expected.logits) and torch.equal(top_k_ids, expected.top_k_ids)
