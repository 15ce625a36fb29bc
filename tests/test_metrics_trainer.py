"""Trainer hooks: `make_compute_metrics` + `make_preprocess_logits_for_metrics` in a real `Trainer.evaluate`."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch import nn

from hf_xmc.metrics import compute_xmc_metrics, make_compute_metrics, make_preprocess_logits_for_metrics
from hf_xmc.metrics.trainer import label_ids_to_references

NUM_LABELS, NUM_FEATURES, NUM_DOCS = 12, 8, 37


class TinyMultiLabelModel(nn.Module):
    """A linear scorer; labels may be multi-hot floats or id lists padded with -100."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(NUM_FEATURES, NUM_LABELS)

    def forward(self, features, labels=None):
        logits = self.linear(features)
        loss = None
        if labels is not None:
            if labels.dtype != torch.float32:
                multi_hot = torch.zeros_like(logits)
                rows, cols = torch.nonzero(labels >= 0, as_tuple=True)
                multi_hot[rows, labels[rows, cols]] = 1.0
                labels = multi_hot
            loss = nn.functional.binary_cross_entropy_with_logits(logits, labels)
        return {"loss": loss, "logits": logits}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(NUM_DOCS, NUM_FEATURES)).astype(np.float32)
    label_lists = [
        sorted(rng.choice(NUM_LABELS, size=rng.integers(0, 4), replace=False).tolist()) for _ in range(NUM_DOCS)
    ]
    counts = rng.integers(0, 30, NUM_LABELS)
    return features, label_lists, counts


def _evaluate(tmp_path, features, labels, collator, **compute_kwargs):
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(
        output_dir=str(tmp_path), per_device_eval_batch_size=8, report_to=[], use_cpu=True, disable_tqdm=True
    )
    dataset = [{"features": f, "labels": y} for f, y in zip(features, labels)]
    trainer = Trainer(
        model=TinyMultiLabelModel(),
        args=args,
        data_collator=collator,
        compute_metrics=make_compute_metrics(k=[1, 3], **compute_kwargs),
        preprocess_logits_for_metrics=make_preprocess_logits_for_metrics(
            k=[1, 3], exclude=compute_kwargs.get("exclude")
        ),
    )
    return trainer.evaluate(eval_dataset=dataset)


def _expected(features, label_lists, **kwargs):
    with torch.no_grad():
        logits = TinyMultiLabelModel()(torch.from_numpy(features))["logits"].numpy()
    return compute_xmc_metrics(logits, label_lists, k=[1, 3], num_labels=NUM_LABELS, **kwargs)


def _multi_hot_collator(batch):
    labels = torch.zeros(len(batch), NUM_LABELS)
    for i, example in enumerate(batch):
        labels[i, example["labels"]] = 1.0
    return {"features": torch.tensor(np.stack([e["features"] for e in batch])), "labels": labels}


def _padded_ids_collator(batch):
    width = max(1, max(len(e["labels"]) for e in batch))
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    for i, example in enumerate(batch):
        labels[i, : len(example["labels"])] = torch.tensor(example["labels"], dtype=torch.long)
    return {"features": torch.tensor(np.stack([e["features"] for e in batch])), "labels": labels}


def test_trainer_evaluate_with_multi_hot_labels(tmp_path, data):
    features, label_lists, counts = data
    metrics = _evaluate(tmp_path, features, label_lists, _multi_hot_collator, label_counts=counts, num_train_docs=100)
    expected = _expected(features, label_lists, label_counts=counts, num_train_docs=100)
    for name, value in expected.items():
        assert metrics[f"eval_{name}"] == pytest.approx(value, abs=1e-9), name
    assert "eval_PSP@3_norm" in metrics and "eval_loss" in metrics


def test_trainer_evaluate_with_padded_label_ids(tmp_path, data):
    # batches of different label widths: Trainer pads between batches with -100 too
    features, label_lists, _ = data
    metrics = _evaluate(tmp_path, features, label_lists, _padded_ids_collator, num_labels=NUM_LABELS)
    for name, value in _expected(features, label_lists).items():
        assert metrics[f"eval_{name}"] == pytest.approx(value, abs=1e-9), name


def test_trainer_evaluate_leaves_out_the_filter_pairs(tmp_path, data):
    # each document's two best-scored labels are filter pairs: the top-3 kept per batch must widen by two
    features, label_lists, _ = data
    with torch.no_grad():
        logits = TinyMultiLabelModel()(torch.from_numpy(features))["logits"].numpy()
    best_two = np.argsort(-logits, axis=1)[:, :2]
    exclude = sp.csr_matrix(
        (np.ones(best_two.size), best_two.ravel(), np.arange(0, best_two.size + 1, 2)), shape=(NUM_DOCS, NUM_LABELS)
    )
    metrics = _evaluate(tmp_path, features, label_lists, _padded_ids_collator, num_labels=NUM_LABELS, exclude=exclude)
    expected = _expected(features, label_lists, exclude=exclude)
    assert expected != _expected(features, label_lists)
    for name, value in expected.items():
        assert metrics[f"eval_{name}"] == pytest.approx(value, abs=1e-9), name
    assert make_preprocess_logits_for_metrics(k=[1, 3], exclude=exclude)(torch.from_numpy(logits), None).shape[1] == 5


def test_core_accepts_cpu_tensors(data):
    features, label_lists, _ = data
    with torch.no_grad():
        logits = TinyMultiLabelModel()(torch.from_numpy(features))["logits"]
    multi_hot = torch.zeros(NUM_DOCS, NUM_LABELS)
    for i, row in enumerate(label_lists):
        multi_hot[i, row] = 1.0
    assert compute_xmc_metrics(logits, multi_hot, k=[1, 3]) == _expected(features, label_lists)


def test_preprocess_keeps_only_top_k_ids():
    logits = torch.tensor([[0.1, 0.9, 0.3, 0.5], [2.0, 1.0, 0.0, -1.0]])
    ids = make_preprocess_logits_for_metrics(k=[1, 3])((logits, None), None)
    assert ids.tolist() == [[1, 3, 2], [0, 1, 2]]
    assert make_preprocess_logits_for_metrics(k=10)(logits, None).shape == (2, 4)


def test_label_ids_to_references_detects_the_format():
    multi_hot = np.array([[0, 1, 1], [1, 0, 0]])
    assert label_ids_to_references(multi_hot, num_labels=3) is multi_hot
    padded = np.array([[2, 0, -100], [1, -100, -100]])
    matrix = label_ids_to_references(padded, num_labels=3)
    assert sp.issparse(matrix) and matrix.toarray().tolist() == [[1, 0, 1], [0, 1, 0]]
    # 0/1 values but a width different from the label space: ids
    assert label_ids_to_references(np.array([[1, 0]]), num_labels=5).toarray().tolist() == [[1, 1, 0, 0, 0]]
    assert label_ids_to_references(np.array([[1, 0]]), "ids").shape == (1, 2)
    with pytest.raises(ValueError, match="label_format must be one of"):
        label_ids_to_references(multi_hot, "dense")
    with pytest.raises(ValueError, match="neither multi-hot"):
        label_ids_to_references(np.array([[0.9, 0.1]]))
    with pytest.raises(ValueError, match="label id 7"):
        label_ids_to_references(np.array([[7, -1]]), num_labels=3)
    with pytest.raises(ValueError, match="needs num_train_docs"):
        make_compute_metrics(label_counts=[1, 2])
