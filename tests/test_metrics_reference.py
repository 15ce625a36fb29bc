"""Every ranking metric equals two independent references, to 1e-9, on real predictions (debtags, TF-IDF model).

References: `napkinxc.metrics` (PyPI) and pyxclib's `xclib/evaluation/xc_metrics.py` definitions, re-implemented
below in plain dense numpy (pyxclib itself is not installable from PyPI). The pyxclib formulas are followed as
published except for its float32 accumulation in `_ndcg`, which would make a 1e-9 comparison meaningless.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import f1_score, precision_score, recall_score
from sklearn.preprocessing import normalize

from hf_xmc.data import load_xmc_dataset
from hf_xmc.data.propensity import inverse_propensity
from hf_xmc.metrics import compute_xmc_metrics, top_k_ids

napkinxc_metrics = pytest.importorskip("napkinxc.metrics")
pytestmark = pytest.mark.real_data

KS = [1, 3, 5, 10]
TOP = 20
NUM_TRAIN, NUM_TEST = 6000, 1500


@pytest.fixture(scope="module")
def real_predictions(debtags_dir):
    """Scores of a quick TF-IDF label-centroid model on debtags, with a few documents made awkward on purpose."""
    xmc = load_xmc_dataset(debtags_dir)
    train_texts = xmc.splits["train"]["text"][:NUM_TRAIN]
    test_texts = xmc.splits["test"]["text"][:NUM_TEST]
    train_labels = xmc.label_matrix("train")[:NUM_TRAIN]
    references = sp.csr_matrix(xmc.label_matrix("test")[:NUM_TEST], dtype=np.float64)
    vectorizer = TfidfVectorizer(max_features=20000, sublinear_tf=True)
    train_features = vectorizer.fit_transform(train_texts)
    centroids = normalize(train_features.T @ train_labels, axis=0)
    scores = (vectorizer.transform(test_texts) @ centroids).toarray()
    # distinct scores (no ties), so that any correct top-k gives the same ranking
    scores += np.random.default_rng(0).random(scores.shape) * 1e-9
    references = references.tolil()
    for row in range(0, NUM_TEST, 150):  # some documents without any relevant label
        references.rows[row], references.data[row] = [], []
    references = references.tocsr()
    ranked = top_k_ids(scores, TOP)
    ranked[1::97, 0] = xmc.num_labels + 7  # some generated ids outside the label space
    counts = np.asarray(xmc.label_matrix("train").sum(axis=0)).ravel()
    inv_propensity = inverse_propensity(counts, xmc.vocabulary.num_train_docs)
    return {
        "scores": scores,
        "ranked": ranked,
        "references": references,
        "counts": counts,
        "num_train_docs": xmc.vocabulary.num_train_docs,
        "inv_propensity": inv_propensity,
        "num_labels": xmc.num_labels,
    }


@pytest.fixture(scope="module")
def ours(real_predictions):
    data = real_predictions
    return compute_xmc_metrics(
        data["ranked"],
        data["references"],
        k=KS,
        label_counts=data["counts"],
        num_train_docs=data["num_train_docs"],
    )


def _lists(matrix_or_ids):
    if sp.issparse(matrix_or_ids):
        return [
            matrix_or_ids.indices[a:b].tolist() for a, b in zip(matrix_or_ids.indptr[:-1], matrix_or_ids.indptr[1:])
        ]
    return [row.tolist() for row in matrix_or_ids]


def test_real_predictions_are_not_trivial(ours, real_predictions):
    assert 0.3 < ours["P@1"] < 0.95
    assert ours["PSP@5_norm"] < ours["P@5"] * 3
    assert (real_predictions["references"].getnnz(axis=1) == 0).sum() == 10


def test_matches_napkinxc(ours, real_predictions):
    data = real_predictions
    truth, ranked, w = _lists(data["references"]), _lists(data["ranked"]), data["inv_propensity"]
    top = max(KS)
    reference = {
        "P@{}": napkinxc_metrics.precision_at_k(truth, ranked, k=top),
        "nDCG@{}": napkinxc_metrics.ndcg_at_k(truth, ranked, k=top),
        "R@{}": napkinxc_metrics.recall_at_k(truth, ranked, k=top),
        "coverage@{}": napkinxc_metrics.coverage_at_k(truth, ranked, k=top),
        "PSP@{}": napkinxc_metrics.psprecision_at_k(truth, ranked, w, k=top, normalize=False),
        "PSP@{}_norm": napkinxc_metrics.psprecision_at_k(truth, ranked, w, k=top),
        "PSnDCG@{}": napkinxc_metrics.psndcg_at_k(truth, ranked, w, k=top, normalize=False),
        "PSnDCG@{}_norm": napkinxc_metrics.psndcg_at_k(truth, ranked, w, k=top),
        "PSR@{}": napkinxc_metrics.psrecall_at_k(truth, ranked, w, k=top, normalize=False),
        "PSR@{}_norm": napkinxc_metrics.psrecall_at_k(truth, ranked, w, k=top),
    }
    for pattern, values in reference.items():
        for k in KS:
            assert ours[pattern.format(k)] == pytest.approx(values[k - 1], abs=1e-9), pattern.format(k)
    assert len(ours) == len(reference) * len(KS)


# --- pyxclib's definitions (xclib/evaluation/xc_metrics.py), dense and float64 --------------------------------------


def _pyxclib_flags(indices, dense_truth, inv_psp=None):
    # pyxclib appends one all-zero column: padding and ids outside the label space look it up
    padded_truth = np.hstack([dense_truth, np.zeros((dense_truth.shape[0], 1))])
    indices = np.where((indices < 0) | (indices >= dense_truth.shape[1]), dense_truth.shape[1], indices)
    flags = np.take_along_axis(padded_truth, indices, axis=1)
    if inv_psp is not None:
        flags = flags * np.hstack([inv_psp, [0.0]])[indices]
    return flags


def _pyxclib_best_flags(dense_truth, inv_psp, k):
    return -np.sort(-(dense_truth * inv_psp), axis=1)[:, :k]


def _pyxclib_precision(flags, k):
    return np.mean(np.cumsum(flags, axis=1) / (np.arange(k) + 1), axis=0)


def _pyxclib_ndcg(flags, n, k):
    dcg = np.cumsum(flags / np.log2(np.arange(k) + 2), axis=1)
    ideal_prefix = np.cumsum(1 / np.log2(np.arange(k) + 2))
    return np.array([np.mean(dcg[:, j] / np.minimum(n, ideal_prefix[j])) for j in range(k)])


def _pyxclib_recall(flags, deno):
    return np.mean(np.cumsum(flags, axis=1) * deno[:, None], axis=0)


def test_matches_pyxclib_definitions(ours, real_predictions):
    data = real_predictions
    top = max(KS)
    dense_truth = data["references"].toarray()
    indices = data["ranked"][:, :top]
    w = data["inv_propensity"]
    flags = _pyxclib_flags(indices, dense_truth)
    ps_flags = _pyxclib_flags(indices, dense_truth, w)
    best = _pyxclib_best_flags(dense_truth, w, top)
    total_pos = dense_truth.sum(axis=1).astype(np.int64)
    ideal = np.cumsum(1 / np.log2(np.arange(1, max(total_pos.max(), top) + 1) + 1))
    n = ideal[total_pos - 1]  # pyxclib's index -1 for documents without labels: their DCG is 0 anyway
    deno = 1 / np.where(total_pos == 0, 1, total_pos)
    reference = {
        "P@{}": _pyxclib_precision(flags, top),
        "nDCG@{}": _pyxclib_ndcg(flags, n, top),
        "R@{}": _pyxclib_recall(flags, deno),
        "PSP@{}_norm": _pyxclib_precision(ps_flags, top) / _pyxclib_precision(best, top),
        "PSnDCG@{}_norm": _pyxclib_ndcg(ps_flags, n, top) / _pyxclib_ndcg(best, n, top),
        "PSR@{}_norm": _pyxclib_recall(ps_flags, deno) / _pyxclib_recall(best, deno),
    }
    for pattern, values in reference.items():
        for k in KS:
            assert ours[pattern.format(k)] == pytest.approx(values[k - 1], abs=1e-9), pattern.format(k)


def test_score_matrix_paths_equal_the_id_path(ours, real_predictions):
    data = real_predictions
    scores = data["scores"].copy()
    outside = np.zeros(scores.shape[0], dtype=bool)
    outside[1::97] = True
    scores_kept = scores[~outside]
    options = dict(k=KS, label_counts=data["counts"], num_train_docs=data["num_train_docs"])
    references = data["references"][~outside]
    from_dense = compute_xmc_metrics(scores_kept, references, **options)
    ranked = data["ranked"][~outside]
    top_scores = np.take_along_axis(scores_kept, ranked, axis=1)
    rows = np.repeat(np.arange(ranked.shape[0]), TOP)
    sparse = sp.csr_matrix((top_scores.ravel(), (rows, ranked.ravel())), shape=scores_kept.shape)
    assert compute_xmc_metrics(sparse, references, **options) == pytest.approx(from_dense, abs=1e-12)
    assert compute_xmc_metrics(ranked, references, **options) == pytest.approx(from_dense, abs=1e-12)


def test_set_metrics_match_napkinxc_and_scikit_learn(real_predictions):
    data = real_predictions
    num_labels = data["num_labels"]
    # a thresholded prediction: the labels scoring above 0.2, ranked
    sets = [[j for j in row if j < num_labels and data["scores"][i, j] > 0.2] for i, row in enumerate(data["ranked"])]
    truth = _lists(data["references"])
    ours = compute_xmc_metrics(sets, data["references"], k=[1, 3], average="set")
    assert ours["micro_f1"] == pytest.approx(napkinxc_metrics.f1_measure(truth, sets, average="micro"), abs=1e-9)
    predicted = np.zeros((len(sets), num_labels), dtype=np.int64)
    for i, row in enumerate(sets):
        predicted[i, row] = 1
    dense_truth = data["references"].toarray().astype(np.int64)
    present = np.flatnonzero(dense_truth.sum(axis=0))
    for name, scorer in (("precision", precision_score), ("recall", recall_score), ("f1", f1_score)):
        expected = scorer(dense_truth, predicted, average="micro", zero_division=0)
        assert ours[f"micro_{name}"] == pytest.approx(expected, abs=1e-9)
        expected = scorer(dense_truth, predicted, average="macro", labels=present, zero_division=0)
        assert ours[f"macro_{name}"] == pytest.approx(expected, abs=1e-9)
    # XLGen's F1@k: micro over the first k predictions actually made
    for k in (1, 3):
        hits = sum(len(set(row[:k]) & set(t)) for row, t in zip(sets, truth))
        made, relevant = sum(len(row[:k]) for row in sets), sum(len(t) for t in truth)
        precision, recall = hits / made, hits / relevant
        assert ours[f"F1@{k}"] == pytest.approx(2 * precision * recall / (precision + recall), abs=1e-9)
