"""Specification of the shortlist pieces around the model: label-text initialisation (ranker and APLC), the sparse
shortlist (fit, save/load, label-space checks), the fusion fit, and `hf-xmc train ranker` end to end (save, reload,
`load_xmc_model`, push to the loopback Hub)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from tiny_checkpoints import save_tiny_bert, tiny_bert_tokenizer, write_tiny_lf_dataset
from transformers import BertConfig

import hf_xmc.models  # noqa: F401  (registers the Auto classes)
from hf_xmc.baselines import peer_is_installed
from hf_xmc.data import LabelVocabulary, XMCInputError, load_xmc_dataset
from hf_xmc.models.aplc import EncoderAPLCConfig, EncoderWithAPLC
from hf_xmc.models.shortlist_ranker import FUSION_FEATURES, ShortlistRanker, ShortlistRankerConfig
from hf_xmc.shortlist.collator import ShortlistRankerCollator
from hf_xmc.shortlist.fusion import fit_fusion
from hf_xmc.shortlist.label_text import (
    embed_texts,
    init_label_weights_from_text,
    init_ranker_from_label_text,
    label_texts_with_fallback,
)
from hf_xmc.shortlist.sparse import SparseShortlister

pytest_plugins = ["hub_fixtures"]
needs_napkinxc = pytest.mark.skipif(not peer_is_installed("napkinxc-plt"), reason="napkinxc is not installed")
needs_omikuji = pytest.mark.skipif(not peer_is_installed("omikuji-bonsai"), reason="omikuji is not installed")
TINY_ENCODER = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 37}
LABEL_TEXTS = ["python web", "network graph", "sound video", "image math", "game editor", "data file", "user tool"]


def vocabulary_with_texts(texts) -> LabelVocabulary:
    labels = [f"L{i}" for i in range(len(texts))]
    return LabelVocabulary.from_label_lists([labels], all_labels=labels, texts=dict(zip(labels, texts)))


def test_a_label_without_text_falls_back_to_its_label_string_and_is_counted(caplog):
    vocabulary = vocabulary_with_texts(["python web", "", "sound video"])
    with caplog.at_level(logging.WARNING):
        texts, fallbacks = label_texts_with_fallback(vocabulary)
    assert fallbacks == 1 and texts[vocabulary.label_to_id["L1"]] == "L1"
    assert "1 of 3 labels have no text" in caplog.text


def test_ranker_classifier_starts_from_the_label_texts():
    tokenizer = tiny_bert_tokenizer()
    torch.manual_seed(0)
    encoder = BertConfig(vocab_size=len(tokenizer), **TINY_ENCODER)
    vocabulary = vocabulary_with_texts(LABEL_TEXTS)
    model = ShortlistRanker(ShortlistRankerConfig(encoder=encoder.to_dict(), num_labels=len(vocabulary))).eval()
    info = init_ranker_from_label_text(model, tokenizer, vocabulary)
    assert info["num_text_fallbacks"] == 0
    assert torch.allclose(model.label_text.embeddings.norm(dim=1), torch.ones(len(vocabulary)), atol=1e-5)
    # zero-shot: each label's own text gets that label as the classifier's best label
    texts = [vocabulary.texts[i] for i in range(len(vocabulary))]
    documents = embed_texts(model.encode, tokenizer, texts)
    logits = documents @ model.classifier.weight.T + model.classifier.bias
    assert torch.equal(logits.argmax(1), torch.arange(len(vocabulary)))
    counts = torch.as_tensor(vocabulary.counts, dtype=torch.float32)
    assert torch.equal(model.label_text.log_prior.argsort(), counts.argsort())  # frequent labels, higher prior


def test_aplc_head_starts_from_the_label_texts_in_head_and_tail_clusters():
    tokenizer = tiny_bert_tokenizer()
    torch.manual_seed(0)
    encoder = BertConfig(vocab_size=len(tokenizer), **TINY_ENCODER)
    vocabulary = vocabulary_with_texts(LABEL_TEXTS)
    config = EncoderAPLCConfig(encoder=encoder.to_dict(), num_labels=len(vocabulary), label_cutoffs=[3, 2, 2])
    model = EncoderWithAPLC(config).eval()
    model.config.dim_decay_factor = 1.0  # keep the tail projections wide enough for 32 dimensions

    def pooled(**batch):
        return model.encoder(**batch).last_hidden_state.mean(1)

    texts = [vocabulary.texts[i] for i in range(len(vocabulary))]
    label_embeddings = embed_texts(pooled, tokenizer, texts)
    before = model.aplc.head.weight.clone()
    init_label_weights_from_text(model, label_embeddings)
    assert not torch.equal(before, model.aplc.head.weight)
    inputs = tokenizer(texts, padding=True, return_tensors="pt")
    logits = model(**inputs).logits  # head and tail labels alike
    own_rank = (logits > logits.diagonal()[:, None]).sum(1)
    assert (own_rank <= 1).float().mean() >= 6 / 7  # (almost) every label text finds its own label first or second
    with pytest.raises(ValueError, match="shape"):
        init_label_weights_from_text(model, label_embeddings[:3])
    config.tail_projection = "layernorm_relu"
    with pytest.raises(ValueError, match="tail_projection='linear'"):
        init_label_weights_from_text(EncoderWithAPLC(config), label_embeddings)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    folder = write_tiny_lf_dataset(tmp_path_factory.mktemp("lf"), num_train=120, num_test=30, num_labels=12)
    return load_xmc_dataset(str(folder))


@needs_napkinxc
def test_sparse_shortlist_saves_loads_and_refuses_another_label_space(tiny_data, tmp_path):
    train = tiny_data.splits["train"]
    texts, labels = list(train["text"]), [list(ids) for ids in train["labels"]]
    shortlister = SparseShortlister.fit(texts, labels, tiny_data.vocabulary, algorithm="napkinxc-plt")
    ids, scores = shortlister.top_k(texts[:5], k=4)
    assert ids.shape == (5, 4) and ((ids >= -1) & (ids < len(tiny_data.vocabulary))).all()
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first
    shortlister.save_pretrained(tmp_path / "sparse")
    reloaded = SparseShortlister.from_pretrained(tmp_path / "sparse", vocabulary=tiny_data.vocabulary)
    again_ids, again_scores = reloaded.top_k(texts[:5], k=4)
    assert np.array_equal(ids, again_ids) and np.allclose(scores, again_scores)
    other = vocabulary_with_texts(LABEL_TEXTS)
    with pytest.raises(XMCInputError, match="another label space"):
        SparseShortlister.from_pretrained(tmp_path / "sparse", vocabulary=other)


def test_collator_refuses_a_shortlist_outside_the_label_space():
    collator = ShortlistRankerCollator(tiny_bert_tokenizer(), num_labels=5, max_length=16)
    batch = collator([{"text": "python web", "labels": [1], "candidate_ids": [0, 4], "candidate_scores": [0.5, 0.1]}])
    assert batch["candidate_ids"].tolist() == [[0, 4]] and batch["labels"].tolist() == [[1]]
    with pytest.raises(XMCInputError, match="another label space"):
        collator([{"text": "python web", "labels": [1], "candidate_ids": [7]}])


@pytest.mark.parametrize("objective", ["listwise", "pointwise"])
def test_fusion_weighs_the_informative_feature_and_zeroes_the_unused_ones(objective):
    rng = np.random.default_rng(0)
    documents = np.repeat(np.arange(200), 20)  # 200 documents, 20 candidates each
    features = rng.normal(size=(4000, len(FUSION_FEATURES))).astype(np.float32)
    sparse = FUSION_FEATURES.index("sparse_score")
    targets = features[:, sparse] + 0.3 * rng.normal(size=4000) > 1.0
    model = ShortlistRanker(ShortlistRankerConfig(encoder=BertConfig(vocab_size=10, **TINY_ENCODER).to_dict()))
    use = ["sparse_score", "dense_similarity"]
    weights = fit_fusion(model, features, targets, use, documents=documents, objective=objective)
    assert weights["sparse_score"] > 5 * abs(weights["dense_similarity"])
    assert weights["classifier_logit"] == 0.0 and weights["label_log_prior"] == 0.0
    assert float(model.fusion.weight[sparse].detach()) == pytest.approx(weights["sparse_score"])
    # the fused score is a calibrated probability: about as many gold labels as sigmoid(score) predicts
    scores = torch.sigmoid(model.fusion(torch.as_tensor(features))).detach().numpy()
    assert abs(scores.sum() - targets.sum()) < 0.15 * targets.sum()
    with pytest.raises(ValueError, match="cannot be fitted"):
        fit_fusion(model, features, np.ones(4000, dtype=bool), documents=documents, objective=objective)
    with pytest.raises(ValueError, match="subset"):
        fit_fusion(model, features, targets, use_features=["tf_idf"], documents=documents, objective=objective)


def test_listwise_fusion_needs_to_know_each_candidates_document():
    model = ShortlistRanker(ShortlistRankerConfig(encoder=BertConfig(vocab_size=10, **TINY_ENCODER).to_dict()))
    features = np.random.default_rng(0).normal(size=(10, len(FUSION_FEATURES)))
    with pytest.raises(ValueError, match="needs `documents`"):
        fit_fusion(model, features, np.arange(10) < 3, objective="listwise")


@needs_omikuji  # the ranker's default shortlister: omikuji Bonsai
def test_train_ranker_end_to_end_saves_reloads_serves_and_pushes(tiny_data, tmp_path, fake_hub, unique_repo_id):
    from hf_xmc.hub import load_xmc_model, push_xmc_model
    from hf_xmc.training.ranker_recipe import RANKER_RECIPE

    encoder = save_tiny_bert(tmp_path / "encoder")
    data_folder = write_tiny_lf_dataset(tmp_path / "lf", num_train=120, num_test=30, num_labels=12)
    args = RANKER_RECIPE.parse_args(
        ["--dataset_name_or_path", str(data_folder), "--model_name_or_path", str(encoder),
         "--output_dir", str(tmp_path / "out"), "--num_train_epochs", "4", "--per_device_train_batch_size", "16",
         "--decision_validation_size", "10", "--fusion_validation_size", "20", "--report_to", "none"]
    )  # fmt: skip
    result = RANKER_RECIPE.run(*args)
    assert result["reload_max_abs_diff"] < 1e-5
    assert result["metrics"]["P@1"] > 0.5  # the tiny labels are learnable from the words
    assert result["ranker"]["label_text"]["num_text_fallbacks"] == 0
    assert set(result["ranker"]["fusion"]["weights"]) == {*FUSION_FEATURES, "bias"}
    assert (tmp_path / "out" / "sparse_shortlist" / "sparse_shortlist.json").is_file()

    checkpoint = load_xmc_model(tmp_path / "out", method="ranker")
    assert checkpoint.model.sparse_shortlister is not None  # the sparse model came with the checkpoint
    local = checkpoint.predict(["network graph data"], k=3)[0]
    assert len(local) == 3 and all(label.label_id is not None for label in local)

    push_xmc_model(tmp_path / "out", unique_repo_id)
    from_hub = load_xmc_model(unique_repo_id)
    assert from_hub.model.sparse_shortlister is not None
    assert [label.label for label in from_hub.predict(["network graph data"], k=3)[0]] == [
        label.label for label in local
    ]


def test_aplc_recipe_flag_encodes_the_label_texts_with_the_model_encoder(tmp_path):
    from hf_xmc.shortlist.label_text import init_aplc_from_label_text
    from hf_xmc.training.aplc_recipe import APLC_RECIPE

    encoder = save_tiny_bert(tmp_path / "encoder")
    vocabulary = vocabulary_with_texts(LABEL_TEXTS)
    _, model_args, _ = APLC_RECIPE.parse_args(
        ["--model_name_or_path", str(encoder), "--label_cutoffs", "3", "4", "--dim_decay_factor", "1",
         "--init_label_weights_from_text", "--output_dir", str(tmp_path / "out")]
    )  # fmt: skip
    model = APLC_RECIPE.build_model(model_args, vocabulary, None).eval()
    tokenizer = tiny_bert_tokenizer()
    texts = [vocabulary.texts[i] for i in range(len(vocabulary))]
    logits = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits
    own_rank = (logits > logits.diagonal()[:, None]).sum(1)
    assert (own_rank <= 1).float().mean() >= 6 / 7
    with pytest.raises(ValueError, match="EncoderWithAPLC"):
        init_aplc_from_label_text(torch.nn.Linear(2, 2), str(encoder), vocabulary)
