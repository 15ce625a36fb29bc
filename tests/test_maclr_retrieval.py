"""The dense label index: exact and faiss (HNSW, IVF) top-k, own-id exclusion, new labels without retraining,
save/load, and the zero-shot evaluation with seen and unseen labels reported apart."""

from __future__ import annotations

import numpy as np
import pytest
from maclr_fixtures import tiny_encoder

from hf_xmc.maclr import LabelIndex, evaluate_label_retrieval, own_label_ids
from hf_xmc.maclr.evaluation import popularity_ranking, subset_metrics
from hf_xmc.metrics import compute_xmc_metrics


def clustered_vectors(num: int, dim: int, seed: int) -> np.ndarray:
    """Vectors around 50 centres (like real embeddings, unlike uniform noise)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(50, dim))
    return (centres[rng.integers(0, 50, num)] + 0.5 * rng.normal(size=(num, dim))).astype(np.float32)


@pytest.mark.parametrize("chunk_elements", [1 << 24, 256])  # one label block / many blocks merged
def test_exact_search_is_the_brute_force_ranking(chunk_elements, monkeypatch):
    import hf_xmc.maclr.retrieval as retrieval

    monkeypatch.setattr(retrieval, "_CHUNK_ELEMENTS", chunk_elements)
    labels = clustered_vectors(300, 16, 0)
    queries = clustered_vectors(20, 16, 1)
    ids, scores = LabelIndex(labels).search(queries, k=7)
    expected = np.argsort(-(queries @ labels.T), axis=1)[:, :7]
    np.testing.assert_array_equal(ids, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ labels.T, expected, axis=1), rtol=1e-5)
    assert ids.dtype == np.int64 and scores.dtype == np.float32


@pytest.mark.parametrize("backend", ["hnsw", "ivf"])
def test_faiss_backends_recall_the_exact_top_k(backend):
    labels = clustered_vectors(5000, 32, 2)
    queries = clustered_vectors(200, 32, 3)
    exact, _ = LabelIndex(labels).search(queries, k=10)
    approx, scores = LabelIndex(labels, backend=backend).search(queries, k=10)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact)])
    assert recall >= 0.9
    assert np.all(np.diff(scores, axis=1) <= 1e-5)  # best first


def test_own_id_is_excluded_and_rows_padded_when_labels_run_out():
    labels = np.eye(4, dtype=np.float32)
    queries = np.array([[1.0, 0.5, 0.2, 0.0], [0.0, 0.0, 0.0, 1.0]], dtype=np.float32)
    index = LabelIndex(labels, labels=["a", "b", "c", "d"])
    exclude = own_label_ids(["a", "zz"], index.labels)
    assert exclude == [[0], []]
    ids, scores = index.search(queries, k=4, exclude=exclude)
    assert ids[0].tolist() == [1, 2, 3, -1] and scores[0, -1] == -np.inf
    assert ids[1, 0] == 3
    with pytest.raises(ValueError, match="exclude has 1 rows for 2 queries"):
        index.search(queries, k=2, exclude=[[0]])


@pytest.mark.parametrize("backend", ["exact", "hnsw"])
def test_new_labels_are_retrievable_without_retraining(backend):
    encoder = tiny_encoder()
    index = LabelIndex.build(encoder, ["python graph", "web server"], labels=["py", "web"], backend=backend)
    new_ids = index.add(["sound video editor"], labels=["sound"])
    assert new_ids.tolist() == [2] and len(index) == 3 and index.labels[-1] == "sound"
    embedding = encoder.encode(["sound video editor"])
    np.testing.assert_allclose(index.embeddings[2], embedding[0], rtol=1e-5)
    ids, scores = index.search(embedding, k=3)
    assert 2 in ids[0]  # ranked with the others, its score the inner product with the new label's own text
    assert scores[0][list(ids[0]).index(2)] == pytest.approx(float(embedding[0] @ embedding[0]), rel=1e-4)
    with pytest.raises(ValueError, match="entry 0 is empty"):
        index.add([""])


def test_save_and_load_give_identical_results(tmp_path):
    encoder = tiny_encoder()
    texts = ["python graph", "web server", "sound video", "math science"]
    for backend, options in (("exact", {}), ("ivf", {"nlist": 2, "nprobe": 2})):
        index = LabelIndex.build(encoder, texts, backend=backend, **options)
        index.save_pretrained(tmp_path / backend)
        loaded = LabelIndex.from_pretrained(tmp_path / backend, encoder=encoder)
        assert loaded.backend == backend and loaded.texts == texts
        queries = encoder.encode(["graph data", "server for web"])
        for a, b in zip(index.search(queries, 3), loaded.search(queries, 3)):
            np.testing.assert_array_equal(a, b)
    reindexed = LabelIndex.from_pretrained(tmp_path / "exact", backend="hnsw")
    assert reindexed.backend == "hnsw" and len(reindexed) == 4


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="backend"):
        LabelIndex(np.ones((2, 2)), backend="annoy")
    with pytest.raises(ValueError, match="shape"):
        LabelIndex(np.ones((2, 2))).search(np.ones((1, 3)), k=1)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        LabelIndex(np.ones((2, 2))).search(np.ones((1, 2)), k=0)
    with pytest.raises(ValueError, match="has no encoder"):
        LabelIndex(np.ones((2, 2))).add(["x"])


def test_search_output_feeds_compute_xmc_metrics_directly():
    labels = np.eye(3, dtype=np.float32)
    queries = np.array([[1.0, 0.2, 0.0], [0.0, 0.1, 1.0]], dtype=np.float32)
    ids, _ = LabelIndex(labels).search(queries, k=2)
    metrics = compute_xmc_metrics(ids, [[0], [1]], k=(1, 2), num_labels=3)
    assert metrics["P@1"] == pytest.approx(0.5) and metrics["R@2"] == pytest.approx(1.0)


def test_seen_and_unseen_labels_are_reported_apart():
    # labels 0-3 seen in training, 4-5 unseen; document 0 has a seen and an unseen label, document 1 only seen ones
    labels = np.eye(6, dtype=np.float32)
    queries = np.array([[0.9, 0, 0, 0, 0.1, 0.5], [0, 1.0, 0.8, 0, 0, 0]], dtype=np.float32)
    references = [[0, 4], [1, 3]]
    index = LabelIndex(labels)
    metrics = evaluate_label_retrieval(
        queries, index, references, k=(1, 2), label_subsets={"seen": [0, 1, 2, 3], "unseen": [4, 5]}
    )
    assert metrics["P@1"] == pytest.approx(1.0)  # overall: both top-1 are relevant
    assert metrics["unseen/num_documents"] == 1 and metrics["unseen/num_labels"] == 2
    # restricted to unseen labels, document 0 ranks 5 (0.5) above its label 4 (0.1)
    assert metrics["unseen/P@1"] == pytest.approx(0.0) and metrics["unseen/R@2"] == pytest.approx(1.0)
    assert metrics["seen/num_documents"] == 2 and metrics["seen/P@1"] == pytest.approx(1.0)
    empty = subset_metrics(queries, index, [[0], [1]], [4, 5])
    assert empty == {"num_documents": 0.0, "num_labels": 2.0}


def test_popularity_baseline_ranks_by_training_count_and_excludes():
    ids = popularity_ranking([5, 9, 1, 7], num_documents=2, k=2, exclude=[[], [1]])
    assert ids.tolist() == [[1, 3], [3, 0]]
